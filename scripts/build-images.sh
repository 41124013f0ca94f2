#!/usr/bin/env bash
# Build Podium's container images: the agent, the skill base, and one image per built-in skill
# whose code is in this tree (workspace, memory, mcp-bridge).
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
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(agent skill-base workspace memory mcp-bridge)
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

dockerfile() { [[ $1 == agent ]] && echo Dockerfile.agent || echo "images/$1/Dockerfile"; }
present() {   # a skill's image is built only when its code is in this tree
    case $1 in
        memory) [[ -f skills/memory/__init__.py ]] ;;
        mcp-bridge) [[ -f mcp_bridge/__init__.py ]] ;;
        *) return 0 ;;
    esac
}

wanted=("$@")
((${#wanted[@]})) || wanted=("${ALL[@]}")
for name in "${wanted[@]}"; do
    [[ " ${ALL[*]} " == *" $name "* ]] || { log "error: unknown image $name (known: ${ALL[*]})"; exit 2; }
    # Skill images build FROM the skill base: (re)build it too (cached layers make that quick).
    [[ $name == agent || " ${wanted[*]} " == *" skill-base "* ]] || wanted+=(skill-base)
done

secret=()
if [[ -n $BUILD_CA && -s $BUILD_CA ]]; then
    secret=(--secret "id=ca,src=$BUILD_CA")
fi
source_url=${SOURCE_URL:-$(git remote get-url origin 2>/dev/null || true)}
mkdir -p "$LOGS"
built=()
for name in "${ALL[@]}"; do
    [[ " ${wanted[*]} " == *" $name "* ]] || continue
    if ! present "$name"; then
        log "skip $name: its code is not in this tree yet"
        continue
    fi
    base=$BASE_IMAGE
    case $name in agent|skill-base) ;; *) base=${PREFIX}skill-base:$VERSION ;; esac
    tag=${PREFIX}$name:$VERSION
    log "building $tag (base $base)"
    start=$SECONDS
    if ! "$DOCKER" build --progress=plain -f "$(dockerfile "$name")" -t "$tag" \
        --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$VERSION" \
        --build-arg "SOURCE_URL=$source_url" "${secret[@]}" . >"$LOGS/$name.log" 2>&1; then
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
