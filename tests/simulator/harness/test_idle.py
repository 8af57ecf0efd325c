"""The reconciler's next tick, asked against a running stack, and the config it is asked with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.harness import faults
from simulator.harness.github_client import ScriptedJob
from simulator.harness.idle import await_settled, config_path, expect_no_dispatch_planned
from simulator.harness.settings import StackSettings
from simulator.harness.sim_backend import SimBackend
from simulator.harness.stack import Stack
from simulator.harness.waiting import wait_for
from simulator.harness.world import World


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(StackSettings(log_dir=tmp_path_factory.mktemp("idle"))) as started:
        yield started


def queued_job(stack: Stack, labels: tuple[str, ...]) -> int:
    """Start a run of one job with these labels; its id once GitHub lists it."""
    run = stack.start_run([ScriptedJob("build", labels, 1.0)])
    jobs = wait_for(
        "the job to be listed",
        lambda: stack.observer.jobs([int(run["id"])]),
        lambda found: len(found) == 1,
    )
    return jobs[0].id


class TestExpectNoDispatchPlanned:
    def test_a_job_for_a_github_hosted_runner_is_read_and_planned_nothing(
        self, stack: Stack
    ) -> None:
        stack.reset()
        job_id = queued_job(stack, ("ubuntu-latest",))
        tick = expect_no_dispatch_planned(stack, stack.repo, job_id)
        assert job_id in tick.read and not tick.dispatches

    def test_a_self_hosted_job_whose_webhook_was_dropped_would_get_a_runner(
        self, stack: Stack
    ) -> None:
        stack.reset()
        faults.add_webhook_fault(stack.endpoints.github_url, "drop")
        job_id = queued_job(stack, ("self-hosted", "linux"))
        with pytest.raises(AssertionError, match=f"would dispatch .* for job {job_id}"):
            expect_no_dispatch_planned(stack, stack.repo, job_id)

    def test_a_job_the_reconciler_did_not_read_fails(self, stack: Stack) -> None:
        stack.reset()
        with pytest.raises(AssertionError, match="did not read job 1"):
            expect_no_dispatch_planned(stack, stack.repo, 1)


class TestAwaitSettled:
    def test_a_queued_job_for_a_github_hosted_runner_is_settled(self, stack: Stack) -> None:
        stack.reset()
        queued_job(stack, ("ubuntu-latest",))
        await_settled(World(stack=stack, timeout=10.0, job_seconds=1.0))

    def test_a_runner_the_next_tick_would_make_is_not_settled(self, stack: Stack) -> None:
        stack.reset()
        faults.add_webhook_fault(stack.endpoints.github_url, "drop")
        job_id = queued_job(stack, ("self-hosted", "linux"))
        world = World(stack=stack, timeout=10.0, job_seconds=1.0)
        with pytest.raises(AssertionError, match=rf"next tick would dispatch .*\(job {job_id}\)"):
            await_settled(world)


class TestConfigPath:
    def test_the_sim_backends_rod_serve_runs_on_defaults(self, stack: Stack) -> None:
        assert config_path(stack) is None

    def test_a_dispatcher_started_with_a_config_file_names_it(
        self, stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert isinstance(stack.backend, SimBackend)
        dispatcher = stack.backend.dispatcher
        monkeypatch.setattr(dispatcher, "args", ("--config", str(tmp_path / "rod.toml")))
        assert config_path(stack) == str(tmp_path / "rod.toml")
