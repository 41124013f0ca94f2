"""`podium schedule next FILE [-n N]`: fire times in the schedule's zone and in UTC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.schedule_cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster" / "agentschedule.yaml"


def test_example_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", str(EXAMPLE), "-n", "3", "--after", "2026-03-27T12:00:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "nightly-sweep: '30 2 * * *' in Europe/Berlin"
    assert "Sat 2026-03-28 02:30 CET (+01:00)" in lines[2] and "2026-03-28 01:30Z" in lines[2]
    # 02:30 does not exist that night: the run starts at 03:00 CEST, 01:00 UTC.
    assert "Sun 2026-03-29 03:00 CEST (+02:00)" in lines[3] and "2026-03-29 01:00Z" in lines[3]
    assert "UTC offset +01:00 -> +02:00" in lines[3]
    assert "Mon 2026-03-30 02:30 CEST (+02:00)" in lines[4] and "daylight" not in lines[4]
    assert len(lines) == 5


def test_repeated_hour_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = EXAMPLE.read_text().replace('"30 2 * * *"', '"*/30 2 * * *"')
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert main(["next", str(path), "-n", "4", "--after", "2026-10-24T23:00:00Z", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["timeZone"] == "Europe/Berlin"
    assert [t["iso"] for t in data["next"]] == [
        "2026-10-25T00:00:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:00:00Z",
        "2026-10-25T01:30:00Z",
    ]
    assert [t["localIso"][11:16] for t in data["next"]] == ["02:00", "02:30", "02:00", "02:30"]
    assert data["next"][3]["note"] == "repeated hour, second pass"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("Europe/Berlin", "Mars/Base"), "unknown time zone 'Mars/Base'"),
        (('"30 2 * * *"', '"30 2 * *"'), "has 4 fields"),
        (("concurrencyPolicy: Forbid", "concurrencyPolicy: Never"), "spec.concurrencyPolicy"),
        (("kind: AgentSchedule", "kind: AgentRun"), "holds no `kind: AgentSchedule`"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(EXAMPLE.read_text().replace(*edit))
    proc = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "schedule", "next", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_script_from_now() -> None:
    podium = Path(sys.executable).with_name("podium")
    proc = subprocess.run(
        [str(podium), "schedule", "next", str(EXAMPLE), "-n", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 4 and "Z" in proc.stdout.splitlines()[2]
