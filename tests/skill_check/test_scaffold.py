"""`podium skill new`: each scaffold is generated, then its own test and `podium skill check`
run on it, as a skill author would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skills.scaffold import create
from tests.skill_check.conftest import PODIUM, TS_SKILL, check, need_node


def new(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PODIUM, "skill", "new", *args], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )


@pytest.mark.timeout(120)
def test_python_scaffold_passes_its_test_and_the_check(tmp_path: Path) -> None:
    out = new(tmp_path, "word-tools")
    assert out.returncode == 0, out.stderr
    project = tmp_path / "word-tools"
    assert sorted(p.name for p in project.iterdir()) == [
        "Dockerfile", "README.md", "skill.py", "test_skill.py",
    ]  # fmt: skip
    assert "FROM ${BASE_IMAGE}" in (project / "Dockerfile").read_text()
    assert "podium/skill-base:" in (project / "Dockerfile").read_text()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_skill.py"],
        cwd=project, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "2 passed" in tests.stdout


@pytest.mark.timeout(120)
def test_typescript_scaffold_passes_its_test_and_the_check(tmp_path: Path) -> None:
    need_node()
    out = new(tmp_path, "text-kit", "--lang", "typescript", "--dir", "tk")
    assert out.returncode == 0, out.stderr
    project = tmp_path / "tk"
    for name in ("package.json", "package-lock.json", "server.js", "tools.js", "skill.proto",
                 "Dockerfile", ".dockerignore", "README.md", "test/skill.test.js"):  # fmt: skip
        assert (project / name).is_file(), name
    assert json.loads((project / "package.json").read_text())["name"] == "text-kit"
    assert "ARG BASE_IMAGE=node:" in (project / "Dockerfile").read_text()
    # Its lock file is the example's (a test says so), so the example's packages fit it.
    (project / "node_modules").symlink_to(TS_SKILL / "node_modules")
    tests = subprocess.run(
        ["node", "--test", "test/"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    checked = check("--json", "--command", "node", str(project / "server.js"))
    assert checked.code == 0, checked.stdout
    assert checked.report["skill"] == "text-kit"
    assert "tool text_kit_count_words" in [f["check"] for f in checked.report["findings"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name"], "must be lowercase letters"),
        (["ok-name", "--lang", "rust"], "invalid choice: 'rust'"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    out = new(tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    out = new(tmp_path, "taken")
    assert out.returncode == 2 and "already exists" in out.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert create("fresh", "python", tmp_path / "fresh")  # an empty or missing folder is fine
