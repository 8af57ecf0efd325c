"""simulator.nomad.variables: the path rules and the check-and-set store, without HTTP."""

from __future__ import annotations

import threading

import pytest

from simulator.nomad.acl import Acl, Caller, Claim, Identity, parse_rules
from simulator.nomad.errors import PermissionDenied, ServerError, VariableConflict
from simulator.nomad.variables import VariableStore, validate_path

MANAGEMENT = Caller(Identity(), Acl(management=True))
WORKLOAD = Caller(Identity(claim=Claim("default", "rod", "dispatcher", "rod")), Acl())


CHANGES: list[int] = []


@pytest.fixture
def store() -> VariableStore:
    counter = iter(range(2, 10_000))
    CHANGES.clear()
    return VariableStore(
        lock=threading.RLock(),
        bump=lambda: next(counter),
        now_ns=lambda: 7,
        on_change=CHANGES.append,
    )


class TestValidatePath:
    @pytest.mark.parametrize(
        "path", ["nomad/jobs", "nomad/jobs/rod", "nomad/job-templates/x", "app/a_b~c-d", "x"]
    )
    def test_valid(self, path: str) -> None:
        validate_path(path)

    @pytest.mark.parametrize(
        ("path", "message"),
        [
            ("a b", 'invalid path "a b"'),
            ("a.b", 'invalid path "a.b"'),
            ("x" * 129, "invalid path"),
            ("nomad", '"nomad" is a reserved top-level directory path'),
            ("nomad/other", 'only paths at "nomad/jobs" or "nomad/job-templates"'),
            ("nomad/job-templates", '"nomad/job-templates" is a reserved directory path'),
        ],
    )
    def test_invalid_is_an_uncoded_error(self, path: str, message: str) -> None:
        # plain fmt.Errorf in structs.validatePath: a 500 over HTTP
        with pytest.raises(ServerError, match=message) as error:
            validate_path(path)
        assert error.value.status == 500


class TestStore:
    def test_create_update_and_indexes(self, store: VariableStore) -> None:
        first, index = store.upsert(
            "default", "nomad/jobs/rod", {"A": "1"}, cas=None, caller=MANAGEMENT
        )
        assert first == {
            "Namespace": "default",
            "Path": "nomad/jobs/rod",
            "CreateIndex": index,
            "CreateTime": 7,
            "ModifyIndex": index,
            "ModifyTime": 7,
            "Items": {"A": "1"},
        }
        second, index2 = store.upsert(
            "default", "nomad/jobs/rod", {"B": "2"}, cas=index, caller=MANAGEMENT
        )
        assert (second["CreateIndex"], second["ModifyIndex"], second["Items"]) == (
            index,
            index2,
            {"B": "2"},
        )
        assert [index, index2] == CHANGES  # each write may unblock a waiting template

    def test_cas_zero_creates_only(self, store: VariableStore) -> None:
        store.upsert("default", "p", {"A": "1"}, cas=0, caller=MANAGEMENT)
        with pytest.raises(VariableConflict) as conflict:
            store.upsert("default", "p", {"A": "2"}, cas=0, caller=MANAGEMENT)
        assert '"Items":{"A":"1"}' in conflict.value.message
        assert conflict.value.status == 409

    def test_cas_on_a_missing_variable_conflicts_with_a_zero_value(
        self, store: VariableStore
    ) -> None:
        with pytest.raises(VariableConflict) as conflict:
            store.upsert("default", "p", {"A": "1"}, cas=5, caller=MANAGEMENT)
        assert conflict.value.message == (
            '{"Namespace":"default","Path":"p","CreateIndex":0,"CreateTime":0,'
            '"ModifyIndex":0,"ModifyTime":0}'
        )
        assert conflict.value.headers == {"X-Nomad-Index": "0"}

    def test_size_limit_and_wildcard_namespace_are_uncoded_errors(
        self, store: VariableStore
    ) -> None:
        with pytest.raises(ServerError, match=r"^variables are limited to 64KiB in total size$"):
            store.upsert("default", "p", {"k": "v" * 65536}, cas=None, caller=MANAGEMENT)
        with pytest.raises(ServerError, match=r'^can not target wildcard \("\*"\)namespace$'):
            store.upsert("*", "p", {"k": "v"}, cas=None, caller=MANAGEMENT)
        assert store.items == {}

    def test_delete(self, store: VariableStore) -> None:
        _, index = store.upsert("default", "p", {"A": "1"}, cas=None, caller=MANAGEMENT)
        store.delete("default", "missing", cas=None, caller=MANAGEMENT)  # not an error
        store.delete("default", "missing", cas=0, caller=MANAGEMENT)  # delete-if-absent holds
        with pytest.raises(VariableConflict):
            store.delete("default", "p", cas=index + 100, caller=MANAGEMENT)
        store.delete("default", "p", cas=index, caller=MANAGEMENT)
        assert store.read("default", "p", MANAGEMENT) is None

    def test_permissions(self, store: VariableStore) -> None:
        store.upsert("default", "nomad/jobs/rod", {"A": "1"}, cas=None, caller=MANAGEMENT)
        store.upsert("default", "nomad/jobs/other", {"A": "1"}, cas=None, caller=MANAGEMENT)
        assert store.read("default", "nomad/jobs/rod", WORKLOAD) is not None
        with pytest.raises(PermissionDenied):
            store.read("default", "nomad/jobs/other", WORKLOAD)
        with pytest.raises(PermissionDenied):
            store.upsert("default", "nomad/jobs/rod", {"A": "2"}, cas=None, caller=WORKLOAD)
        with pytest.raises(PermissionDenied):
            store.delete("default", "nomad/jobs/rod", cas=None, caller=WORKLOAD)
        assert [v["Path"] for v in store.list("default", "nomad/", WORKLOAD)] == ["nomad/jobs/rod"]
        assert all("Items" not in v for v in store.list("*", "", MANAGEMENT))

    def test_a_conflict_hides_items_from_a_caller_who_cannot_read(
        self, store: VariableStore
    ) -> None:
        store.upsert("default", "p", {"A": "secret"}, cas=None, caller=MANAGEMENT)
        write_only = 'namespace "default" { variables { path "p" { capabilities = ["write"] } } }'
        writer = Caller(Identity(), Acl([parse_rules(write_only)]))
        with pytest.raises(VariableConflict) as conflict:
            store.upsert("default", "p", {"A": "x"}, cas=0, caller=writer)
        assert "secret" not in conflict.value.message and '"Path":"p"' in conflict.value.message
