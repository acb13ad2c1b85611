#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/k8s against the Kubernetes API's own schemas, offline: kubeconform
# (installed with go install), in strict mode (an unknown or misspelt field fails), with schemas made from the
# OpenAPI document of the Kubernetes release's Go module (go mod download; no cluster, no schema download at run
# time). Then checks that the check can fail: a manifest with a misspelt field must be refused.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
k8s_version=1.34.4
kubeconform_version=v0.8.0

if ! command -v go >/dev/null; then
  echo "check-manifests: needs Go to install kubeconform and fetch the Kubernetes API schemas (.ci/run installs it)" >&2
  exit 2
fi
kubeconform="$(go env GOPATH)/bin/kubeconform"
if [ ! -x "$kubeconform" ]; then
  (cd /tmp && GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$kubeconform_version")
fi
schemas="$root/target/k8s-schemas/v$k8s_version-standalone-strict"
if [ ! -f "$schemas/deployment-apps-v1.json" ]; then
  module=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$k8s_version" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  python3 "$root/tools/k8s/openapi_to_jsonschema.py" "$module/api/openapi-spec/swagger.json" "$schemas"
fi

check() {
  "$kubeconform" -strict -summary -kubernetes-version "$k8s_version" \
    -schema-location "$root/target/k8s-schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$@"
}

check "$root"/deploy/k8s/*.yaml
if check "$root/testdata/k8s/misspelt-field.yaml" >/dev/null 2>&1; then
  echo "check-manifests: a manifest with a misspelt field passed: the check checks nothing" >&2
  exit 1
fi
echo "check-manifests: deploy/k8s valid against Kubernetes $k8s_version; a misspelt field is refused"
