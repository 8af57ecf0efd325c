"""What each scenario did over HTTP, written down for the living documentation (simulator/livedoc).

Recorded, not reconstructed. At the end of a scenario the recorder reads the emulators' request
logs (`GET /_sim/requests?control=true`: every API request with its User-Agent, times and status,
plus the harness's control-plane actions), GitHub's deliveries log (`GET /_sim/state`: each
webhook POST to `rod serve`) and the `Tape` of calls the harness made to `rod serve`, which no
emulator sees. behave's step hooks mark when each step began and ended. The run's secrets are
masked here, before anything is written, and `close()` checks that none reached the file.

The file (JSON lines, build/acceptance/livedoc.jsonl) has one `run` record, then `scenario` and
`feature` records as they end; simulator/livedoc/model.py reads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from simulator.harness.backend_base import Endpoints
from simulator.livedoc.redact import redact, redact_path, redact_query

# How long the end of a scenario may wait for its runners to go, so its diagram shows them leave.
TAIL_SECONDS = 10.0
TAIL_POLL = 0.1


@dataclass
class Tape:
    """Calls the harness made to `rod serve` (a forged webhook, /readyz, /metrics)."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def record(self, response: httpx.Response, detail: str = "") -> httpx.Response:
        """Note one answered call; returns the response so callers can wrap their call in this."""
        ended = time.time()
        request = response.request
        self.calls.append(
            {
                "source": "harness",
                "to": "rod",
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query.decode("latin-1"),
                "status": response.status_code,
                "started": ended - response.elapsed.total_seconds(),
                "ended": ended,
                "user_agent": request.headers.get("user-agent", ""),
                "control": False,
                "detail": detail,
            }
        )
        return response


class StackLike(Protocol):
    """What the recorder needs of a Stack: where the parts answer."""

    @property
    def endpoints(self) -> Endpoints: ...


class StepLike(Protocol):
    """What the recorder reads of a behave step."""

    keyword: str
    name: str
    line: int
    status: Any
    duration: float
    error_message: str | None


class ScenarioLike(Protocol):
    """What the recorder reads of a behave scenario."""

    name: str
    location: Any
    status: Any
    duration: float
    effective_tags: Any
    all_steps: Any
    skip_reason: str | None


class Recorder:
    """Appends one JSON line per scenario and per feature to `path`."""

    def __init__(
        self, path: Path, *, backend: str, tag_expression: str = "", paths: Sequence[str] = ()
    ) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8")
        self._secrets: set[str] = set()
        self._marks: dict[int, tuple[float, float | None]] = {}
        self._begun = 0.0
        self._seen: set[str] = set()
        self._write(
            {
                "kind": "run",
                "backend": backend,
                "started": time.time(),
                "tag_expression": tag_expression,
                "paths": list(paths),
            }
        )

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def scenario_started(self) -> None:
        """A scenario begins (before its reset: the emulators' logs start there)."""
        self._marks.clear()
        self._begun = time.time()

    def step_started(self, step: StepLike) -> None:
        self._marks[id(step)] = (time.time(), None)

    def step_ended(self, step: StepLike) -> None:
        began, _ = self._marks.get(id(step), (time.time(), None))
        self._marks[id(step)] = (began, time.time())

    def scenario_ended(self, scenario: ScenarioLike, stack: StackLike, tape: Tape) -> None:
        """Wait briefly for the runners to go, then write the scenario with every call seen."""
        passed = _name(scenario.status) == "passed"
        if passed:
            _wait_quiet(stack, TAIL_SECONDS)
        ended = time.time()
        endpoints = stack.endpoints
        secrets = (
            endpoints.webhook_secret,
            endpoints.next_webhook_secret,
            endpoints.github_token,
            endpoints.nomad_token,
        )
        self._secrets |= {secret for secret in secrets if secret}
        calls, observed = collect(stack, tape)
        location = str(scenario.location)
        self._seen.add(location)
        record = {
            "kind": "scenario",
            "location": location,
            "name": scenario.name,
            "status": _name(scenario.status),
            "duration": scenario.duration,
            "tags": sorted(str(tag) for tag in scenario.effective_tags),
            "skip_reason": scenario.skip_reason,
            "begun": self._begun,
            "ended": ended,
            "steps": [self._step(step) for step in scenario.all_steps],
            "calls": calls,
            "observed": observed,
        }
        self._write(self._masked(record))

    def _step(self, step: StepLike) -> dict[str, Any]:
        began, ended = self._marks.get(id(step), (None, None))
        return {
            "keyword": step.keyword,
            "name": step.name,
            "line": step.line,
            "status": _name(step.status),
            "duration": step.duration,
            "error": step.error_message,
            "started": began,
            "ended": ended,
        }

    def feature_ended(self, feature: Any) -> None:
        """The feature's outcome, and every scenario of it that never reached `scenario_ended`."""
        for scenario in feature.walk_scenarios():
            if str(scenario.location) not in self._seen:
                self._write(
                    {
                        "kind": "scenario",
                        "location": str(scenario.location),
                        "name": scenario.name,
                        "status": _name(scenario.status),
                        "duration": 0.0,
                        "tags": sorted(str(tag) for tag in scenario.effective_tags),
                        "skip_reason": scenario.skip_reason or feature.skip_reason,
                        "steps": [],
                        "calls": [],
                    }
                )
        self._write(
            {
                "kind": "feature",
                "location": str(feature.filename),
                "status": _name(feature.status),
                "duration": feature.duration,
                "skip_reason": feature.skip_reason,
            }
        )

    def _masked(self, record: dict[str, Any]) -> dict[str, Any]:
        for step in record["steps"]:
            if step["error"]:
                step["error"] = redact(step["error"], self._secrets)
        for call in record["calls"]:
            call["query"] = redact_query(call["query"], self._secrets)
            call["path"] = redact_path(call["path"], self._secrets)
            for key in ("user_agent", "detail"):
                call[key] = redact(call[key], self._secrets)
        return record

    def close(self) -> None:
        """Finish the file; fail loudly if any secret of the run is in it."""
        self._write({"kind": "end", "ended": time.time()})
        self._file.close()
        text = self.path.read_text(encoding="utf-8")
        leaked = [s for s in self._secrets if s in text]
        if leaked:
            raise AssertionError(f"{self.path} holds {len(leaked)} secret(s) of this run")


def _name(status: Any) -> str:
    """behave's Status enum (or a plain string) as its name."""
    return str(getattr(status, "name", status))


def collect(stack: StackLike, tape: Tape) -> tuple[list[dict[str, Any]], dict[str, bool]]:
    """Every call logged since the last reset, oldest first, and which services could be seen."""
    endpoints = stack.endpoints
    calls = list(tape.calls)
    observed = {"rod": True}
    for service, url in (("github", endpoints.github_url), ("nomad", endpoints.nomad_url)):
        logged = _get(f"{url}/_sim/requests", {"control": "true"})
        observed[service] = logged is not None
        calls += [_logged(service, entry) for entry in logged or []]
    state = _get(f"{endpoints.github_url}/_sim/state")
    observed["webhooks"] = state is not None
    calls += [_delivery(d) for d in (state or {}).get("deliveries", [])]
    calls.sort(key=lambda call: call["started"])
    return calls, observed


def _get(url: str, params: dict[str, str] | None = None) -> Any:
    """JSON from an emulator's control plane, or None where there is none (a real service)."""
    try:
        response = httpx.get(url, params=params, timeout=10)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _logged(service: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": service,
        "to": service,
        "method": entry["method"],
        "path": entry["path"],
        "query": entry["query"],
        "status": entry["status"],
        "started": entry.get("started") or entry["at"],
        "ended": entry["at"],
        "user_agent": entry.get("user_agent", ""),
        "control": bool(entry.get("control")),
        "detail": "",
    }


def _delivery(item: dict[str, Any]) -> dict[str, Any]:
    """A webhook delivery as a call from GitHub to `rod serve` (unsent ones: `sent` False)."""
    sent_at = item.get("sent_at")
    started = float(sent_at or item.get("logged_at") or 0.0)
    job = f" · job {item['job_id']}" if item.get("job_id") else ""
    detail = f"{item['event']} {item.get('action') or ''}{job}".strip()
    if item.get("redelivery"):
        detail += " · redelivery"
    if not sent_at:
        detail += f" · {item['status']}"
    return {
        "source": "webhooks",
        "to": "rod",
        "method": "POST",
        "path": httpx.URL(item.get("url") or "/").path,
        "query": "",
        "status": item["status_code"],
        "started": started,
        "ended": started + float(item.get("duration") or 0.0),
        "user_agent": "GitHub-Hookshot",
        "control": False,
        "detail": detail,
        "sent": bool(sent_at),
        "hook_id": item.get("hook_id"),
    }


def _wait_quiet(stack: StackLike, seconds: float) -> None:
    """Until no runner is registered, no delivery is pending and no allocation runs (bounded)."""
    endpoints = stack.endpoints
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        github = _get(f"{endpoints.github_url}/_sim/state") or {}
        nomad = _get(f"{endpoints.nomad_url}/_sim/state") or {}
        busy = github.get("runners") or any(
            d["status"] == "pending" for d in github.get("deliveries", [])
        )
        live = [
            a
            for a in nomad.get("allocations", [])
            if a.get("ClientStatus") in ("pending", "running")
        ]
        if not busy and not live:
            return
        time.sleep(TAIL_POLL)
