"""Kubernetes resource quantities ("500m", "256Mi"), checked and converted."""

from __future__ import annotations

import math
import re


class RenderError(ValueError):
    """The run spec cannot become a Pod (a skill without an image, a bad quantity...)."""


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


def parse_memory(text: str) -> int:
    """A Kubernetes memory quantity ("256Mi", "1G", "1048576") in bytes."""
    match = _QUANTITY.match(text.strip())
    if not match or match.group(2) == "m":
        raise RenderError(f"bad memory quantity {text!r}: use e.g. 256Mi, 1Gi or 500M")
    unit = match.group(2) or ""
    factor = _BINARY.get(unit) or _DECIMAL[unit]
    return math.ceil(float(match.group(1)) * factor)


def parse_cpu(text: str) -> float:
    """A Kubernetes CPU quantity ("500m", "2", "0.5") in CPUs."""
    match = _QUANTITY.match(text.strip())
    if not match or (match.group(2) or "m") != "m":
        raise RenderError(f"bad CPU quantity {text!r}: use e.g. 500m, 1 or 2.5")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "m" else value
