"""simulator.livedoc.endpoints: endpoints from the route tables, and what the calls reached."""

from __future__ import annotations

from simulator.livedoc.calls import Call
from simulator.livedoc.endpoints import coverage, emulated_endpoints, endpoint_for


def call(callee: str, method: str, path: str) -> Call:
    return Call("rod", callee, method, path, "", 200, 0, 0, "", "", "act", 0)


class TestEmulatedEndpoints:
    def test_both_route_tables_and_no_control_plane(self) -> None:
        endpoints = {(e.service, e.path): e for e in emulated_endpoints()}
        assert ("github", "/repos/{owner}/{repo}/actions/runners/generate-jitconfig") in endpoints
        assert ("github", "/_actions/sessions/{session_id}/job") in endpoints
        assert ("nomad", "/v1/job/{job_id:path}/dispatch") in endpoints
        assert not any(path.startswith("/_sim") for _, path in endpoints)
        assert endpoints[("github", "/rate_limit")].name == "rate_limit"


class TestEndpointFor:
    def test_the_suffix_route_wins_as_in_nomad(self) -> None:
        endpoints = emulated_endpoints()
        dispatch = endpoint_for(endpoints, call("nomad", "POST", "/v1/job/github-runner/dispatch"))
        assert dispatch is not None and dispatch.name == "dispatch"
        child = endpoint_for(endpoints, call("nomad", "GET", "/v1/job/github-runner/dispatch-1-ab"))
        assert child is not None and child.name == "job"

    def test_method_and_service_must_match(self) -> None:
        endpoints = emulated_endpoints()
        assert endpoint_for(endpoints, call("github", "DELETE", "/rate_limit")) is None
        assert endpoint_for(endpoints, call("nomad", "GET", "/rate_limit")) is None


class TestCoverage:
    def test_counts_scenarios_and_leftovers(self) -> None:
        endpoints = emulated_endpoints()
        calls = [
            call("github", "GET", "/rate_limit"),
            call("github", "GET", "/rate_limit"),
            call("github", "POST", "/_sim/repos"),  # control plane: not counted
            call("rod", "POST", "/webhook"),  # not an emulator
            call("github", "GET", "/nope"),
        ]
        usage, unmatched = coverage(endpoints, [("a.html#s", "S", calls)])
        used = {u.endpoint.path: u for u in usage if u.calls}
        assert set(used) == {"/rate_limit"}
        assert used["/rate_limit"].calls == 2
        assert used["/rate_limit"].scenarios == {"a.html#s": "S"}
        assert [c.path for _, _, c in unmatched] == ["/nope"]
        assert len(usage) == len(endpoints)
