#!/usr/bin/env bash
# End to end on a real cluster (kind), for users who have Docker, kind and kubectl. Not run in
# CI (no control plane can be installed there): the fake-API tests in tests/controller cover
# the same paths.
#
#   OPENAI_API_KEY=sk-... scripts/e2e-kind.sh          # or ANTHROPIC_API_KEY with MODEL=anthropic:...
#
# It creates the kind cluster `podium-e2e` (KEEP=1 keeps it), builds Podium's images and loads
# them into it, installs Podium with `kubectl apply -k deploy/`, then applies
# examples/cluster/agentrun.yaml (a kubectl skill allowed to read pods in its namespace) and
# waits until the AgentRun is Succeeded, printing its status, events and the skill's grants.
#
# Environment: CLUSTER (default podium-e2e), NAMESPACE (default podium-e2e), MODEL (default
# openai:gpt-4.1-mini), OPENAI_BASE_URL (an OpenAI-compatible endpoint the cluster can reach),
# TIMEOUT (default 600s), KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-podium-e2e}
NS=${NAMESPACE:-podium-e2e}
MODEL=${MODEL:-openai:gpt-4.1-mini}
TIMEOUT=${TIMEOUT:-600s}
log() { printf '[e2e-kind] %s\n' "$*" >&2; }
for tool in docker kind kubectl; do
    command -v "$tool" >/dev/null || { log "error: $tool is not installed"; exit 2; }
done
KEY_ENV=OPENAI_API_KEY
[[ $MODEL == anthropic:* ]] && KEY_ENV=ANTHROPIC_API_KEY
[[ -n ${!KEY_ENV:-} ]] || { log "error: set $KEY_ENV (the run's model key)"; exit 2; }

cleanup() { [[ ${KEEP:-} == 1 ]] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }
trap cleanup EXIT

kind get clusters 2>/dev/null | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER" >/dev/null

IMAGE_PREFIX=podium/ scripts/build-images.sh agent workspace kubectl controller
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
for image in agent workspace kubectl controller; do
    kind load docker-image --name "$CLUSTER" "podium/$image:$VERSION"
done

kubectl apply -k deploy/
kubectl -n podium-system rollout status deployment/podium-controller --timeout 180s

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" create secret generic openai --from-literal=api-key="${!KEY_ENV}" \
    --dry-run=client -o yaml | kubectl apply -f -
run=$(mktemp)
python3 - "$MODEL" "$KEY_ENV" "${OPENAI_BASE_URL:-}" >"$run" <<'PY'
import sys, json
import pathlib
model, key_env, base = sys.argv[1:]
text = pathlib.Path("examples/cluster/agentrun.yaml").read_text()
doc = text.replace("name: openai:gpt-4.1-mini", f"name: {model}")
if key_env != "OPENAI_API_KEY":
    doc = doc.replace("apiKeySecretRef: {name: openai, key: api-key}",
                      f"apiKeySecretRef: {{name: openai, key: api-key}}\n    apiKeyEnv: {key_env}")
if base:
    doc = doc.replace("apiKeySecretRef:", f"baseURL: {json.dumps(base)}\n    apiKeySecretRef:", 1)
print(doc)
PY
kubectl -n "$NS" delete agentrun triage-pods --ignore-not-found
kubectl -n "$NS" apply -f "$run"
log "waiting for agentrun/triage-pods to succeed (timeout $TIMEOUT)"
status=0
kubectl -n "$NS" wait agentrun/triage-pods --for=jsonpath='{.status.phase}'=Succeeded \
    --timeout "$TIMEOUT" || status=1
kubectl -n "$NS" get agentruns
kubectl -n "$NS" describe agentrun triage-pods
kubectl -n "$NS" get serviceaccounts,roles,rolebindings -l podium.dev/run=triage-pods
kubectl -n "$NS" get agentrun triage-pods -o jsonpath='{.status.output}{"\n"}'
exit "$status"
