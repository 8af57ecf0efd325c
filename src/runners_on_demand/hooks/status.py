"""`rod hooks status`: per hook to the dispatcher, its recent deliveries and failures.

GitHub never retries a failed delivery by itself
(https://docs.github.com/webhooks/using-webhooks/handling-failed-webhook-deliveries); a
`workflow_job` delivery the dispatcher never acknowledged (no 2xx for its GUID among the
deliveries read) can be redelivered, within the 3 days GitHub allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners_on_demand.observed import timestamp

__all__ = ["REDELIVERY_WINDOW", "HookStatus", "summarize"]

# "You can only redeliver deliveries that were delivered in the past 3 days."
REDELIVERY_WINDOW = 3 * 86_400.0


@dataclass(frozen=True)
class HookStatus:
    """One hook's recent deliveries, as read (newest first)."""

    target: str
    hook_id: int
    read: int
    ok: int
    failed: int
    last: Mapping[str, Any] | None
    last_failure: Mapping[str, Any] | None
    unacknowledged: tuple[Mapping[str, Any], ...]  # newest failed try of each GUID never 2xx

    def lines(self) -> list[str]:
        """For people: one line, plus the last failure."""
        head = f"{self.target} hook {self.hook_id}: "
        if self.last is None:
            return [head + "no deliveries yet"]
        lines = [
            head + f"{self.read} deliveries read, {self.ok} OK, {self.failed} failed; "
            f"last {_describe(self.last)}"
        ]
        if self.last_failure is not None:
            lines.append(f"  last failure {_describe(self.last_failure)}")
        if self.unacknowledged:
            lines.append(f"  {len(self.unacknowledged)} never acknowledged (--redeliver-failed)")
        return lines


def _ok(delivery: Mapping[str, Any]) -> bool:
    code = delivery.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


def _describe(delivery: Mapping[str, Any]) -> str:
    event = delivery.get("event", "?")
    action = f"/{delivery['action']}" if delivery.get("action") else ""
    return (
        f"{delivery.get('delivered_at', '?')} {event}{action}: {delivery.get('status_code')} "
        f"{delivery.get('status', '')}".rstrip()
    )


def summarize(
    target: str, hook_id: int, deliveries: Sequence[Mapping[str, Any]], *, now: float
) -> HookStatus:
    """What the deliveries (newest first) say about one hook. Pure."""
    acknowledged = {d.get("guid") for d in deliveries if _ok(d)}
    failures = [d for d in deliveries if not _ok(d) and d.get("status") != "pending"]
    unacknowledged: dict[Any, Mapping[str, Any]] = {}
    for delivery in failures:
        when = timestamp(delivery.get("delivered_at"))
        recent = when is not None and now - when < REDELIVERY_WINDOW
        guid = delivery.get("guid")
        if delivery.get("event") == "workflow_job" and guid not in acknowledged and recent:
            unacknowledged.setdefault(guid, delivery)  # the newest try of that event
    return HookStatus(
        target=target,
        hook_id=hook_id,
        read=len(deliveries),
        ok=sum(_ok(d) for d in deliveries),
        failed=len(failures),
        last=deliveries[0] if deliveries else None,
        last_failure=failures[0] if failures else None,
        unacknowledged=tuple(unacknowledged.values()),
    )
