"""Regenerate the Python stubs for skill.proto and control.proto: `python -m protos._generate`.

Needs the `dev` extra (grpcio-tools, mypy-protobuf). A test runs `generate()` into a
temporary directory and fails when the committed stubs differ.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ("skill", "control")
OUTPUTS = tuple(
    f"{p}{suffix}"
    for p in PROTOS
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
)


def generate(out_dir: Path) -> list[Path]:
    """Write the generated stubs under `out_dir/protos/` and return their paths."""
    from grpc_tools import protoc  # pyright: ignore[reportMissingTypeStubs]

    bin_dir = Path(sys.executable).parent
    (out_dir / "protos").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        *(str(ROOT / "protos" / f"{p}.proto") for p in PROTOS),
    ]
    if protoc.main(args) != 0:  # pyright: ignore[reportUnknownMemberType]
        raise RuntimeError("protoc failed")
    return [out_dir / "protos" / name for name in OUTPUTS]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            shutil.copy(path, ROOT / "protos" / path.name)
            print(f"wrote protos/{path.name}")
