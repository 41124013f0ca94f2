"""The committed gRPC stubs match skill.proto (regenerate with `python -m protos._generate`)."""

from __future__ import annotations

from pathlib import Path

from protos._generate import ROOT, generate


def test_generated_stubs_are_current(tmp_path: Path) -> None:
    for fresh in generate(tmp_path):
        committed = ROOT / "protos" / fresh.name
        assert committed.read_text() == fresh.read_text(), (
            f"protos/{fresh.name} is stale: run `python -m protos._generate`"
        )
