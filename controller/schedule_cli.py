"""`podium schedule next FILE [-n N]`: the next fire times of an AgentSchedule, for review.

Each tick is shown in the schedule's time zone and in UTC; a tick where the zone's UTC
offset changed since the one before (a daylight-saving change) is marked, and so is the
second pass through a repeated hour. Exit status 2 for a file or schedule that cannot be
used (one line, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, cast

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium schedule", description="Look at AgentSchedules without a cluster."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    nxt = commands.add_parser(
        "next", help="print the next fire times in the schedule's time zone and in UTC"
    )
    nxt.add_argument("file", type=Path, help="AgentSchedule YAML (more documents are fine)")
    nxt.add_argument("-n", type=int, default=5, metavar="N", help="how many (default 5)")
    nxt.add_argument("--after", metavar="TIME", help="start from this ISO 8601 time instead of now")
    nxt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _fail(message: str) -> int:
    print(f"podium schedule: {message}", file=sys.stderr)
    return 2


def _load(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not YAML: {str(exc).splitlines()[0]}") from exc
    found = [
        cast(dict[str, Any], d)
        for d in docs
        if isinstance(d, dict) and cast(dict[str, Any], d).get("kind") == "AgentSchedule"
    ]
    if not found:
        raise ValueError(f"{path} holds no `kind: AgentSchedule`")
    return found


def _short(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{where}: {err['msg']}{more}"
    return str(exc)


def _offset(t: datetime) -> str:
    off = t.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _rows(ticks: list[datetime], zone: Any, after: datetime) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    previous = after.astimezone(zone)
    for tick in ticks:
        local = tick.astimezone(zone)
        note = ""
        if local.utcoffset() != previous.utcoffset():
            note = f"UTC offset {_offset(previous)} -> {_offset(local)} (daylight saving)"
        elif local.fold:
            note = "repeated hour, second pass"
        rows.append(
            {
                "local": f"{local:%a %Y-%m-%d %H:%M} {local.tzname()} ({_offset(local)})",
                "utc": f"{tick:%Y-%m-%d %H:%M}Z",
                "iso": tick.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "localIso": local.isoformat(),
                "note": note,
            }
        )
        previous = local
    return rows


def _print(name: str, schedule: str, zone: str, rows: list[dict[str, str]], out: TextIO) -> None:
    out.write(f"{name}: {schedule!r} in {zone}\n")
    width = max([len(zone), *(len(r["local"]) for r in rows)])
    out.write(f"  {'#':>3}  {zone:<{width}}  UTC\n")
    for i, row in enumerate(rows, 1):
        line = f"  {i:>3}  {row['local']:<{width}}  {row['utc']:<17}"
        out.write((line + "  " + row["note"]).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pydantic import ValidationError

    from controller.crd.agentschedule import AgentSchedule
    from controller.schedule import Cron, ScheduleError, parse_time

    if args.n < 1:
        return _fail("-n must be at least 1")
    if args.after:
        after = parse_time(args.after)
        if after is None:
            return _fail(f"--after {args.after!r} is not an ISO 8601 time")
    else:
        after = datetime.now(UTC)
    try:
        docs = _load(args.file)
        schedules = [AgentSchedule.model_validate(d) for d in docs]
        crons = [Cron.parse(s.spec.schedule, s.spec.timeZone) for s in schedules]
    except (ValueError, ValidationError, ScheduleError) as exc:
        return _fail(_short(exc))
    report: list[dict[str, Any]] = []
    for schedule, cron in zip(schedules, crons, strict=True):
        zone = str(cron.zone)
        rows = _rows(cron.upcoming(after, args.n), cron.zone, after)
        name = schedule.name or args.file.name
        if args.json:
            report.append(
                {"name": name, "schedule": schedule.spec.schedule, "timeZone": zone, "next": rows}
            )
        else:
            _print(name, schedule.spec.schedule, zone, rows, sys.stdout)
            if schedule.spec.suspend:
                sys.stdout.write("  (suspended: no run starts until spec.suspend is false)\n")
    if args.json:
        json.dump(report if len(report) > 1 else report[0], sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
