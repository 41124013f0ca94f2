"""The TypeScript example skill on its own: tsc --checkJs passes, its node test passes, and
the scaffold's copy of its generic server is the same file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.skill_check.conftest import ROOT, TS_SKILL, need_node

TEMPLATES = ROOT / "skills" / "scaffold" / "templates" / "typescript"


def npm_bin(name: str) -> str:
    return str(TS_SKILL / "node_modules" / ".bin" / name)


def test_typescript_checks_the_sources() -> None:
    need_node()
    out = subprocess.run(
        [npm_bin("tsc"), "-p", str(TS_SKILL)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.timeout(120)
def test_its_own_node_test_passes() -> None:
    need_node()
    out = subprocess.run(
        ["node", "--test", "test/"], cwd=TS_SKILL, capture_output=True, text=True, timeout=110
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "# pass 1" in out.stdout


@pytest.mark.parametrize("name", ["server.js", "tsconfig.json"])
def test_the_scaffold_ships_the_same_server(name: str) -> None:
    assert (TEMPLATES / f"{name}.tmpl").read_text() == (TS_SKILL / name).read_text()


def test_the_scaffold_lock_is_the_example_lock() -> None:
    example = (TS_SKILL / "package-lock.json").read_text()
    template = (TEMPLATES / "package-lock.json.tmpl").read_text()
    assert template == example.replace('"name": "podium-typescript-skill"', '"name": "__NAME__"')
    assert Path(TS_SKILL / "package-lock.json").exists()
