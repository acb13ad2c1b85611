from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MetricKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_KIND_UNSPECIFIED: _ClassVar[MetricKind]
    LOGIT_DIFF: _ClassVar[MetricKind]
    LOG_PROB: _ClassVar[MetricKind]
    PROB: _ClassVar[MetricKind]
    KL_DIVERGENCE: _ClassVar[MetricKind]

class NodeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_KIND_UNSPECIFIED: _ClassVar[NodeKind]
    QUERY: _ClassVar[NodeKind]
    KEY: _ClassVar[NodeKind]
    VALUE: _ClassVar[NodeKind]
    HEAD_OUTPUT: _ClassVar[NodeKind]
    NEURON: _ClassVar[NodeKind]
    ATTN_OUT: _ClassVar[NodeKind]
    MLP_OUT: _ClassVar[NodeKind]
    RESIDUAL: _ClassVar[NodeKind]

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    ACTIVATION_PATCHING: _ClassVar[Method]
    ATP: _ClassVar[Method]
    ATP_QK: _ClassVar[Method]
    ATP_STAR: _ClassVar[Method]
    ITERATIVE: _ClassVar[Method]
    SUBSAMPLING: _ClassVar[Method]
    BLOCKS: _ClassVar[Method]
    HIERARCHICAL: _ClassVar[Method]

class ValueEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUES_REPEATED: _ClassVar[ValueEncoding]
    FLOAT32_LE: _ClassVar[ValueEncoding]
    FLOAT64_LE: _ClassVar[ValueEncoding]

class FeatureMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_METHOD_UNSPECIFIED: _ClassVar[FeatureMethod]
    FEATURE_ATP: _ClassVar[FeatureMethod]
    FEATURE_ATP_STAR: _ClassVar[FeatureMethod]
    FEATURE_IG: _ClassVar[FeatureMethod]

class EdgeMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EDGE_METHOD_UNSPECIFIED: _ClassVar[EdgeMethod]
    EXACT_EDGE_PATCHING: _ClassVar[EdgeMethod]
    EAP: _ClassVar[EdgeMethod]
    EAP_IG: _ClassVar[EdgeMethod]
    EDGE_ATP_STAR: _ClassVar[EdgeMethod]

class WriterKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WRITER_KIND_UNSPECIFIED: _ClassVar[WriterKind]
    WRITER_EMBED: _ClassVar[WriterKind]
    WRITER_HEAD: _ClassVar[WriterKind]
    WRITER_MLP: _ClassVar[WriterKind]

class ReaderKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    READER_KIND_UNSPECIFIED: _ClassVar[ReaderKind]
    READER_QUERY: _ClassVar[ReaderKind]
    READER_KEY: _ClassVar[ReaderKind]
    READER_VALUE: _ClassVar[ReaderKind]
    READER_MLP: _ClassVar[ReaderKind]
    READER_LOGITS: _ClassVar[ReaderKind]

class Ablation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ABLATION_UNSPECIFIED: _ClassVar[Ablation]
    RESAMPLE: _ClassVar[Ablation]
    MEAN: _ClassVar[Ablation]
    ZERO: _ClassVar[Ablation]
    NOISE_PROMPT: _ClassVar[Ablation]

class DiscoverySearch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISCOVERY_SEARCH_UNSPECIFIED: _ClassVar[DiscoverySearch]
    GREEDY: _ClassVar[DiscoverySearch]
    ACDC: _ClassVar[DiscoverySearch]

class InterventionOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERVENTION_OP_UNSPECIFIED: _ClassVar[InterventionOp]
    OP_ADD: _ClassVar[InterventionOp]
    OP_SET: _ClassVar[InterventionOp]
    OP_SCALE: _ClassVar[InterventionOp]
    OP_ZERO: _ClassVar[InterventionOp]
    OP_PATCH: _ClassVar[InterventionOp]
    OP_MEAN: _ClassVar[InterventionOp]
    OP_RESAMPLE: _ClassVar[InterventionOp]

class InterventionPositions(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POSITIONS_ALL: _ClassVar[InterventionPositions]
    POSITIONS_PROMPT: _ClassVar[InterventionPositions]
    POSITIONS_GENERATED: _ClassVar[InterventionPositions]
    POSITIONS_GIVEN: _ClassVar[InterventionPositions]

class SteeringReading(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    READING_LAST_TOKEN: _ClassVar[SteeringReading]
    READING_MEAN_OVER_POSITIONS: _ClassVar[SteeringReading]
METRIC_KIND_UNSPECIFIED: MetricKind
LOGIT_DIFF: MetricKind
LOG_PROB: MetricKind
PROB: MetricKind
KL_DIVERGENCE: MetricKind
NODE_KIND_UNSPECIFIED: NodeKind
QUERY: NodeKind
KEY: NodeKind
VALUE: NodeKind
HEAD_OUTPUT: NodeKind
NEURON: NodeKind
ATTN_OUT: NodeKind
MLP_OUT: NodeKind
RESIDUAL: NodeKind
METHOD_UNSPECIFIED: Method
ACTIVATION_PATCHING: Method
ATP: Method
ATP_QK: Method
ATP_STAR: Method
ITERATIVE: Method
SUBSAMPLING: Method
BLOCKS: Method
HIERARCHICAL: Method
VALUES_REPEATED: ValueEncoding
FLOAT32_LE: ValueEncoding
FLOAT64_LE: ValueEncoding
FEATURE_METHOD_UNSPECIFIED: FeatureMethod
FEATURE_ATP: FeatureMethod
FEATURE_ATP_STAR: FeatureMethod
FEATURE_IG: FeatureMethod
EDGE_METHOD_UNSPECIFIED: EdgeMethod
EXACT_EDGE_PATCHING: EdgeMethod
EAP: EdgeMethod
EAP_IG: EdgeMethod
EDGE_ATP_STAR: EdgeMethod
WRITER_KIND_UNSPECIFIED: WriterKind
WRITER_EMBED: WriterKind
WRITER_HEAD: WriterKind
WRITER_MLP: WriterKind
READER_KIND_UNSPECIFIED: ReaderKind
READER_QUERY: ReaderKind
READER_KEY: ReaderKind
READER_VALUE: ReaderKind
READER_MLP: ReaderKind
READER_LOGITS: ReaderKind
ABLATION_UNSPECIFIED: Ablation
RESAMPLE: Ablation
MEAN: Ablation
ZERO: Ablation
NOISE_PROMPT: Ablation
DISCOVERY_SEARCH_UNSPECIFIED: DiscoverySearch
GREEDY: DiscoverySearch
ACDC: DiscoverySearch
INTERVENTION_OP_UNSPECIFIED: InterventionOp
OP_ADD: InterventionOp
OP_SET: InterventionOp
OP_SCALE: InterventionOp
OP_ZERO: InterventionOp
OP_PATCH: InterventionOp
OP_MEAN: InterventionOp
OP_RESAMPLE: InterventionOp
POSITIONS_ALL: InterventionPositions
POSITIONS_PROMPT: InterventionPositions
POSITIONS_GENERATED: InterventionPositions
POSITIONS_GIVEN: InterventionPositions
READING_LAST_TOKEN: SteeringReading
READING_MEAN_OVER_POSITIONS: SteeringReading

class MetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("calls_by_status", "models", "resident_bytes", "uptime_seconds")
    class CallsByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CALLS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    calls_by_status: _containers.ScalarMap[str, int]
    models: _containers.RepeatedCompositeFieldContainer[ModelMetrics]
    resident_bytes: int
    uptime_seconds: float
    def __init__(self, calls_by_status: _Optional[_Mapping[str, int]] = ..., models: _Optional[_Iterable[_Union[ModelMetrics, _Mapping]]] = ..., resident_bytes: _Optional[int] = ..., uptime_seconds: _Optional[float] = ...) -> None: ...

class ModelMetrics(_message.Message):
    __slots__ = ("model", "open_requests", "batches", "shared_batches", "passes", "cache_hits", "cache_misses", "cache_bytes", "cache_entries", "memory_budget_bytes")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OPEN_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    SHARED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CACHE_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    model: str
    open_requests: int
    batches: int
    shared_batches: int
    passes: int
    cache_hits: int
    cache_misses: int
    cache_bytes: int
    cache_entries: int
    memory_budget_bytes: int
    def __init__(self, model: _Optional[str] = ..., open_requests: _Optional[int] = ..., batches: _Optional[int] = ..., shared_batches: _Optional[int] = ..., passes: _Optional[int] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., cache_bytes: _Optional[int] = ..., cache_entries: _Optional[int] = ..., memory_budget_bytes: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "architecture", "n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_mlp", "vocab_size", "max_positions", "hook_sites", "dtype", "device", "end_of_text", "dictionaries")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    N_LAYERS_FIELD_NUMBER: _ClassVar[int]
    N_HEADS_FIELD_NUMBER: _ClassVar[int]
    N_KV_HEADS_FIELD_NUMBER: _ClassVar[int]
    D_MODEL_FIELD_NUMBER: _ClassVar[int]
    D_HEAD_FIELD_NUMBER: _ClassVar[int]
    D_MLP_FIELD_NUMBER: _ClassVar[int]
    VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    HOOK_SITES_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    END_OF_TEXT_FIELD_NUMBER: _ClassVar[int]
    DICTIONARIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    architecture: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    vocab_size: int
    max_positions: int
    hook_sites: _containers.RepeatedScalarFieldContainer[str]
    dtype: str
    device: str
    end_of_text: _containers.RepeatedScalarFieldContainer[int]
    dictionaries: _containers.RepeatedCompositeFieldContainer[DictionaryInfo]
    def __init__(self, name: _Optional[str] = ..., architecture: _Optional[str] = ..., n_layers: _Optional[int] = ..., n_heads: _Optional[int] = ..., n_kv_heads: _Optional[int] = ..., d_model: _Optional[int] = ..., d_head: _Optional[int] = ..., d_mlp: _Optional[int] = ..., vocab_size: _Optional[int] = ..., max_positions: _Optional[int] = ..., hook_sites: _Optional[_Iterable[str]] = ..., dtype: _Optional[str] = ..., device: _Optional[str] = ..., end_of_text: _Optional[_Iterable[int]] = ..., dictionaries: _Optional[_Iterable[_Union[DictionaryInfo, _Mapping]]] = ...) -> None: ...

class DictionaryInfo(_message.Message):
    __slots__ = ("name", "site", "input_site", "width", "activation", "k")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SITE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    input_site: str
    width: int
    activation: str
    k: int
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., input_site: _Optional[str] = ..., width: _Optional[int] = ..., activation: _Optional[str] = ..., k: _Optional[int] = ...) -> None: ...

class TokenizeRequest(_message.Message):
    __slots__ = ("model", "text", "allow_unknown_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    allow_unknown_tokens: bool
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., allow_unknown_tokens: _Optional[bool] = ...) -> None: ...

class TokenizeResponse(_message.Message):
    __slots__ = ("ids", "tokens")
    IDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class Prompt(_message.Message):
    __slots__ = ("text", "ids")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    text: str
    ids: TokenIds
    def __init__(self, text: _Optional[str] = ..., ids: _Optional[_Union[TokenIds, _Mapping]] = ...) -> None: ...

class TokenIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("text", "id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    id: int
    def __init__(self, text: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class PromptPair(_message.Message):
    __slots__ = ("clean", "noise", "answers", "wrongs", "position")
    CLEAN_FIELD_NUMBER: _ClassVar[int]
    NOISE_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    WRONGS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    clean: Prompt
    noise: Prompt
    answers: _containers.RepeatedCompositeFieldContainer[Token]
    wrongs: _containers.RepeatedCompositeFieldContainer[Token]
    position: int
    def __init__(self, clean: _Optional[_Union[Prompt, _Mapping]] = ..., noise: _Optional[_Union[Prompt, _Mapping]] = ..., answers: _Optional[_Iterable[_Union[Token, _Mapping]]] = ..., wrongs: _Optional[_Iterable[_Union[Token, _Mapping]]] = ..., position: _Optional[int] = ...) -> None: ...

class NodeSet(_message.Message):
    __slots__ = ("kinds", "layers", "per_position", "positions")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    PER_POSITION_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[NodeKind]
    layers: _containers.RepeatedScalarFieldContainer[int]
    per_position: bool
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, kinds: _Optional[_Iterable[_Union[NodeKind, str]]] = ..., layers: _Optional[_Iterable[int]] = ..., per_position: _Optional[bool] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class BaselineOptions(_message.Message):
    __slots__ = ("seed", "samples", "inclusion_probability", "block_size", "branching", "max_group_patches")
    SEED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    BRANCHING_FIELD_NUMBER: _ClassVar[int]
    MAX_GROUP_PATCHES_FIELD_NUMBER: _ClassVar[int]
    seed: int
    samples: int
    inclusion_probability: float
    block_size: int
    branching: int
    max_group_patches: int
    def __init__(self, seed: _Optional[int] = ..., samples: _Optional[int] = ..., inclusion_probability: _Optional[float] = ..., block_size: _Optional[int] = ..., branching: _Optional[int] = ..., max_group_patches: _Optional[int] = ...) -> None: ...

class AttributeRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "nodes", "method", "verify_top_k", "baseline", "diagnostic", "verify_budget", "allow_unknown_tokens", "recompute_layers", "packed_values")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TOP_K_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    VERIFY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTE_LAYERS_FIELD_NUMBER: _ClassVar[int]
    PACKED_VALUES_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    nodes: NodeSet
    method: Method
    verify_top_k: int
    baseline: BaselineOptions
    diagnostic: DiagnosticOptions
    verify_budget: float
    allow_unknown_tokens: bool
    recompute_layers: bool
    packed_values: bool
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., nodes: _Optional[_Union[NodeSet, _Mapping]] = ..., method: _Optional[_Union[Method, str]] = ..., verify_top_k: _Optional[int] = ..., baseline: _Optional[_Union[BaselineOptions, _Mapping]] = ..., diagnostic: _Optional[_Union[DiagnosticOptions, _Mapping]] = ..., verify_budget: _Optional[float] = ..., allow_unknown_tokens: _Optional[bool] = ..., recompute_layers: _Optional[bool] = ..., packed_values: _Optional[bool] = ...) -> None: ...

class DiagnosticOptions(_message.Message):
    __slots__ = ("enabled", "samples", "inclusion_probability", "alpha", "threshold", "seed")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    samples: int
    inclusion_probability: float
    alpha: float
    threshold: float
    seed: int
    def __init__(self, enabled: _Optional[bool] = ..., samples: _Optional[int] = ..., inclusion_probability: _Optional[float] = ..., alpha: _Optional[float] = ..., threshold: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class NodeBound(_message.Message):
    __slots__ = ("node", "difference", "standard_error", "upper_bound", "miss_probability")
    NODE_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    MISS_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    node: Node
    difference: float
    standard_error: float
    upper_bound: float
    miss_probability: float
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., difference: _Optional[float] = ..., standard_error: _Optional[float] = ..., upper_bound: _Optional[float] = ..., miss_probability: _Optional[float] = ...) -> None: ...

class Diagnostic(_message.Message):
    __slots__ = ("nodes", "max_upper_bound", "threshold", "alpha", "flagged", "expected_missed", "forward_passes")
    NODES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MISSED_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASSES_FIELD_NUMBER: _ClassVar[int]
    nodes: int
    max_upper_bound: float
    threshold: float
    alpha: float
    flagged: _containers.RepeatedCompositeFieldContainer[NodeBound]
    expected_missed: float
    forward_passes: float
    def __init__(self, nodes: _Optional[int] = ..., max_upper_bound: _Optional[float] = ..., threshold: _Optional[float] = ..., alpha: _Optional[float] = ..., flagged: _Optional[_Iterable[_Union[NodeBound, _Mapping]]] = ..., expected_missed: _Optional[float] = ..., forward_passes: _Optional[float] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("kind", "layer", "unit", "position", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: NodeKind
    layer: int
    unit: int
    position: int
    name: str
    def __init__(self, kind: _Optional[_Union[NodeKind, str]] = ..., layer: _Optional[int] = ..., unit: _Optional[int] = ..., position: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class EffectBlock(_message.Message):
    __slots__ = ("kind", "layer", "positions", "units", "shape", "values", "packed", "encoding")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    kind: NodeKind
    layer: int
    positions: _containers.RepeatedScalarFieldContainer[int]
    units: int
    shape: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    packed: bytes
    encoding: ValueEncoding
    def __init__(self, kind: _Optional[_Union[NodeKind, str]] = ..., layer: _Optional[int] = ..., positions: _Optional[_Iterable[int]] = ..., units: _Optional[int] = ..., shape: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., packed: _Optional[bytes] = ..., encoding: _Optional[_Union[ValueEncoding, str]] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ("request_id", "node_count", "planned_forward_passes", "method", "metric", "count_unit", "variant")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLANNED_FORWARD_PASSES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COUNT_UNIT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    node_count: int
    planned_forward_passes: float
    method: str
    metric: str
    count_unit: str
    variant: str
    def __init__(self, request_id: _Optional[str] = ..., node_count: _Optional[int] = ..., planned_forward_passes: _Optional[float] = ..., method: _Optional[str] = ..., metric: _Optional[str] = ..., count_unit: _Optional[str] = ..., variant: _Optional[str] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "done", "total")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    stage: str
    done: int
    total: int
    def __init__(self, stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class VerifiedNode(_message.Message):
    __slots__ = ("rank", "node", "estimate", "effect")
    RANK_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    rank: int
    node: Node
    estimate: float
    effect: float
    def __init__(self, rank: _Optional[int] = ..., node: _Optional[_Union[Node, _Mapping]] = ..., estimate: _Optional[float] = ..., effect: _Optional[float] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("method", "metric", "pairs", "clean_metric", "noise_metric", "forward_passes", "compute_forward_equivalents", "wall_seconds", "cache_hits", "cache_misses", "shared_batches", "magnitudes")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    CLEAN_METRIC_FIELD_NUMBER: _ClassVar[int]
    NOISE_METRIC_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASSES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FORWARD_EQUIVALENTS_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    SHARED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    MAGNITUDES_FIELD_NUMBER: _ClassVar[int]
    method: str
    metric: str
    pairs: int
    clean_metric: float
    noise_metric: float
    forward_passes: float
    compute_forward_equivalents: float
    wall_seconds: float
    cache_hits: int
    cache_misses: int
    shared_batches: int
    magnitudes: bool
    def __init__(self, method: _Optional[str] = ..., metric: _Optional[str] = ..., pairs: _Optional[int] = ..., clean_metric: _Optional[float] = ..., noise_metric: _Optional[float] = ..., forward_passes: _Optional[float] = ..., compute_forward_equivalents: _Optional[float] = ..., wall_seconds: _Optional[float] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., shared_batches: _Optional[int] = ..., magnitudes: _Optional[bool] = ...) -> None: ...

class AttributeEvent(_message.Message):
    __slots__ = ("accepted", "progress", "block", "verified", "summary", "diagnostic")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    progress: Progress
    block: EffectBlock
    verified: VerifiedNode
    summary: Summary
    diagnostic: Diagnostic
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., block: _Optional[_Union[EffectBlock, _Mapping]] = ..., verified: _Optional[_Union[VerifiedNode, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., diagnostic: _Optional[_Union[Diagnostic, _Mapping]] = ...) -> None: ...

class AttributeFeaturesRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "dictionaries", "method", "verify_top_k", "diagnostic", "allow_unknown_tokens", "ig_steps", "edge_nodes", "verify_edges")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DICTIONARIES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TOP_K_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    IG_STEPS_FIELD_NUMBER: _ClassVar[int]
    EDGE_NODES_FIELD_NUMBER: _ClassVar[int]
    VERIFY_EDGES_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    dictionaries: _containers.RepeatedScalarFieldContainer[str]
    method: FeatureMethod
    verify_top_k: int
    diagnostic: DiagnosticOptions
    allow_unknown_tokens: bool
    ig_steps: int
    edge_nodes: int
    verify_edges: int
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., dictionaries: _Optional[_Iterable[str]] = ..., method: _Optional[_Union[FeatureMethod, str]] = ..., verify_top_k: _Optional[int] = ..., diagnostic: _Optional[_Union[DiagnosticOptions, _Mapping]] = ..., allow_unknown_tokens: _Optional[bool] = ..., ig_steps: _Optional[int] = ..., edge_nodes: _Optional[int] = ..., verify_edges: _Optional[int] = ...) -> None: ...

class FeatureEdge(_message.Message):
    __slots__ = ("to", "estimate", "verified", "effect", "name")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    to: FeatureNode
    estimate: float
    verified: bool
    effect: float
    name: str
    def __init__(self, to: _Optional[_Union[FeatureNode, _Mapping]] = ..., estimate: _Optional[float] = ..., verified: _Optional[bool] = ..., effect: _Optional[float] = ..., name: _Optional[str] = ..., **kwargs) -> None: ...

class FeatureEdgeBlock(_message.Message):
    __slots__ = ("pair", "upstream", "downstream", "downstream_nodes", "edges")
    PAIR_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    pair: int
    upstream: str
    downstream: str
    downstream_nodes: _containers.RepeatedCompositeFieldContainer[FeatureNode]
    edges: _containers.RepeatedCompositeFieldContainer[FeatureEdge]
    def __init__(self, pair: _Optional[int] = ..., upstream: _Optional[str] = ..., downstream: _Optional[str] = ..., downstream_nodes: _Optional[_Iterable[_Union[FeatureNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[FeatureEdge, _Mapping]]] = ...) -> None: ...

class FeatureNode(_message.Message):
    __slots__ = ("layer", "site", "feature", "position", "name")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    layer: int
    site: str
    feature: int
    position: int
    name: str
    def __init__(self, layer: _Optional[int] = ..., site: _Optional[str] = ..., feature: _Optional[int] = ..., position: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class FeatureBlock(_message.Message):
    __slots__ = ("pair", "dictionary", "layer", "site", "positions", "features", "estimates", "errors")
    PAIR_FIELD_NUMBER: _ClassVar[int]
    DICTIONARY_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    pair: int
    dictionary: str
    layer: int
    site: str
    positions: _containers.RepeatedScalarFieldContainer[int]
    features: _containers.RepeatedScalarFieldContainer[int]
    estimates: _containers.RepeatedScalarFieldContainer[float]
    errors: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, pair: _Optional[int] = ..., dictionary: _Optional[str] = ..., layer: _Optional[int] = ..., site: _Optional[str] = ..., positions: _Optional[_Iterable[int]] = ..., features: _Optional[_Iterable[int]] = ..., estimates: _Optional[_Iterable[float]] = ..., errors: _Optional[_Iterable[float]] = ...) -> None: ...

class VerifiedFeature(_message.Message):
    __slots__ = ("rank", "dictionary", "node", "estimate", "effect")
    RANK_FIELD_NUMBER: _ClassVar[int]
    DICTIONARY_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    rank: int
    dictionary: str
    node: FeatureNode
    estimate: float
    effect: float
    def __init__(self, rank: _Optional[int] = ..., dictionary: _Optional[str] = ..., node: _Optional[_Union[FeatureNode, _Mapping]] = ..., estimate: _Optional[float] = ..., effect: _Optional[float] = ...) -> None: ...

class FeatureBound(_message.Message):
    __slots__ = ("node", "difference", "standard_error", "upper_bound", "miss_probability")
    NODE_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    MISS_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    node: FeatureNode
    difference: float
    standard_error: float
    upper_bound: float
    miss_probability: float
    def __init__(self, node: _Optional[_Union[FeatureNode, _Mapping]] = ..., difference: _Optional[float] = ..., standard_error: _Optional[float] = ..., upper_bound: _Optional[float] = ..., miss_probability: _Optional[float] = ...) -> None: ...

class FeatureDiagnostic(_message.Message):
    __slots__ = ("dictionary", "nodes", "max_upper_bound", "threshold", "alpha", "flagged", "expected_missed", "forward_passes")
    DICTIONARY_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MISSED_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASSES_FIELD_NUMBER: _ClassVar[int]
    dictionary: str
    nodes: int
    max_upper_bound: float
    threshold: float
    alpha: float
    flagged: _containers.RepeatedCompositeFieldContainer[FeatureBound]
    expected_missed: float
    forward_passes: float
    def __init__(self, dictionary: _Optional[str] = ..., nodes: _Optional[int] = ..., max_upper_bound: _Optional[float] = ..., threshold: _Optional[float] = ..., alpha: _Optional[float] = ..., flagged: _Optional[_Iterable[_Union[FeatureBound, _Mapping]]] = ..., expected_missed: _Optional[float] = ..., forward_passes: _Optional[float] = ...) -> None: ...

class AttributeFeaturesEvent(_message.Message):
    __slots__ = ("accepted", "progress", "block", "verified", "diagnostic", "summary", "edges")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    progress: Progress
    block: FeatureBlock
    verified: VerifiedFeature
    diagnostic: FeatureDiagnostic
    summary: Summary
    edges: FeatureEdgeBlock
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., block: _Optional[_Union[FeatureBlock, _Mapping]] = ..., verified: _Optional[_Union[VerifiedFeature, _Mapping]] = ..., diagnostic: _Optional[_Union[FeatureDiagnostic, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., edges: _Optional[_Union[FeatureEdgeBlock, _Mapping]] = ...) -> None: ...

class AttributeEdgesRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "method", "per_position", "ig_steps", "verify_top_k", "verify_budget", "diagnostic", "allow_unknown_tokens", "packed_values", "recompute_layers")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PER_POSITION_FIELD_NUMBER: _ClassVar[int]
    IG_STEPS_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TOP_K_FIELD_NUMBER: _ClassVar[int]
    VERIFY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PACKED_VALUES_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTE_LAYERS_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    method: EdgeMethod
    per_position: bool
    ig_steps: int
    verify_top_k: int
    verify_budget: float
    diagnostic: DiagnosticOptions
    allow_unknown_tokens: bool
    packed_values: bool
    recompute_layers: bool
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., method: _Optional[_Union[EdgeMethod, str]] = ..., per_position: _Optional[bool] = ..., ig_steps: _Optional[int] = ..., verify_top_k: _Optional[int] = ..., verify_budget: _Optional[float] = ..., diagnostic: _Optional[_Union[DiagnosticOptions, _Mapping]] = ..., allow_unknown_tokens: _Optional[bool] = ..., packed_values: _Optional[bool] = ..., recompute_layers: _Optional[bool] = ...) -> None: ...

class Edge(_message.Message):
    __slots__ = ("writer_kind", "writer_layer", "writer_unit", "reader_kind", "reader_layer", "reader_unit", "position", "name")
    WRITER_KIND_FIELD_NUMBER: _ClassVar[int]
    WRITER_LAYER_FIELD_NUMBER: _ClassVar[int]
    WRITER_UNIT_FIELD_NUMBER: _ClassVar[int]
    READER_KIND_FIELD_NUMBER: _ClassVar[int]
    READER_LAYER_FIELD_NUMBER: _ClassVar[int]
    READER_UNIT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    writer_kind: WriterKind
    writer_layer: int
    writer_unit: int
    reader_kind: ReaderKind
    reader_layer: int
    reader_unit: int
    position: int
    name: str
    def __init__(self, writer_kind: _Optional[_Union[WriterKind, str]] = ..., writer_layer: _Optional[int] = ..., writer_unit: _Optional[int] = ..., reader_kind: _Optional[_Union[ReaderKind, str]] = ..., reader_layer: _Optional[int] = ..., reader_unit: _Optional[int] = ..., position: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class EdgeBlock(_message.Message):
    __slots__ = ("reader_kind", "reader_layer", "readers", "writers", "positions", "shape", "values", "heads_per_layer", "packed", "encoding")
    READER_KIND_FIELD_NUMBER: _ClassVar[int]
    READER_LAYER_FIELD_NUMBER: _ClassVar[int]
    READERS_FIELD_NUMBER: _ClassVar[int]
    WRITERS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    HEADS_PER_LAYER_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    reader_kind: ReaderKind
    reader_layer: int
    readers: int
    writers: int
    positions: _containers.RepeatedScalarFieldContainer[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    heads_per_layer: int
    packed: bytes
    encoding: ValueEncoding
    def __init__(self, reader_kind: _Optional[_Union[ReaderKind, str]] = ..., reader_layer: _Optional[int] = ..., readers: _Optional[int] = ..., writers: _Optional[int] = ..., positions: _Optional[_Iterable[int]] = ..., shape: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., heads_per_layer: _Optional[int] = ..., packed: _Optional[bytes] = ..., encoding: _Optional[_Union[ValueEncoding, str]] = ...) -> None: ...

class VerifiedEdge(_message.Message):
    __slots__ = ("rank", "edge", "estimate", "effect")
    RANK_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    rank: int
    edge: Edge
    estimate: float
    effect: float
    def __init__(self, rank: _Optional[int] = ..., edge: _Optional[_Union[Edge, _Mapping]] = ..., estimate: _Optional[float] = ..., effect: _Optional[float] = ...) -> None: ...

class EdgeBound(_message.Message):
    __slots__ = ("edge", "difference", "standard_error", "upper_bound", "miss_probability")
    EDGE_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    MISS_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    edge: Edge
    difference: float
    standard_error: float
    upper_bound: float
    miss_probability: float
    def __init__(self, edge: _Optional[_Union[Edge, _Mapping]] = ..., difference: _Optional[float] = ..., standard_error: _Optional[float] = ..., upper_bound: _Optional[float] = ..., miss_probability: _Optional[float] = ...) -> None: ...

class EdgeDiagnostic(_message.Message):
    __slots__ = ("edges", "max_upper_bound", "threshold", "alpha", "flagged", "expected_missed", "forward_passes")
    EDGES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MISSED_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASSES_FIELD_NUMBER: _ClassVar[int]
    edges: int
    max_upper_bound: float
    threshold: float
    alpha: float
    flagged: _containers.RepeatedCompositeFieldContainer[EdgeBound]
    expected_missed: float
    forward_passes: float
    def __init__(self, edges: _Optional[int] = ..., max_upper_bound: _Optional[float] = ..., threshold: _Optional[float] = ..., alpha: _Optional[float] = ..., flagged: _Optional[_Iterable[_Union[EdgeBound, _Mapping]]] = ..., expected_missed: _Optional[float] = ..., forward_passes: _Optional[float] = ...) -> None: ...

class AttributeEdgesEvent(_message.Message):
    __slots__ = ("accepted", "progress", "block", "verified", "summary", "diagnostic")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    progress: Progress
    block: EdgeBlock
    verified: VerifiedEdge
    summary: Summary
    diagnostic: EdgeDiagnostic
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., block: _Optional[_Union[EdgeBlock, _Mapping]] = ..., verified: _Optional[_Union[VerifiedEdge, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., diagnostic: _Optional[_Union[EdgeDiagnostic, _Mapping]] = ...) -> None: ...

class EdgeCircuit(_message.Message):
    __slots__ = ("name", "edges")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    edges: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., edges: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateCircuitRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "ablation", "seed", "circuits", "ranking", "sizes", "ig_steps", "allow_unknown_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ABLATION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    IG_STEPS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    ablation: Ablation
    seed: int
    circuits: _containers.RepeatedCompositeFieldContainer[EdgeCircuit]
    ranking: EdgeMethod
    sizes: _containers.RepeatedScalarFieldContainer[int]
    ig_steps: int
    allow_unknown_tokens: bool
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., ablation: _Optional[_Union[Ablation, str]] = ..., seed: _Optional[int] = ..., circuits: _Optional[_Iterable[_Union[EdgeCircuit, _Mapping]]] = ..., ranking: _Optional[_Union[EdgeMethod, str]] = ..., sizes: _Optional[_Iterable[int]] = ..., ig_steps: _Optional[int] = ..., allow_unknown_tokens: _Optional[bool] = ...) -> None: ...

class CircuitPoint(_message.Message):
    __slots__ = ("name", "size", "faithfulness", "low", "high", "per_pair")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    PER_PAIR_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    faithfulness: float
    low: float
    high: float
    per_pair: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., faithfulness: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., per_pair: _Optional[_Iterable[float]] = ...) -> None: ...

class CircuitEvent(_message.Message):
    __slots__ = ("accepted", "progress", "point", "summary")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    progress: Progress
    point: CircuitPoint
    summary: Summary
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., point: _Optional[_Union[CircuitPoint, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class DiscoverCircuitRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "ablation", "seed", "search", "ranking", "target", "threshold", "ig_steps", "allow_unknown_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ABLATION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    IG_STEPS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    ablation: Ablation
    seed: int
    search: DiscoverySearch
    ranking: EdgeMethod
    target: float
    threshold: float
    ig_steps: int
    allow_unknown_tokens: bool
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., ablation: _Optional[_Union[Ablation, str]] = ..., seed: _Optional[int] = ..., search: _Optional[_Union[DiscoverySearch, str]] = ..., ranking: _Optional[_Union[EdgeMethod, str]] = ..., target: _Optional[float] = ..., threshold: _Optional[float] = ..., ig_steps: _Optional[int] = ..., allow_unknown_tokens: _Optional[bool] = ...) -> None: ...

class DiscoveryStep(_message.Message):
    __slots__ = ("stage", "edge", "size", "faithfulness", "kept")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    stage: str
    edge: str
    size: int
    faithfulness: float
    kept: bool
    def __init__(self, stage: _Optional[str] = ..., edge: _Optional[str] = ..., size: _Optional[int] = ..., faithfulness: _Optional[float] = ..., kept: _Optional[bool] = ...) -> None: ...

class FoundCircuit(_message.Message):
    __slots__ = ("edges", "faithfulness", "forward_passes")
    EDGES_FIELD_NUMBER: _ClassVar[int]
    FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    FORWARD_PASSES_FIELD_NUMBER: _ClassVar[int]
    edges: _containers.RepeatedScalarFieldContainer[str]
    faithfulness: float
    forward_passes: float
    def __init__(self, edges: _Optional[_Iterable[str]] = ..., faithfulness: _Optional[float] = ..., forward_passes: _Optional[float] = ...) -> None: ...

class DiscoveryEvent(_message.Message):
    __slots__ = ("accepted", "progress", "step", "circuit", "summary")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    progress: Progress
    step: DiscoveryStep
    circuit: FoundCircuit
    summary: Summary
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., step: _Optional[_Union[DiscoveryStep, _Mapping]] = ..., circuit: _Optional[_Union[FoundCircuit, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class ScrubClaim(_message.Message):
    __slots__ = ("part", "labels")
    PART_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    part: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, part: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ...) -> None: ...

class ScrubRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "claims", "samples", "seed", "allow_unknown_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    claims: _containers.RepeatedCompositeFieldContainer[ScrubClaim]
    samples: int
    seed: int
    allow_unknown_tokens: bool
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., claims: _Optional[_Iterable[_Union[ScrubClaim, _Mapping]]] = ..., samples: _Optional[int] = ..., seed: _Optional[int] = ..., allow_unknown_tokens: _Optional[bool] = ...) -> None: ...

class ScrubSample(_message.Message):
    __slots__ = ("index", "pair", "original", "scrubbed", "resampled")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PAIR_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    RESAMPLED_FIELD_NUMBER: _ClassVar[int]
    index: int
    pair: int
    original: float
    scrubbed: float
    resampled: float
    def __init__(self, index: _Optional[int] = ..., pair: _Optional[int] = ..., original: _Optional[float] = ..., scrubbed: _Optional[float] = ..., resampled: _Optional[float] = ...) -> None: ...

class ScrubResult(_message.Message):
    __slots__ = ("recovered", "low", "high", "original", "scrubbed", "resampled", "runs_per_sample", "edges")
    RECOVERED_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    RESAMPLED_FIELD_NUMBER: _ClassVar[int]
    RUNS_PER_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    recovered: float
    low: float
    high: float
    original: float
    scrubbed: float
    resampled: float
    runs_per_sample: int
    edges: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, recovered: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., original: _Optional[float] = ..., scrubbed: _Optional[float] = ..., resampled: _Optional[float] = ..., runs_per_sample: _Optional[int] = ..., edges: _Optional[_Iterable[str]] = ...) -> None: ...

class ScrubEvent(_message.Message):
    __slots__ = ("accepted", "progress", "sample", "result", "summary")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    progress: Progress
    sample: ScrubSample
    result: ScrubResult
    summary: Summary
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., sample: _Optional[_Union[ScrubSample, _Mapping]] = ..., result: _Optional[_Union[ScrubResult, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class Intervention(_message.Message):
    __slots__ = ("site", "op", "units", "where", "positions", "value", "coefficient", "vector", "source", "sources")
    SITE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    site: str
    op: InterventionOp
    units: _containers.RepeatedScalarFieldContainer[int]
    where: InterventionPositions
    positions: _containers.RepeatedScalarFieldContainer[int]
    value: _containers.RepeatedScalarFieldContainer[float]
    coefficient: float
    vector: str
    source: Prompt
    sources: _containers.RepeatedCompositeFieldContainer[Prompt]
    def __init__(self, site: _Optional[str] = ..., op: _Optional[_Union[InterventionOp, str]] = ..., units: _Optional[_Iterable[int]] = ..., where: _Optional[_Union[InterventionPositions, str]] = ..., positions: _Optional[_Iterable[int]] = ..., value: _Optional[_Iterable[float]] = ..., coefficient: _Optional[float] = ..., vector: _Optional[str] = ..., source: _Optional[_Union[Prompt, _Mapping]] = ..., sources: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ...) -> None: ...

class ContrastPair(_message.Message):
    __slots__ = ("positive", "negative")
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    positive: Prompt
    negative: Prompt
    def __init__(self, positive: _Optional[_Union[Prompt, _Mapping]] = ..., negative: _Optional[_Union[Prompt, _Mapping]] = ...) -> None: ...

class SteeringVectorRequest(_message.Message):
    __slots__ = ("model", "site", "pairs", "reading", "name", "allow_unknown_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    READING_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    site: str
    pairs: _containers.RepeatedCompositeFieldContainer[ContrastPair]
    reading: SteeringReading
    name: str
    allow_unknown_tokens: bool
    def __init__(self, model: _Optional[str] = ..., site: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[ContrastPair, _Mapping]]] = ..., reading: _Optional[_Union[SteeringReading, str]] = ..., name: _Optional[str] = ..., allow_unknown_tokens: _Optional[bool] = ...) -> None: ...

class SteeringVectorResponse(_message.Message):
    __slots__ = ("name", "site", "values", "norm")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    values: _containers.RepeatedScalarFieldContainer[float]
    norm: float
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ..., norm: _Optional[float] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("model", "prompts", "max_new_tokens", "stop", "temperature", "top_k", "top_p", "seed", "interventions", "top_alternatives", "allow_unknown_tokens", "watch", "ignore_eos")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INTERVENTIONS_FIELD_NUMBER: _ClassVar[int]
    TOP_ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    IGNORE_EOS_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    max_new_tokens: int
    stop: _containers.RepeatedCompositeFieldContainer[Token]
    temperature: float
    top_k: int
    top_p: float
    seed: int
    interventions: _containers.RepeatedCompositeFieldContainer[Intervention]
    top_alternatives: int
    allow_unknown_tokens: bool
    watch: _containers.RepeatedCompositeFieldContainer[Token]
    ignore_eos: bool
    def __init__(self, model: _Optional[str] = ..., prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ..., max_new_tokens: _Optional[int] = ..., stop: _Optional[_Iterable[_Union[Token, _Mapping]]] = ..., temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ..., interventions: _Optional[_Iterable[_Union[Intervention, _Mapping]]] = ..., top_alternatives: _Optional[int] = ..., allow_unknown_tokens: _Optional[bool] = ..., watch: _Optional[_Iterable[_Union[Token, _Mapping]]] = ..., ignore_eos: _Optional[bool] = ...) -> None: ...

class TokenChoice(_message.Message):
    __slots__ = ("id", "text", "log_prob")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOG_PROB_FIELD_NUMBER: _ClassVar[int]
    id: int
    text: str
    log_prob: float
    def __init__(self, id: _Optional[int] = ..., text: _Optional[str] = ..., log_prob: _Optional[float] = ...) -> None: ...

class GeneratedToken(_message.Message):
    __slots__ = ("prompt", "step", "id", "text", "log_prob", "alternatives", "watched")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOG_PROB_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FIELD_NUMBER: _ClassVar[int]
    prompt: int
    step: int
    id: int
    text: str
    log_prob: float
    alternatives: _containers.RepeatedCompositeFieldContainer[TokenChoice]
    watched: _containers.RepeatedCompositeFieldContainer[TokenChoice]
    def __init__(self, prompt: _Optional[int] = ..., step: _Optional[int] = ..., id: _Optional[int] = ..., text: _Optional[str] = ..., log_prob: _Optional[float] = ..., alternatives: _Optional[_Iterable[_Union[TokenChoice, _Mapping]]] = ..., watched: _Optional[_Iterable[_Union[TokenChoice, _Mapping]]] = ...) -> None: ...

class Continuation(_message.Message):
    __slots__ = ("prompt", "ids", "text", "stopped_by")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_BY_FIELD_NUMBER: _ClassVar[int]
    prompt: int
    ids: _containers.RepeatedScalarFieldContainer[int]
    text: str
    stopped_by: str
    def __init__(self, prompt: _Optional[int] = ..., ids: _Optional[_Iterable[int]] = ..., text: _Optional[str] = ..., stopped_by: _Optional[str] = ...) -> None: ...

class GenerateEvent(_message.Message):
    __slots__ = ("accepted", "token", "continuation", "summary")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    token: GeneratedToken
    continuation: Continuation
    summary: Summary
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., token: _Optional[_Union[GeneratedToken, _Mapping]] = ..., continuation: _Optional[_Union[Continuation, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class NodeGroup(_message.Message):
    __slots__ = ("name", "nodes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    name: str
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, name: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class PatchRequest(_message.Message):
    __slots__ = ("model", "pairs", "metric", "groups", "allow_unknown_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_UNKNOWN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: MetricKind
    groups: _containers.RepeatedCompositeFieldContainer[NodeGroup]
    allow_unknown_tokens: bool
    def __init__(self, model: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[MetricKind, str]] = ..., groups: _Optional[_Iterable[_Union[NodeGroup, _Mapping]]] = ..., allow_unknown_tokens: _Optional[bool] = ...) -> None: ...

class PatchResult(_message.Message):
    __slots__ = ("group", "effect", "per_pair")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    PER_PAIR_FIELD_NUMBER: _ClassVar[int]
    group: str
    effect: float
    per_pair: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, group: _Optional[str] = ..., effect: _Optional[float] = ..., per_pair: _Optional[_Iterable[float]] = ...) -> None: ...

class PatchEvent(_message.Message):
    __slots__ = ("accepted", "result", "summary")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    accepted: Accepted
    result: PatchResult
    summary: Summary
    def __init__(self, accepted: _Optional[_Union[Accepted, _Mapping]] = ..., result: _Optional[_Union[PatchResult, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class SweepRequest(_message.Message):
    __slots__ = ("job_id", "job", "attribute_edges", "evaluate_circuit", "discover_circuit", "scrub", "generate", "patch", "attribute_features")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_EDGES_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job: AttributeRequest
    attribute_edges: AttributeEdgesRequest
    evaluate_circuit: EvaluateCircuitRequest
    discover_circuit: DiscoverCircuitRequest
    scrub: ScrubRequest
    generate: GenerateRequest
    patch: PatchRequest
    attribute_features: AttributeFeaturesRequest
    def __init__(self, job_id: _Optional[str] = ..., job: _Optional[_Union[AttributeRequest, _Mapping]] = ..., attribute_edges: _Optional[_Union[AttributeEdgesRequest, _Mapping]] = ..., evaluate_circuit: _Optional[_Union[EvaluateCircuitRequest, _Mapping]] = ..., discover_circuit: _Optional[_Union[DiscoverCircuitRequest, _Mapping]] = ..., scrub: _Optional[_Union[ScrubRequest, _Mapping]] = ..., generate: _Optional[_Union[GenerateRequest, _Mapping]] = ..., patch: _Optional[_Union[PatchRequest, _Mapping]] = ..., attribute_features: _Optional[_Union[AttributeFeaturesRequest, _Mapping]] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SweepEvent(_message.Message):
    __slots__ = ("job_id", "attribute", "error", "attribute_edges", "evaluate_circuit", "discover_circuit", "scrub", "generate", "patch", "attribute_features")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_EDGES_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    SCRUB_FIELD_NUMBER: _ClassVar[int]
    GENERATE_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    attribute: AttributeEvent
    error: JobError
    attribute_edges: AttributeEdgesEvent
    evaluate_circuit: CircuitEvent
    discover_circuit: DiscoveryEvent
    scrub: ScrubEvent
    generate: GenerateEvent
    patch: PatchEvent
    attribute_features: AttributeFeaturesEvent
    def __init__(self, job_id: _Optional[str] = ..., attribute: _Optional[_Union[AttributeEvent, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., attribute_edges: _Optional[_Union[AttributeEdgesEvent, _Mapping]] = ..., evaluate_circuit: _Optional[_Union[CircuitEvent, _Mapping]] = ..., discover_circuit: _Optional[_Union[DiscoveryEvent, _Mapping]] = ..., scrub: _Optional[_Union[ScrubEvent, _Mapping]] = ..., generate: _Optional[_Union[GenerateEvent, _Mapping]] = ..., patch: _Optional[_Union[PatchEvent, _Mapping]] = ..., attribute_features: _Optional[_Union[AttributeFeaturesEvent, _Mapping]] = ...) -> None: ...
