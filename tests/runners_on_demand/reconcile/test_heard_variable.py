"""Tests for runners_on_demand.reconcile.heard_variable: the state Variable read and written.

Nomad is the in-memory `FakeNomad` (check-and-set as Nomad does it); the adapter's calls over
real HTTP are in tests/runners_on_demand/ports/test_nomad.py and tests/deploy/test_policies.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import pytest

from runners_on_demand.errors import NomadError
from runners_on_demand.ports import Variable, VariableConflict, VariableMeta
from runners_on_demand.reconcile.heard import encode
from runners_on_demand.reconcile.heard_variable import HeardVariable
from runners_on_demand.reconcile.repos import ServedRepos
from tests.runners_on_demand.fakes import Clock, FakeNomad

PATH = "rod/served-repos"
NOW = 1_800_000_000.0
LOGGER = "runners_on_demand.reconcile.heard_variable"


class WatchedNomad(FakeNomad):
    """A FakeNomad that tells when a Variable was written, and can refuse writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()
        self.refuse: NomadError | None = None

    async def put_variable(
        self, path: str, items: Mapping[str, str], *, cas: int | None = None
    ) -> VariableMeta | VariableConflict:
        if self.refuse:
            self.calls.append(("put_variable", path))
            raise self.refuse
        found = await super().put_variable(path, items, cas=cas)
        self.written.set()
        return found


def stored(nomad: FakeNomad) -> list[list[object]]:
    found: list[list[object]] = json.loads(nomad.variables[PATH][1]["repos"])
    return found


@pytest.fixture
def nomad() -> WatchedNomad:
    return WatchedNomad()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


def kept(nomad: FakeNomad, clock: Clock, *configured: str) -> tuple[ServedRepos, HeardVariable]:
    served = ServedRepos(configured, forget_after=3600.0, clock=clock)
    return served, HeardVariable(nomad, PATH, served, sleep=no_wait)


class TestLoad:
    async def test_the_stored_repositories_are_served_as_last_heard(
        self, nomad: WatchedNomad, clock: Clock
    ) -> None:
        entries = {"octo/recent": ("octo/recent", NOW - 60), "octo/old": ("octo/old", NOW - 4000)}
        await nomad.put_variable(PATH, encode(entries), cas=0)
        served, state = kept(nomad, clock, "octo/configured")
        await state.load()
        assert sorted(served.names([])) == ["octo/configured", "octo/recent"]  # forget_after
        clock.now += 3600.0 - 60 + 1
        assert sorted(served.names([])) == ["octo/configured"]  # forgotten as if never restarted

    async def test_it_is_read_once_and_again_only_while_nomad_would_not_answer(
        self, nomad: WatchedNomad, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        nomad.down = True
        served, state = kept(nomad, clock)
        await state.load()
        assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
            f"reconcile: cannot read Nomad Variable {PATH}: Nomad GET /v1/var: ConnectError"
        ]
        nomad.down = False
        await nomad.put_variable(PATH, encode({"octo/a": ("octo/a", NOW)}), cas=0)
        await state.load()
        await state.load()
        assert nomad.calls.count(("read_variable", PATH)) == 2
        assert list(served.names([])) == ["octo/a"]

    async def test_a_bug_is_logged_and_stops_nothing(
        self, nomad: WatchedNomad, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def broken(path: str) -> Variable | None:
            raise RuntimeError("bug")

        nomad.read_variable = broken  # type: ignore[method-assign]
        _, state = kept(nomad, clock)
        await state.load()
        assert f"Nomad Variable {PATH}: unexpected error" in caplog.text

    async def test_items_not_in_rods_format_are_one_line_and_rewritten(
        self, nomad: WatchedNomad, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        await nomad.put_variable(PATH, {"other": "x"}, cas=0)
        served, state = kept(nomad, clock)
        await state.load()
        served.saw("octo/a")
        await state.save()
        assert f'Nomad Variable {PATH}: no JSON list in item "repos"; rewriting it' in caplog.text
        assert stored(nomad) == [["octo/a", int(NOW)]]


class TestSave:
    async def test_a_new_repository_is_written_soon_without_a_tick(
        self, nomad: WatchedNomad, clock: Clock
    ) -> None:
        served, state = kept(nomad, clock)
        writer = asyncio.create_task(state.run())
        served.saw("octo/new")  # what the intake does when a webhook comes
        await asyncio.wait_for(nomad.written.wait(), 10)
        writer.cancel()
        assert stored(nomad) == [["octo/new", int(NOW)]]

    async def test_nothing_changed_is_no_write_and_a_pruned_set_is(
        self, nomad: WatchedNomad, clock: Clock
    ) -> None:
        served, state = kept(nomad, clock)
        served.saw("octo/a")
        await state.save()
        clock.now += 1800.0
        served.saw("octo/b")
        served.saw("octo/a")  # heard again, not an hour later than stored
        await state.save()
        await state.save()
        assert nomad.calls.count(("put_variable", PATH)) == 2
        assert served.forget("octo/b")  # GitHub answered 404
        clock.now += 3601.0  # octo/a: quiet past forget_after
        await state.save()
        assert stored(nomad) == []

    async def test_replicas_keep_each_others_repositories(
        self, nomad: WatchedNomad, clock: Clock
    ) -> None:
        first, first_state = kept(nomad, clock)
        second, second_state = kept(nomad, clock)
        await first_state.load()
        await second_state.load()
        first.saw("octo/a")
        second.saw("octo/b")
        await first_state.save()
        await second_state.save()  # its check-and-set loses: it reads, merges, writes again
        first.saw("octo/c")
        await first_state.save()  # loses too: octo/b stays
        assert sorted(str(name) for name, _ in stored(nomad)) == ["octo/a", "octo/b", "octo/c"]
        assert nomad.calls.count(("put_variable", PATH)) == 5
        restarted, state = kept(nomad, clock)
        await state.load()
        assert sorted(restarted.names([])) == ["octo/a", "octo/b", "octo/c"]

    async def test_a_failed_write_is_one_line_and_the_next_one_catches_up(
        self, nomad: WatchedNomad, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        served, state = kept(nomad, clock)
        served.saw("octo/a")
        nomad.refuse = NomadError(f"Nomad PUT /v1/var/{PATH}: 403 Permission denied", status=403)
        await state.save()
        assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
            f"reconcile: cannot write Nomad Variable {PATH}: Nomad PUT /v1/var/{PATH}: 403 "
            "Permission denied"
        ]
        nomad.refuse = None
        await state.save()
        assert stored(nomad) == [["octo/a", int(NOW)]]

    async def test_writers_that_always_win_leave_it_to_the_next_tick(
        self, nomad: WatchedNomad, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        served, state = kept(nomad, clock)
        served.saw("octo/a")
        real = nomad.put_variable

        async def always_beaten(
            path: str, items: Mapping[str, str], *, cas: int | None = None
        ) -> VariableMeta | VariableConflict:
            await real(path, {"repos": f'[["octo/other",{int(clock())}]]'})  # another replica
            clock.now += 1.0
            return await real(path, items, cas=cas)

        nomad.put_variable = always_beaten  # type: ignore[method-assign]
        await state.save()
        assert f"Nomad Variable {PATH}: 3 writes lost to other writers; next tick" in caplog.text
