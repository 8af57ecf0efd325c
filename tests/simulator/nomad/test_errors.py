"""simulator.nomad.errors: statuses, default texts, go-multierror formatting."""

from __future__ import annotations

from simulator.nomad import errors
from simulator.nomad.errors import (
    MethodNotAllowed,
    NomadSimError,
    NotFound,
    PermissionDenied,
    RouteNotFound,
    ServerError,
    multierror,
)


class TestErrors:
    def test_status_and_default_message(self) -> None:
        assert (PermissionDenied().status, PermissionDenied().message) == (403, "Permission denied")
        assert (NotFound().status, NotFound().message) == (404, "job not found")
        assert RouteNotFound().message == "404 page not found\n"
        assert (MethodNotAllowed().status, MethodNotAllowed().message) == (405, "Invalid method")
        assert (ServerError("x").status, ServerError("x").message) == (500, "x")

    def test_multierror(self) -> None:
        assert multierror(["a"]) == "1 error occurred:\n\t* a\n\n"
        assert multierror(["a", "b"]) == "2 errors occurred:\n\t* a\n\t* b\n\n"

    def test_one_tree_named_for_the_emulator(self) -> None:
        # Issue 9: the emulator's errors have a name of their own, distinct from the
        # dispatcher's runners_on_demand.errors.NomadError.
        assert not hasattr(errors, "NomadError")
        for cls in (MethodNotAllowed, NotFound, PermissionDenied, RouteNotFound, ServerError):
            assert issubclass(cls, NomadSimError)
