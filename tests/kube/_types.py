"""What the fake API's parts share: its error type (answered as a Kubernetes Status) and the
change records watches are fed from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.kube._resources import Resource


class ApiError(Exception):
    """A failure the API answers with a Kubernetes Status body."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class Change:
    """One watch event: what a resource's object was before and after."""

    rv: int
    group: str
    plural: str
    type: str
    old: dict[str, Any] | None
    new: dict[str, Any]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def what(res: Resource, name: str) -> str:
    plural = f"{res.plural}.{res.group}" if res.group else res.plural
    return f'{plural} "{name}"'


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f"{what(res, name)} not found",
        name=name,
        group=res.group,
        kind=res.plural,
    )


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {what(res, name)}: the "
        "object has been modified; please apply your changes to the latest version "
        "and try again",
        name=name,
        group=res.group,
        kind=res.plural,
    )
