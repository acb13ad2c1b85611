"""Writes one standalone JSON schema per Kubernetes kind from the API's OpenAPI v2 document (swagger.json), in the
layout kubeconform reads with -schema-location (<version>-standalone-strict/<kind>-<group>-<version>.json), so that
our manifests are checked without the network.

Strict, as kubeconform's -strict expects: an object with declared properties accepts no others, so a misspelt
field fails. Usage: openapi_to_jsonschema.py SWAGGER_JSON OUT_DIR
"""

import json
import pathlib
import sys

#: Types the API accepts in two forms, which the OpenAPI document writes as one.
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


def inline(node, definitions, stack):
    """The schema with every $ref replaced by its definition; a definition met again inside itself (only custom
    resource schemas recurse) becomes an open schema."""
    if isinstance(node, list):
        return [inline(n, definitions, stack) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if ref is not None:
        name = ref.removeprefix("#/definitions/")
        if name in SPECIAL:
            return SPECIAL[name]
        if name in stack:
            return {}
        return inline(definitions[name], definitions, stack | {name})
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {k: inline(v, definitions, stack) for k, v in value.items()}
        else:
            out[key] = inline(value, definitions, stack)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.get("format") == "int-or-string":
        return SPECIAL["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    return out


def main(swagger: str, out_dir: str) -> None:
    definitions = json.loads(pathlib.Path(swagger).read_text())["definitions"]
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group = gvk["group"].split(".")[0]
            suffix = f"-{group}-{gvk['version']}" if group else f"-{gvk['version']}"
            schema = inline(definition, definitions, {name})
            schema["$schema"] = "http://json-schema.org/schema#"
            (out / f"{gvk['kind'].lower()}{suffix}.json").write_text(json.dumps(schema))
            written += 1
    print(f"{written} schemas in {out}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
