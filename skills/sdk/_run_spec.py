"""The run spec a skill serves, as the launcher wrote it (`run.json`; in a Pod, the run's
ConfigMap mounted read-only): the task, the model, the limits, the policy, the skills.

Plain JSON on purpose: the SDK does not import Podium's runtime, and a skill in another
language reads the same file the same way (its path is in `PODIUM_RUN_SPEC`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

RUN_SPEC_ENV = "PODIUM_RUN_SPEC"

_cache: dict[tuple[str, int], dict[str, Any]] = {}


class RunSpecError(ValueError):
    """PODIUM_RUN_SPEC names a file that cannot be read as a JSON object."""


def run_spec(path: Path | str | None = None) -> dict[str, Any]:
    """The run spec as a JSON object: from `path`, else the file `PODIUM_RUN_SPEC` names;
    `{}` when neither is given (a skill served on its own, outside a run)."""
    where = path if path is not None else os.environ.get(RUN_SPEC_ENV)
    if not where:
        return {}
    file = Path(where)
    try:
        key = (str(file), file.stat().st_mtime_ns)
        if key not in _cache:
            value = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(value, dict):
                raise RunSpecError(f"run spec {file} is not a JSON object")
            _cache.clear()
            _cache[key] = cast(dict[str, Any], value)
    except (OSError, json.JSONDecodeError) as exc:
        raise RunSpecError(f"cannot read the run spec {file}: {exc}") from exc
    return _cache[key]
