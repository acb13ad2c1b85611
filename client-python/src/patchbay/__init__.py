"""Python client for Patchbay, a gRPC backend that localizes language-model behaviour to components."""
from patchbay.client import (
                             AsyncClient,
                             Attribution,
                             CircuitRun,
                             Client,
                             DiscoveryRun,
                             EdgeAttribution,
                             FeatureAttribution,
                             GenerationRun,
                             PatchbayError,
                             ScrubRun,
                             Tokens,
                             load_run,
)
from patchbay.edges import CircuitPoint, EdgeBlock, EdgeDiagnostic, VerifiedEdge
from patchbay.events import Accepted, Diagnostic, Effects, Progress, Summary, Verified
from patchbay.features import FeatureBlock, FeatureDiagnostic, FeatureEdgeBlock, VerifiedFeature
from patchbay.generate import Continuation, GeneratedToken, node_interventions
from patchbay.names import edge_name, feature_name, node_name, parse_edge, parse_feature, parse_node
from patchbay.replicas import Replicas, SweepStats
from patchbay.requests import Pair
from patchbay.runs import NodeInfo
from patchbay.scrub import ScrubResult, ScrubSample

__all__ = ["AsyncClient", "Attribution", "Client", "PatchbayError", "Tokens", "Pair", "Accepted", "Effects",
           "Progress", "Summary", "Verified", "Diagnostic", "node_name", "parse_node", "load_run", "NodeInfo",
           "EdgeAttribution", "EdgeBlock", "VerifiedEdge", "EdgeDiagnostic", "edge_name", "parse_edge", "CircuitRun",
           "CircuitPoint", "DiscoveryRun", "ScrubRun", "ScrubSample", "ScrubResult",
           "GenerationRun", "GeneratedToken", "Continuation", "node_interventions", "Replicas", "SweepStats",
           "FeatureAttribution", "FeatureBlock", "VerifiedFeature", "FeatureDiagnostic", "FeatureEdgeBlock",
           "feature_name",
           "parse_feature"]
__version__ = "0.1.0"
