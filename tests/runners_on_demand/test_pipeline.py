"""The pipeline's queue and workers, with the real adapters over respx-mocked APIs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx
import pytest
import respx

from runners_on_demand.backoff import Backoff, Retrier
from runners_on_demand.carrier import LocalCarrier
from runners_on_demand.config import CredentialMode, ServerSettings
from runners_on_demand.contract import DispatchRequest, JitConfig
from runners_on_demand.credentials import GitHubCredentials
from runners_on_demand.decision import Ignore, IgnoreReason, Policy, Pool, StartRunner, decide
from runners_on_demand.errors import GitHubError, GitHubRateLimited, NomadError, RunnerJobMissing
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.metrics import Metrics
from runners_on_demand.observed import Runner
from runners_on_demand.pipeline import Admission, Admitted, PendingStart, Pipeline
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.ports.github_auth import PatAuth
from runners_on_demand.ports.nomad import NomadHttp
from runners_on_demand.ports.protocols import DispatchResult, ListedJob, RunnerExists
from runners_on_demand.reconcile.loop import ServedRepos
from runners_on_demand.runner_job_check import job_check
from runners_on_demand.scope import RunnerGroup
from tests.runners_on_demand.fakes import FakeGitHub, FakeNomad
from tests.runners_on_demand.fakes import pipeline as fakes_pipeline

GITHUB = "https://api.github.test"
NOMAD = "http://nomad.test:4646"
JIT_PATH = "/repos/octo/hello/actions/runners/generate-jitconfig"
REG_PATH = "/repos/octo/hello/actions/runners/registration-token"
DISPATCH_PATH = "/v1/job/github-runner/dispatch"
JIT_SECRET = "jit-config-secret-blob"
PAT = "ghp_pat_secret"
JIT_ANSWER = {"runner": {"id": 9, "name": "rod-42-1"}, "encoded_jit_config": JIT_SECRET}
CREATED = {"DispatchedJobID": "github-runner/dispatch-1-abcdef01", "EvalID": "e-1"}
RUNNERS_PATH = "/repos/octo/hello/actions/runners"
VARIABLE = "nomad/jobs/github-runner/credentials/rod-42-1"
RUNNER_LIST = {
    "total_count": 1,
    "runners": [{"id": 9, "name": "rod-42-1", "os": "linux", "status": "offline", "busy": False}],
}


def child_stub(runner_name: str) -> dict[str, object]:
    """A Nomad job-list stub of a dispatched runner child."""
    return {
        "ID": f"github-runner/dispatch-1-{runner_name}",
        "ParentID": "github-runner",
        "Status": "running",
        "Stop": False,
        "SubmitTime": 0,
        "Meta": {"RUNNER_NAME": runner_name, "GITHUB_JOB_ID": "42"},
    }


EVENT = WorkflowJobEvent(
    origin=Origin(Intake.WEBHOOK, "h-1" + "/" + "d-1"),
    action="queued",
    job_id=42,
    run_id=7,
    run_attempt=1,
    job_name="build",
    workflow_name="CI",
    labels=("self-hosted", "linux"),
    status="queued",
    conclusion=None,
    runner_id=None,
    runner_name=None,
    repo_full_name="octo/hello",
    repo_owner="octo",
    repo_name="hello",
    repo_html_url="https://github.com/octo/hello",
    fork=False,
    installation_id=None,
)


def job(event: WorkflowJobEvent = EVENT) -> PendingStart:
    decision = decide(event, Policy())
    assert isinstance(decision, StartRunner)
    return PendingStart(event, decision, received_at=0.0)


def heard(event: WorkflowJobEvent = EVENT, *, hook: str = "h-1", delivery: str = "d-1") -> Origin:
    """The origin of a delivery from `hook` with GUID `delivery`."""
    return Origin(Intake.WEBHOOK, f"{hook}/{delivery}")


class Harness:
    """A Pipeline wired to respx routers, a fake sleep and its metrics."""

    def __init__(
        self,
        *,
        credential: CredentialMode = "jit",
        queue_size: int = 10,
        workers: int = 2,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        grace: float = 5.0,
    ) -> None:
        self.github_api = respx.Router(base_url=GITHUB, assert_all_called=False)
        self.nomad_api = respx.Router(base_url=NOMAD, assert_all_called=False)
        # Nomad Variables: every write succeeds, none listed, unless a test says otherwise.
        self.stored = self.nomad_api.put(path__startswith="/v1/var/").mock(side_effect=written)
        self.listed = self.nomad_api.get("/v1/vars").respond(200, json=[])
        self.waits: list[float] = []
        self.clock = 1_000_000.0  # GitHub's clock, which the fake sleep moves on
        self.metrics = Metrics()
        github = GitHubHttp(
            httpx.AsyncClient(
                base_url=GITHUB, transport=httpx.MockTransport(self.github_api.async_handler)
            ),
            PatAuth(PAT),
            clock=lambda: self.clock,
        )
        nomad = NomadHttp(
            httpx.AsyncClient(
                base_url=NOMAD, transport=httpx.MockTransport(self.nomad_api.async_handler)
            )
        )
        settings = ServerSettings(
            queue_size=queue_size, workers=workers, shutdown_grace_seconds=grace
        )
        credentials = GitHubCredentials(
            github, mode=credential, runner_group_id=1, remembered=settings.dedup_size
        )
        retrier = Retrier(
            backoff or Backoff(max_attempts=4, base=0.5, cap=30.0, deadline=300.0),
            sleep=sleep or self.sleep,
            monotonic=lambda: 1.5,
        )
        self.dispatcher = Pipeline(
            LocalCarrier(credentials, nomad, retrier),
            policy=Policy(),
            settings=settings,
            metrics=self.metrics,
            retrier=retrier,
        )

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock += seconds

    def outcome(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value("rod_dispatches_total", {"outcome": name})
        return value or 0.0

    def submit(self, pending: PendingStart) -> Admission:
        """Hand one decided job to the pipeline."""
        return self.dispatcher.submit(pending.event, pending.start, received_at=0.0)

    async def run(self, *jobs: PendingStart) -> list[Admission]:
        """Start, submit every job, drain."""
        self.dispatcher.start()
        results = [self.submit(j) for j in jobs]
        await self.dispatcher.stop()
        return results


def written(request: httpx.Request) -> httpx.Response:
    """Nomad's answer to a Variable write: the Variable, now at index 5."""
    path = request.url.path.removeprefix("/v1/var/")
    return httpx.Response(200, json={"Path": path, "ModifyIndex": 5, "ModifyTime": 0})


def items_of(route: respx.Route) -> dict[str, str]:
    """The Items of the last Variable write."""
    items: dict[str, str] = json.loads(route.calls.last.request.content)["Items"]
    return items


def payload_of(request: httpx.Request) -> dict[str, object]:
    body = json.loads(request.content)
    decoded: dict[str, object] = json.loads(base64.b64decode(body["Payload"]))
    return decoded


class TestHappyPath:
    async def test_jit_stored_then_dispatched(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        h = Harness()
        jit = h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        assert await h.run(job()) == [Admission.QUEUED]
        assert json.loads(jit.calls.last.request.content)["name"] == "rod-42-1"
        # The credential goes to its Variable, created (cas=0) before the dispatch.
        stored = h.stored.calls.last.request
        assert stored.url.path == f"/v1/var/{VARIABLE}" and stored.url.params["cas"] == "0"
        assert items_of(h.stored) == {"jit_config": JIT_SECRET}
        request = dispatch.calls.last.request
        assert request.url.params["idempotency_token"] == "rod-42-1"
        assert JIT_SECRET not in request.content.decode()
        assert JIT_SECRET not in json.dumps(payload_of(request))
        assert set(payload_of(request)) == {"repo", "fork", "job", "run_id", "url"}
        assert h.outcome("dispatched") == 1
        assert h.metrics.registry.get_sample_value("rod_webhook_to_dispatch_seconds_count") == 1
        assert JIT_SECRET not in caplog.text and PAT not in caplog.text
        assert "dispatched github-runner/dispatch-1-abcdef01" in caplog.text

    async def test_registration_token_mode(self) -> None:
        h = Harness(credential="registration-token")
        h.github_api.post(REG_PATH).respond(
            201, json={"token": "REGTOKEN", "expires_at": "2099-01-01T00:00:00Z"}
        )
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        await h.run(job())
        assert items_of(h.stored) == {"registration_token": "REGTOKEN"}
        assert "REGTOKEN" not in dispatch.calls.last.request.content.decode()

    async def test_runner_of_a_child_nomad_already_had_is_kept(self) -> None:
        # Issue 10 item 1: the child Nomad already has (a try that timed out after Nomad
        # committed it) reads the Variable, i.e. this very runner; deleting it broke that child.
        h = Harness()
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        h.nomad_api.post(DISPATCH_PATH).respond(200, json={**CREATED, "EvalID": ""})
        removal = h.github_api.delete(f"{RUNNERS_PATH}/9").respond(204)
        await h.run(job())
        assert not removal.called
        assert items_of(h.stored) == {"jit_config": JIT_SECRET}
        assert h.outcome("existing") == 1 and h.outcome("dispatched") == 0

    async def test_a_credential_an_earlier_try_stored_is_replaced(self) -> None:
        h = Harness()
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        conflict = {"Path": VARIABLE, "ModifyIndex": 3, "ModifyTime": 0}
        h.stored.side_effect = [httpx.Response(409, json=conflict), written]
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        await h.run(job())
        # cas=0 lost to the Variable at index 3: replaced at exactly that index.
        assert [c.request.url.params["cas"] for c in h.stored.calls] == ["0", "3"]
        assert dispatch.called and h.outcome("dispatched") == 1

    async def test_runner_made_by_another_try_is_left_to_it(self) -> None:
        h = Harness()
        h.github_api.post(JIT_PATH).respond(409, json={"message": "Already exists"})
        removal = h.github_api.delete(f"{RUNNERS_PATH}/9").respond(204)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        await h.run(job())
        # No Variable yet: another replica (or delivery) holds that runner's credential.
        assert h.listed.calls.last.request.url.params["prefix"] == VARIABLE
        assert not dispatch.called and not removal.called and not h.stored.called
        assert h.outcome("runner_exists") == 1

    async def test_runner_whose_credential_is_stored_is_dispatched_again(self) -> None:
        # A process killed between storing and dispatching, or a dispatch that failed: the
        # child of a new try starts that same runner, from its Variable.
        h = Harness()
        jit = h.github_api.post(JIT_PATH).respond(409, json={"message": "Already exists"})
        h.listed.respond(200, json=[{"Path": VARIABLE, "ModifyIndex": 3, "ModifyTime": 0}])
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        await h.run(job())
        assert jit.call_count == 1 and not h.stored.called
        assert dispatch.called and h.outcome("dispatched") == 1


class TestRedeliveryAfterGivingUp:
    """A runner this process made but never stored is made again on redelivery."""

    @staticmethod
    def never_stored() -> tuple[Harness, respx.Route, respx.Route]:
        h = Harness()
        jit = h.github_api.post(JIT_PATH)
        jit.side_effect = [
            httpx.Response(201, json=JIT_ANSWER),
            httpx.Response(409, json={"message": "Already exists"}),
            httpx.Response(201, json=JIT_ANSWER),
        ]
        h.stored.side_effect = [httpx.Response(403, text="Permission denied"), written]
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        return h, jit, dispatch

    async def test_unused_runner_is_replaced_and_dispatched(self) -> None:
        h, jit, dispatch = self.never_stored()
        h.github_api.get(RUNNERS_PATH).respond(200, json=RUNNER_LIST)
        removal = h.github_api.delete(f"{RUNNERS_PATH}/9").respond(204)
        await h.run(job())
        assert h.outcome("failed") == 1 and not dispatch.called
        await h.run(replace_delivery(job(), "d-2"))
        assert removal.called and jit.call_count == 3 and dispatch.call_count == 1
        assert h.outcome("dispatched") == 1

    async def test_busy_runner_is_left_alone(self) -> None:
        h, jit, dispatch = self.never_stored()
        h.github_api.get(RUNNERS_PATH).respond(200, json=RUNNER_LIST)
        h.github_api.delete(f"{RUNNERS_PATH}/9").respond(422, json={"message": "busy"})
        await h.run(job())
        await h.run(replace_delivery(job(), "d-2"))
        assert jit.call_count == 2 and not dispatch.called
        assert h.outcome("runner_exists") == 1

    async def test_a_stored_runner_is_never_removed(self) -> None:
        # The dispatch failed after the Variable was written: a child may still come (a
        # timed-out dispatch that Nomad committed) and read it, so the runner stays.
        h = Harness(backoff=Backoff(max_attempts=1))
        jit = h.github_api.post(JIT_PATH)
        jit.side_effect = [
            httpx.Response(201, json=JIT_ANSWER),
            httpx.Response(409, json={"message": "Already exists"}),
        ]
        removal = h.github_api.delete(f"{RUNNERS_PATH}/9").respond(204)
        dispatch = h.nomad_api.post(DISPATCH_PATH)
        dispatch.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json=CREATED)]
        await h.run(job())
        assert h.outcome("failed") == 1
        h.listed.respond(200, json=[{"Path": VARIABLE, "ModifyIndex": 5, "ModifyTime": 0}])
        await h.run(replace_delivery(job(), "d-2"))
        assert not removal.called and jit.call_count == 2 and dispatch.call_count == 2
        assert h.outcome("dispatched") == 1


def replace_delivery(queued: PendingStart, delivery_id: str) -> PendingStart:
    """The same job as GitHub's redelivery would bring it, under another delivery id."""
    event = replace(queued.event, origin=heard(delivery=delivery_id))
    return PendingStart(event, queued.start, received_at=0.0)


class TestSubmit:
    async def test_duplicate_delivery_dispatches_once(self) -> None:
        h = Harness()
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        results = await h.run(job(), job())
        assert results == [Admission.QUEUED, Admission.DUPLICATE]
        assert dispatch.call_count == 1

    async def test_in_flight_lists_queued_jobs_until_carried_out(self) -> None:
        h = Harness()
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        h.dispatcher.start()
        h.submit(job())
        assert [j.start.runner_name for j in h.dispatcher.in_flight()] == ["rod-42-1"]
        await h.dispatcher.stop()
        assert h.dispatcher.in_flight() == []

    async def test_same_runner_from_another_hook_is_a_duplicate_while_in_flight(self) -> None:
        h = Harness(workers=0)
        h.dispatcher.start()
        assert h.submit(job()) is Admission.QUEUED
        other_hook = job(replace(EVENT, origin=heard(hook="h-2")))
        assert h.submit(other_hook) is Admission.DUPLICATE
        other_job = job(replace(EVENT, origin=heard(hook="h-2"), job_id=43))
        assert h.submit(other_job) is Admission.QUEUED

    async def test_runner_that_reached_nomad_is_not_made_again(self) -> None:
        h = Harness()
        jit = h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        assert await h.run(job()) == [Admission.QUEUED]
        # A late copy under another delivery id, or the reconciler from a stale listing.
        assert await h.run(replace_delivery(job(), "d-2")) == [Admission.DUPLICATE]
        assert jit.call_count == 1

    async def test_runner_that_failed_may_be_tried_again(self) -> None:
        h = Harness(backoff=Backoff(max_attempts=1))
        jit = h.github_api.post(JIT_PATH).respond(503, json={"message": "unavailable"})
        await h.run(job())
        assert h.outcome("failed") == 1
        assert await h.run(replace_delivery(job(), "d-2")) == [Admission.QUEUED]
        assert jit.call_count == 2

    async def test_full_queue(self) -> None:
        h = Harness(queue_size=1, workers=0)
        h.dispatcher.start()
        assert h.submit(job()) is Admission.QUEUED
        assert h.dispatcher.depth == 1
        assert h.metrics.registry.get_sample_value("rod_queue_depth") == 1
        second = job(replace(EVENT, origin=heard(delivery="d-2"), job_id=43))
        assert h.submit(second) is Admission.FULL
        # The refused delivery is not remembered: a redelivery may get in later.
        assert h.submit(second) is Admission.FULL

    async def test_refuses_before_start_and_after_stop(self) -> None:
        h = Harness()
        assert h.submit(job()) is Admission.FULL
        h.dispatcher.start()
        await h.dispatcher.stop()
        assert h.submit(job()) is Admission.FULL


class TestRetries:
    async def test_nomad_5xx_then_success(self) -> None:
        h = Harness()
        jit = h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).mock(
            side_effect=[
                httpx.Response(503, text="no leader"),
                httpx.ConnectError("refused"),
                httpx.Response(200, json=CREATED),
            ]
        )
        await h.run(job())
        assert dispatch.call_count == 3
        assert jit.call_count == 1  # the credential is not fetched again
        assert len(h.waits) == 2
        assert 0 <= h.waits[0] <= 0.5 and 0 <= h.waits[1] <= 1.0
        assert h.outcome("dispatched") == 1

    async def test_rate_limit_holds_for_retry_after(self) -> None:
        h = Harness()
        h.github_api.post(JIT_PATH).mock(
            side_effect=[
                httpx.Response(429, json={"message": "slow"}, headers={"retry-after": "7"}),
                httpx.Response(201, json=JIT_ANSWER),
            ]
        )
        h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        await h.run(job())
        assert h.waits == [7.0]
        assert h.outcome("dispatched") == 1

    async def test_gives_up_after_max_attempts(self, caplog: pytest.LogCaptureFixture) -> None:
        h = Harness(backoff=Backoff(max_attempts=3, base=0.1))
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(500, text="rpc error")
        await h.run(job())
        assert dispatch.call_count == 3
        assert h.outcome("failed") == 1
        assert any(r.levelno == logging.ERROR and "FAILED" in r.message for r in caplog.records)

    async def test_failed_job_may_be_redelivered(self) -> None:
        h = Harness(backoff=Backoff(max_attempts=1))
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        h.nomad_api.post(DISPATCH_PATH).respond(500, text="rpc error")
        h.dispatcher.start()
        assert h.submit(job()) is Admission.QUEUED
        await asyncio.wait_for(h.dispatcher.join(), 5)
        assert h.outcome("failed") == 1
        assert h.submit(job()) is Admission.QUEUED
        await h.dispatcher.stop()

    async def test_rate_limit_beyond_the_deadline_holds_without_calling(self) -> None:
        # Issue 10 item 5: a reset an hour away neither fails the job nor calls GitHub again.
        never = asyncio.Event()

        async def until_reset(seconds: float) -> None:
            h.waits.append(seconds)
            await never.wait()

        h = Harness(backoff=Backoff(deadline=60.0), sleep=until_reset, grace=0.05)
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "9999999999"}
        route = h.github_api.post(JIT_PATH).respond(403, json={"message": "x"}, headers=headers)
        h.dispatcher.start()
        jobs = [
            job(replace(EVENT, origin=heard(delivery=f"d-{n}"), job_id=42 + n)) for n in range(3)
        ]
        assert [h.submit(j) for j in jobs] == [Admission.QUEUED] * 3
        while h.metrics.registry.get_sample_value("rod_queue_held") != 3:
            await asyncio.sleep(0.01)
        assert route.call_count == 1  # the others never reached GitHub
        assert h.outcome("failed") == 0 and len(h.waits) == 1 and h.waits[0] > 3600
        assert [p.start.runner_name for p in h.dispatcher.in_flight()] == [
            "rod-42-1",
            "rod-43-1",
            "rod-44-1",
        ]
        await h.dispatcher.stop()


class TestRejections:
    async def test_nomad_validation_is_not_retried(self, caplog: pytest.LogCaptureFixture) -> None:
        h = Harness()
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(
            500, text="Dispatch did not provide required meta keys: [RUNNER_NAME]"
        )
        await h.run(job())
        assert dispatch.call_count == 1
        assert h.waits == []
        assert h.outcome("rejected") == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "REJECTED" in errors[0] and "\n" not in errors[0]
        assert JIT_SECRET not in caplog.text

    async def test_oversized_payload_is_refused_before_any_call(self) -> None:
        # Issue 10 item 6: a job name of 16,100 characters (and the JIT config, then in the
        # payload) made an orphan JIT runner at every try. The credential has left the payload,
        # so that name now fits; one over the whole budget is refused before any call.
        h = Harness()
        jit = h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        await h.run(job(replace(EVENT, job_name="x" * 16_400)))
        assert not jit.called and not h.stored.called and not dispatch.called
        assert h.outcome("rejected") == 1

    async def test_github_404_is_not_retried(self) -> None:
        h = Harness()
        route = h.github_api.post(JIT_PATH).respond(404, json={"message": "Not Found"})
        await h.run(job())
        assert route.call_count == 1
        assert h.outcome("failed") == 1


class TestDrain:
    async def test_stop_finishes_queued_work(self) -> None:
        h = Harness(workers=1)
        h.github_api.post(JIT_PATH).respond(201, json=JIT_ANSWER)
        dispatch = h.nomad_api.post(DISPATCH_PATH).respond(200, json=CREATED)
        jobs = [
            job(replace(EVENT, origin=heard(delivery=f"d-{n}"), job_id=100 + n)) for n in range(5)
        ]
        assert await h.run(*jobs) == [Admission.QUEUED] * 5
        assert dispatch.call_count == 5

    async def test_stop_gives_up_at_the_deadline(self, caplog: pytest.LogCaptureFixture) -> None:
        never = asyncio.Event()

        async def stuck(seconds: float) -> None:
            await never.wait()  # a retry wait that outlives the drain deadline

        h = Harness(workers=2, queue_size=10, sleep=stuck, grace=0.05)
        h.github_api.post(JIT_PATH).respond(503, text="down")
        h.dispatcher.start()
        for n in range(3):
            h.submit(job(replace(EVENT, origin=heard(delivery=f"d-{n}"), job_id=42 + n)))
        await h.dispatcher.stop()
        assert "drain deadline of 0s passed; abandoning 3 jobs" in caplog.text
        assert h.outcome("dispatched") == 0


class MemoryIntake:
    """A second way in, as plain as can be: jobs from a list, as a listener would hear them."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.heard = 0

    def job_available(
        self, job_id: int, labels: tuple[str, ...], key: str = ""
    ) -> Ignore | Admitted:
        """Offer the pipeline a queued job, heard under `key` (a new key per message)."""
        self.heard += 1
        origin = Origin(Intake.LISTEN, key or f"request-{self.heard}")
        event = replace(EVENT, origin=origin, job_id=job_id, labels=labels)
        return self.pipeline.offer(event, received_at=0.0)


class TestIntakeSeam:
    """The pipeline serves any intake that produces the event; it never asks where from."""

    async def test_an_in_memory_intake_gets_runners_through_the_same_stages(self) -> None:
        github, nomad = FakeGitHub(), FakeNomad()
        served = ServedRepos()
        made = fakes_pipeline(github, nomad, on_repo=served.saw)
        intake = MemoryIntake(made)
        made.start()
        first = intake.job_available(7, ("self-hosted", "linux"))
        hosted = intake.job_available(8, ("ubuntu-latest",))
        again = intake.job_available(7, ("self-hosted", "linux"), key="request-1")
        await made.stop()
        assert isinstance(first, Admitted) and first.admission is Admission.QUEUED
        assert hosted == Ignore(IgnoreReason.NO_TRIGGER_LABEL)
        assert isinstance(again, Admitted) and again.admission is Admission.DUPLICATE
        assert github.calls == [("generate_jitconfig", "rod-7-1")]
        (request,) = nomad.dispatched
        assert request.idempotency_token == "rod-7-1"
        assert request.meta["RUNNER_LABELS"] == "self-hosted,linux"
        assert served.names([]) == {"octo/hello": "octo/hello"}

    async def test_two_intakes_hearing_one_job_make_one_runner(self) -> None:
        github, nomad = FakeGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad)
        made.start()
        listened = MemoryIntake(made).job_available(42, EVENT.labels)
        webhook = made.offer(EVENT, received_at=0.0)  # the same job by webhook, job 42 attempt 1
        await made.stop()
        assert isinstance(listened, Admitted) and listened.admission is Admission.QUEUED
        assert isinstance(webhook, Admitted) and webhook.admission is Admission.DUPLICATE
        assert [call for call in nomad.calls if call[0] == "dispatch"] == [("dispatch", "rod-42-1")]


def ended(job_id: int = 42, *, labels: tuple[str, ...] = EVENT.labels) -> WorkflowJobEvent:
    """GitHub's `completed` for a job cancelled while queued: no runner ever took it."""
    return replace(
        EVENT,
        origin=heard(delivery=f"done-{job_id}"),
        action="completed",
        status="completed",
        conclusion="cancelled",
        job_id=job_id,
        labels=labels,
    )


async def dispatched(runner: Runner) -> tuple[FakeGitHub, FakeNomad, Pipeline]:
    """A pipeline that dispatched job 42's runner, which GitHub now lists as `runner`."""
    github, nomad = FakeGitHub(), FakeNomad()
    made = fakes_pipeline(github, nomad)
    made.start()
    made.offer(EVENT, received_at=0.0)
    await made.join()
    github.runners["octo/hello"] = [runner]
    return github, nomad, made


class SlowJitGitHub(FakeGitHub):
    """generate-jitconfig waits for `release`; GitHub then lists the runner (offline, id 9), or
    answers with `limited`."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.limited: GitHubRateLimited | None = None  # raised once released, when set

    async def generate_jitconfig(
        self, owner: str, repo: str | None, body: Mapping[str, Any], **options: Any
    ) -> JitConfig | RunnerExists:
        self.entered.set()
        await self.release.wait()
        if self.limited is not None:
            raise self.limited
        made = await super().generate_jitconfig(owner, repo, body, **options)
        self.runners.setdefault("octo/hello", []).append(
            Runner("octo/hello", 9, str(body["name"]), "offline", False)
        )
        return made


async def in_hand(
    github: SlowJitGitHub, nomad: FakeNomad, event: WorkflowJobEvent, **options: Any
) -> Pipeline:
    """A pipeline whose one worker waits on GitHub for `event`'s runner."""
    made = fakes_pipeline(github, nomad, **options)
    made.start()
    made.offer(event, received_at=0.0)
    await asyncio.wait_for(github.entered.wait(), 5)
    return made


async def ended_in_hand(github: SlowJitGitHub, nomad: FakeNomad) -> Pipeline:
    """A pipeline whose worker waits on GitHub for job 42's runner when the job ends."""
    made = await in_hand(github, nomad, EVENT)
    made.offer(ended(), received_at=0.0)
    return made


class TestEndedJobs:
    """Issue 10 item 2: a job cancelled while queued must not leave a runner that boots idle."""

    async def test_its_waiting_runner_is_withdrawn_before_any_call(self) -> None:
        github, nomad = FakeGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad, workers=0)
        made.start()
        assert isinstance(made.offer(EVENT, received_at=0.0), Admitted)
        assert made.offer(ended(), received_at=0.0) == Ignore(IgnoreReason.COMPLETED)
        assert made.in_flight() == [] and made.depth == 0
        await asyncio.wait_for(made.join(), 5)  # nothing left unfinished
        assert github.calls == [] and nomad.calls == []

    async def test_another_waiting_runner_of_its_labels_goes_instead(self) -> None:
        # Job 42's own runner is with a worker already; job 43's, same labels, still waits.
        github, nomad = SlowJitGitHub(), FakeNomad()
        made = await in_hand(github, nomad, EVENT)
        other_labels = replace(
            EVENT, origin=heard(delivery="d-44"), job_id=44, labels=("self-hosted",)
        )
        for event in (replace(EVENT, origin=heard(delivery="d-43"), job_id=43), other_labels):
            made.offer(event, received_at=0.0)
        made.offer(ended(42), received_at=0.0)
        assert [p.start.runner_name for p in made.in_flight()] == ["rod-42-1", "rod-44-1"]
        github.release.set()
        await made.stop()

    async def test_an_org_runner_of_another_repository_of_the_organization_goes_instead(
        self,
    ) -> None:
        # An org-group pool's runners serve every repository of the group: any will do.
        group = RunnerGroup("octo", 5, "linux")
        org = Policy(pools=(Pool("org", "github-runner", runner_group="linux", group=group),))
        github = SlowJitGitHub()
        made = await in_hand(github, FakeNomad(), EVENT, policy=org)
        sibling = "octo/other"
        other_repo = replace(
            EVENT,
            origin=heard(delivery="d-43"),
            job_id=43,
            repo_full_name=sibling,
            repo_name="other",
            repo_html_url=f"https://github.com/{sibling}",
        )
        made.offer(other_repo, received_at=0.0)
        made.offer(ended(42), received_at=0.0)
        assert [p.start.runner_name for p in made.in_flight()] == ["rod-42-1"]
        github.release.set()
        await made.stop()

    async def test_a_repeated_ended_delivery_withdraws_nothing_more(self) -> None:
        # GitHub may deliver `completed` twice: other jobs' runners must stay in line.
        github, nomad = FakeGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad, workers=0)
        made.start()
        for job_id in (42, 43, 44):
            made.offer(
                replace(EVENT, origin=heard(delivery=f"d-{job_id}"), job_id=job_id), received_at=0.0
            )
        for delivery in ("done-1", "done-2", "done-3"):
            made.offer(replace(ended(), origin=heard(delivery=delivery)), received_at=0.0)
        assert [p.start.runner_name for p in made.in_flight()] == ["rod-43-1", "rod-44-1"]

    async def test_an_ended_job_never_queued_here_withdraws_no_other_runner(self) -> None:
        # Deliveries come out of order: job 42's `completed` before its `queued`. No runner of
        # 42 was ever counted here, so job 43's (same labels) is its own, and must stay.
        github, nomad = FakeGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad, workers=0)
        made.start()
        made.offer(replace(EVENT, origin=heard(delivery="d-43"), job_id=43), received_at=0.0)
        made.offer(ended(42), received_at=0.0)
        late = made.offer(EVENT, received_at=0.0)
        assert isinstance(late, Admitted) and late.admission is Admission.ENDED
        assert [p.start.runner_name for p in made.in_flight()] == ["rod-43-1"]

    async def test_a_late_queued_copy_starts_nothing(self) -> None:
        github, nomad = FakeGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad)
        made.start()
        made.offer(ended(), received_at=0.0)
        late = made.offer(EVENT, received_at=0.0)
        await made.stop()
        assert isinstance(late, Admitted) and late.admission is Admission.ENDED
        assert github.calls == [] and nomad.dispatched == []

    async def test_its_dispatched_runner_is_removed_and_its_child_stopped(self) -> None:
        github, nomad, made = await dispatched(
            Runner("octo/hello", 9, "rod-42-1", "offline", False)
        )
        made.offer(ended(), received_at=0.0)
        await made.stop()  # waits for the queue and the removal
        assert ("delete_runner", 9) in github.calls
        assert nomad.calls[-1] == ("stop_job", "github-runner/dispatch-x")

    async def test_its_runner_with_a_worker_is_removed_once_it_reaches_nomad(self) -> None:
        # The `completed` comes while a worker waits on GitHub for the runner's JIT config (a
        # pacer slot, a slow answer): nothing to withdraw yet, nothing dispatched yet.
        github, nomad = SlowJitGitHub(), FakeNomad()
        made = await ended_in_hand(github, nomad)
        github.release.set()
        await made.stop()
        assert nomad.dispatched, "the runner reached Nomad"
        assert ("delete_runner", 9) in github.calls
        assert nomad.calls[-1] == ("stop_job", "github-runner/dispatch-x")

    async def test_its_runner_with_a_worker_is_withdrawn_when_github_then_says_wait(
        self,
    ) -> None:
        # Its job ended while GitHub's pacer held the call; then the rate limit is spent: the
        # runner is not held for after the reset, only to be made and removed then.
        github, nomad = SlowJitGitHub(), FakeNomad()
        made = await ended_in_hand(github, nomad)
        github.limited = GitHubRateLimited("spent", status=403, retry_after=3600)
        github.release.set()
        await asyncio.wait_for(made.join(), 5)  # nothing held
        await made.stop()
        assert nomad.calls == [] and made.in_flight() == []

    async def test_a_runner_of_its_labels_still_waiting_goes_instead_of_the_one_in_hand(
        self,
    ) -> None:
        # Job 42's runner is with a worker, job 43's (same labels) waits: job 43's is withdrawn,
        # and 42's, once dispatched, is kept for whichever job GitHub gives it.
        github, nomad = SlowJitGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad, workers=1)
        made.start()
        made.offer(EVENT, received_at=0.0)
        await asyncio.wait_for(github.entered.wait(), 5)
        made.offer(replace(EVENT, origin=heard(delivery="d-43"), job_id=43), received_at=0.0)
        made.offer(ended(), received_at=0.0)
        assert made.depth == 0
        github.release.set()
        await made.stop()
        assert [request.idempotency_token for request in nomad.dispatched] == ["rod-42-1"]
        assert not any(call[0] == "delete_runner" for call in github.calls)
        assert not any(call[0] == "stop_job" for call in nomad.calls)

    async def test_shutdown_lets_a_removal_under_way_finish_within_the_grace(self) -> None:
        github, nomad, made = await dispatched(
            Runner("octo/hello", 9, "rod-42-1", "offline", False)
        )
        find = github.find_runner

        async def slow(owner: str, repo: str | None, name: str) -> Runner | None:
            await asyncio.sleep(0.2)  # GitHub's pacer, a slow answer
            return await find(owner, repo, name)

        github.find_runner = slow  # type: ignore[method-assign]
        made.offer(ended(), received_at=0.0)  # the removal starts...
        await made.stop()  # ...and SIGTERM comes at once
        assert ("delete_runner", 9) in github.calls
        assert nomad.calls[-1] == ("stop_job", "github-runner/dispatch-x")

    async def test_the_child_is_stopped_through_a_nomad_hiccup(self) -> None:
        _, nomad, made = await dispatched(Runner("octo/hello", 9, "rod-42-1", "offline", False))
        stop = nomad.stop_job
        failures = [NomadError("Nomad DELETE /v1/job/x: 500 rpc error", status=500)]

        async def flaky(job_id: str) -> None:
            if failures:
                raise failures.pop()
            await stop(job_id)

        nomad.stop_job = flaky  # type: ignore[method-assign]
        made.offer(ended(), received_at=0.0)
        for _ in range(200):
            if ("stop_job", "github-runner/dispatch-x") in nomad.calls:
                break
            await asyncio.sleep(0.01)
        await made.stop()
        assert ("stop_job", "github-runner/dispatch-x") in nomad.calls and failures == []

    async def test_a_busy_runner_is_left_with_its_child(self) -> None:
        github, nomad, made = await dispatched(Runner("octo/hello", 9, "rod-42-1", "online", True))
        made.offer(ended(), received_at=0.0)
        for _ in range(10):
            await asyncio.sleep(0)
        await made.stop()
        assert not any(
            call[0] in ("delete_runner", "stop_job") for call in [*github.calls, *nomad.calls]
        )

    async def test_a_job_that_ran_on_a_runner_withdraws_nothing(self) -> None:
        github, nomad = FakeGitHub(), FakeNomad()
        made = fakes_pipeline(github, nomad, workers=0)
        made.start()
        made.offer(replace(EVENT, origin=heard(delivery="d-43"), job_id=43), received_at=0.0)
        ran = replace(ended(), runner_id=7, runner_name="rod-43-1", conclusion="success")
        made.offer(ran, received_at=0.0)
        assert [p.start.runner_name for p in made.in_flight()] == ["rod-43-1"]


RUNNER_JOB = ListedJob("github-runner", "batch", True, False)


class NomadWithoutRunnerJob(FakeNomad):
    """Nomad whose dispatch refuses a runner job that is not registered (yet)."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs = {}

    async def dispatch(self, request: DispatchRequest) -> DispatchResult:
        if request.job_id in self.jobs:
            return await super().dispatch(request)
        self.calls.append(("dispatch", request.idempotency_token))
        # nomad/job_endpoint.go Dispatch, through command/agent/http.go wrap(): 500, plain text
        where = f"Nomad POST /v1/job/{request.job_id}/dispatch"
        raise RunnerJobMissing(f"{where}: 500 parameterized job not found", status=500)


def queued(job_id: int) -> WorkflowJobEvent:
    """A queued job of its own (origin, id)."""
    return replace(EVENT, origin=heard(delivery=f"d-{job_id}"), job_id=job_id)


async def until(condition: Callable[[], bool]) -> None:
    """Let the workers run until `condition()` holds (waiting, not timing)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


class TestRunnerJobMissing:
    """While Nomad cannot dispatch from the runner job, no runner is made for it; its runners
    wait in line and each gets exactly one runner once the job is registered."""

    @staticmethod
    def made(github: FakeGitHub) -> list[str]:
        return [name for call, name in github.calls if call == "generate_jitconfig"]

    async def test_known_at_start_no_runner_is_made_until_it_is_registered(self) -> None:
        github, nomad, metrics = FakeGitHub(), NomadWithoutRunnerJob(), Metrics()
        check = job_check(nomad, "default")
        made = fakes_pipeline(
            github, nomad, metrics=metrics, check_job=check, runner_job_recheck_seconds=0.1
        )
        await made.check_runner_jobs(["github-runner"], 5.0)
        made.start()
        assert made.held_for_runner_jobs() == {"github-runner": 0}
        names = [made.offer(queued(n), received_at=0.0) for n in range(1, 6)]
        await until(lambda: made.held_for_runner_jobs() == {"github-runner": 5})
        assert self.made(github) == []  # on main: one JIT runner per job, each dispatch refused
        assert not [call for call in nomad.calls if call[0] in ("put_variable", "dispatch")]
        held = metrics.registry.get_sample_value("rod_runner_job_held", {"job": "github-runner"})
        assert (held, made.depth) == (5.0, 0)

        nomad.jobs["github-runner"] = RUNNER_JOB  # nomad job run github-runner.nomad.hcl
        await made.join()
        await made.stop()
        runners = [f"rod-{n}-1" for n in range(1, 6)]
        assert [a.start.runner_name for a in names if isinstance(a, Admitted)] == runners
        assert self.made(github) == runners  # one each, in the order they came
        assert [r.idempotency_token for r in nomad.dispatched] == runners
        assert made.held_for_runner_jobs() == {}

    async def test_a_refused_dispatch_parks_the_rest_and_its_own_runner(self) -> None:
        github, nomad, metrics = FakeGitHub(), NomadWithoutRunnerJob(), Metrics()
        made = fakes_pipeline(
            github,
            nomad,
            metrics=metrics,
            check_job=job_check(nomad, "default"),
            runner_job_recheck_seconds=0.1,
        )
        made.start()
        for n in range(1, 6):
            made.offer(queued(n), received_at=0.0)
        await until(lambda: made.held_for_runner_jobs() == {"github-runner": 5})
        # one worker: the first runner learnt it; nothing more was made while it is missing
        assert self.made(github) == ["rod-1-1"]
        assert [name for call, name in nomad.calls if call == "dispatch"] == ["rod-1-1"]

        nomad.jobs["github-runner"] = RUNNER_JOB
        await made.join()
        await made.stop()
        runners = [f"rod-{n}-1" for n in range(1, 6)]
        assert [r.idempotency_token for r in nomad.dispatched] == runners  # one child each
        # the first one's credential was stored: its Variable is the one its child reads
        assert sorted(p.rsplit("/", 1)[1] for p in nomad.variables) == runners
        outcomes = metrics.registry.get_sample_value(
            "rod_dispatches_total", {"outcome": "dispatched"}
        )
        assert outcomes == 5.0

    async def test_a_job_that_ends_while_its_runner_waits_gets_none(self) -> None:
        github, nomad = FakeGitHub(), NomadWithoutRunnerJob()
        made = fakes_pipeline(
            github, nomad, check_job=job_check(nomad, "default"), runner_job_recheck_seconds=0.1
        )
        await made.check_runner_jobs(["github-runner"], 5.0)
        made.start()
        assert made.held_for_runner_jobs() == {"github-runner": 0}
        made.offer(queued(1), received_at=0.0)
        made.offer(queued(2), received_at=0.0)
        await until(lambda: made.held_for_runner_jobs() == {"github-runner": 2})
        made.offer(replace(ended(1), origin=heard(delivery="d-e1")), received_at=0.0)
        assert made.held_for_runner_jobs() == {"github-runner": 1}
        nomad.jobs["github-runner"] = RUNNER_JOB
        await made.join()
        await made.stop()
        assert [r.idempotency_token for r in nomad.dispatched] == ["rod-2-1"]

    async def test_without_a_check_a_refused_dispatch_is_rejected(self) -> None:
        github, nomad = FakeGitHub(), NomadWithoutRunnerJob()
        made = fakes_pipeline(github, nomad)
        made.start()
        made.offer(queued(1), received_at=0.0)
        await made.join()
        await made.stop()
        assert made.held_for_runner_jobs() == {} and nomad.dispatched == []


class BrokenRepoGitHub(FakeGitHub):
    """GitHub whose calls for one repository keep failing (500), the others answering."""

    async def generate_jitconfig(
        self,
        owner: str,
        repo: str | None,
        body: Mapping[str, Any],
        *,
        installation_id: int | None = None,
    ) -> JitConfig | RunnerExists:
        if repo == "broken":
            self.calls.append(("generate_jitconfig", body["name"]))
            raise GitHubError("GitHub POST generate-jitconfig: 500 Server Error", status=500)
        return await super().generate_jitconfig(owner, repo, body, installation_id=installation_id)


class TestBackoffHoldsNoWorker:
    """A runner whose calls back off (one repository's GitHub calls failing) does not keep a
    worker: the runners behind it, of other repositories, go ahead."""

    @staticmethod
    def stuck() -> tuple[Pipeline, BrokenRepoGitHub, FakeNomad, list[float]]:
        """One worker; the broken repository's runners back off for longer than the test."""
        github, nomad = BrokenRepoGitHub(), FakeNomad()
        waits: list[float] = []
        never = asyncio.Event()

        async def long_backoff(seconds: float) -> None:
            waits.append(seconds)
            await never.wait()

        retrier = Retrier(Backoff(max_attempts=40, base=5.0, cap=30.0), sleep=long_backoff)
        credentials = GitHubCredentials(github, mode="jit", runner_group_id=1, remembered=100)
        made = Pipeline(
            LocalCarrier(credentials, nomad, retrier),
            policy=Policy(),
            settings=ServerSettings(workers=1, shutdown_grace_seconds=0.0),
            metrics=Metrics(),
            retrier=Retrier(),
        )
        made.start()
        return made, github, nomad, waits

    @staticmethod
    def broken(job_id: int) -> WorkflowJobEvent:
        return replace(queued(job_id), repo_full_name="octo/broken", repo_name="broken")

    async def test_a_backing_off_runner_lets_the_next_one_through(self) -> None:
        made, github, nomad, waits = self.stuck()
        made.offer(self.broken(1), received_at=0.0)
        made.offer(queued(2), received_at=0.0)
        # on main the one worker sleeps inside rod-1-1's backoff, and rod-2-1 waits behind it
        await until(lambda: [r.idempotency_token for r in nomad.dispatched] == ["rod-2-1"])
        assert len(waits) == 1 and ("generate_jitconfig", "rod-1-1") in github.calls
        assert [p.start.runner_name for p in made.in_flight()] == ["rod-1-1"]  # still its own
        await made.stop()  # the grace passed: the backing-off runner is given up

    async def test_at_most_workers_runners_back_off_beside_the_workers(self) -> None:
        made, github, nomad, waits = self.stuck()
        for job_id in (1, 2, 3):
            made.offer(self.broken(job_id), received_at=0.0)
        made.offer(queued(4), received_at=0.0)
        await until(lambda: len(waits) == 2)
        for _ in range(20):  # what a third replacement would have started
            await asyncio.sleep(0)
        # one runner backs off beside the one worker, which then waits out the next one's
        assert len(waits) == 2 and nomad.dispatched == []
        assert ("generate_jitconfig", "rod-3-1") not in github.calls
        await made.stop()
