"""Which emulated endpoints the scenarios exercised, from the emulators' own route tables."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.routing import Route, compile_path

from simulator.github import runner_api
from simulator.github.routes import REST_ROUTES
from simulator.livedoc.calls import Call
from simulator.nomad.routes import API_ROUTES

SERVICES = {"github": "GitHub API", "nomad": "Nomad API"}


@dataclass(frozen=True)
class Endpoint:
    """One route of an emulator: the methods it serves, its path template, its handler."""

    service: str
    methods: tuple[str, ...]
    path: str
    name: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, method: str, path: str) -> bool:
        """True when this route answers `method path`."""
        return method in self.methods and bool(self.regex.match(path))


def emulated_endpoints() -> list[Endpoint]:
    """GitHub's REST and runner routes (simulator/github/routes.py, runner_api.py) and Nomad's
    API routes (simulator/nomad/routes.py API_ROUTES), in table order; no control plane."""
    endpoints = [
        Endpoint(
            "github", tuple(sorted((r.methods or set()) - {"HEAD"})), r.path, r.name, r.path_regex
        )
        for r in (*REST_ROUTES, *runner_api.ROUTES)
        if isinstance(r, Route)
    ]
    endpoints += [
        Endpoint("nomad", route.methods, route.path, route.route_name, compile_path(route.path)[0])
        for route in API_ROUTES
    ]
    return endpoints


def endpoint_for(endpoints: Iterable[Endpoint], call: Call) -> Endpoint | None:
    """The route a call to an emulator reached first (as the router tries them), if any."""
    return next(
        (e for e in endpoints if e.service == call.callee and e.matches(call.method, call.path)),
        None,
    )


@dataclass
class Usage:
    """How often the scenarios called one endpoint, and which scenarios did."""

    endpoint: Endpoint
    calls: int = 0
    statuses: set[int] = field(default_factory=set)
    scenarios: dict[str, str] = field(default_factory=dict)  # link -> scenario name


def coverage(
    endpoints: list[Endpoint], scenarios: Iterable[tuple[str, str, list[Call]]]
) -> tuple[list[Usage], list[tuple[str, str, Call]]]:
    """Usage per endpoint, and the API calls no route matched (link, name, call)."""
    usage = {e: Usage(e) for e in endpoints}
    unmatched = []
    for link, name, calls in scenarios:
        for call in calls:
            if call.callee not in SERVICES or call.path.startswith("/_sim/"):
                continue
            endpoint = endpoint_for(endpoints, call)
            if endpoint is None:
                unmatched.append((link, name, call))
                continue
            used = usage[endpoint]
            used.calls += 1
            used.statuses.add(call.status)
            used.scenarios[link] = name
    return list(usage.values()), unmatched
