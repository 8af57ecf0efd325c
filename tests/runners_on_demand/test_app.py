"""The HTTP edge through `httpx.ASGITransport`, with GitHub and Nomad mocked by respx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx
from starlette.applications import Starlette

from runners_on_demand.app import create_app
from runners_on_demand.config import load_settings
from runners_on_demand.errors import ConfigError
from simulator.github import GitHubEmulator
from simulator.nomad import NomadEmulator

SAMPLES = Path(__file__).parents[1] / "samples" / "workflow_job"
SECRET = "webhook-secret-for-tests"
PAT = "ghp_pat_secret_for_tests"
NOMAD_TOKEN = "nomad-token-secret"
JIT_SECRET = "encoded-jit-config-secret"
GITHUB = "https://api.github.test"
NOMAD = "http://nomad.test:4646"
QUEUED = json.loads((SAMPLES / "06.queued.json").read_text())  # labels self-hosted, k8s
QUEUED["workflow_job"]["status"] = "queued"  # approved: the example still awaits approval
REPO = QUEUED["repository"]["full_name"]
JOB_ID = QUEUED["workflow_job"]["id"]
RUNNER = f"rod-{JOB_ID}-{QUEUED['workflow_job']['run_attempt']}"
JIT_PATH = f"/repos/{REPO}/actions/runners/generate-jitconfig"
DISPATCH_PATH = "/v1/job/github-runner/dispatch"
# The runner job as `GET /v1/jobs` lists it (a JobListStub), for `/readyz`.
RUNNER_JOB = {"ID": "github-runner", "Type": "batch", "ParameterizedJob": True, "Stop": False}
ENV = {
    "GITHUB_WEBHOOK_SECRET": SECRET,
    "GITHUB_TOKEN": PAT,
    "GITHUB_API_URL": GITHUB,
    "NOMAD_ADDR": NOMAD,
    "NOMAD_TOKEN": NOMAD_TOKEN,
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(
    payload: object,
    *,
    event: str = "workflow_job",
    delivery_id: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    hook_id: str = "101",
    form: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """A signed delivery: body and headers as GitHub sends them."""
    document = json.dumps(payload)
    body = urlencode({"payload": document}).encode() if form else document.encode()
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": hook_id,
        "X-Hub-Signature-256": sign(body),
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    return body, headers


def job_payload(action: str = "queued", job_id: int = JOB_ID) -> dict[str, Any]:
    """The vendored queued example with another action or job id."""
    payload: dict[str, Any] = json.loads(json.dumps(QUEUED))
    payload["action"] = action
    payload["workflow_job"]["id"] = job_id
    return payload


@dataclass
class Rig:
    client: httpx.AsyncClient
    app: Starlette
    github: respx.Router
    nomad: respx.Router

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.app.state.metrics.registry.get_sample_value(name, labels or {})
        return float(value or 0.0)


def mocked_app(toml: str | None = None, **env: str) -> tuple[Starlette, respx.Router, respx.Router]:
    """The app, GitHub and Nomad behind respx routers that answer as they do; the routers."""
    github = respx.Router(base_url=GITHUB, assert_all_called=False)
    nomad = respx.Router(base_url=NOMAD, assert_all_called=False)
    github.post(JIT_PATH).respond(
        201, json={"runner": {"id": 5, "name": RUNNER}, "encoded_jit_config": JIT_SECRET}
    )
    nomad.post(DISPATCH_PATH).respond(
        200, json={"DispatchedJobID": "github-runner/dispatch-1-aa", "EvalID": "e1"}
    )
    nomad.put(path__startswith="/v1/var/").respond(
        200, json={"Path": f"nomad/jobs/github-runner/credentials/{RUNNER}", "ModifyIndex": 2}
    )
    nomad.get("/v1/jobs", params__contains={"per_page": "1"}).respond(200, json=[RUNNER_JOB])
    app = create_app(
        load_settings({**ENV, **env}, toml),
        github_transport=httpx.MockTransport(github.async_handler),
        nomad_transport=httpx.MockTransport(nomad.async_handler),
    )
    return app, github, nomad


@asynccontextmanager
async def rig(toml: str | None = None, **env: str) -> AsyncIterator[Rig]:
    """The app with its lifespan running; leaving the block drains the workers."""
    app, github, nomad = mocked_app(toml, **env)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://rod.test") as client,
    ):
        yield Rig(client, app, github, nomad)


def one_line_error(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    assert "\n" not in response.text
    body = response.json()
    assert set(body) == {"error"}
    message: str = body["error"]
    return message


PREVIOUS = "webhook-secret-before-the-rotation"
ROTATING = {"GITHUB_WEBHOOK_SECRET_PREVIOUS": PREVIOUS}


class TestSecretRotation:
    """GITHUB_WEBHOOK_SECRET_PREVIOUS: the secret being replaced, accepted until it is unset."""

    async def test_a_delivery_signed_with_the_previous_secret_is_taken_and_counted(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # GitHub signs with the hook's one secret from the moment it is saved, so during a
        # rotation one side has the new secret and the other the old: every delivery got 401.
        body, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, PREVIOUS)
        caplog.set_level(logging.INFO, logger="runners_on_demand.webhook_edge")
        async with rig(**ROTATING) as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
            assert (response.status_code, response.json()) == (202, {"queued": RUNNER})
            assert r.metric("rod_webhook_previous_secret_total") == 1
        line = f"delivery {headers['X-GitHub-Delivery']} signed with GITHUB_WEBHOOK_SECRET_PREVIOUS"
        assert line in caplog.messages
        assert PREVIOUS not in caplog.text and SECRET not in caplog.text

    async def test_the_current_secret_is_not_counted_as_the_previous(self) -> None:
        body, headers = delivery(job_payload())
        async with rig(**ROTATING) as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
            assert response.status_code == 202
            assert r.metric("rod_webhook_previous_secret_total") == 0

    async def test_a_malformed_delivery_signed_with_the_previous_secret_is_counted(self) -> None:
        body = b'{"action": "queued", "workflow_job": '
        _, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, PREVIOUS)
        async with rig(**ROTATING) as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
            assert response.status_code == 400  # signed, so its fault is the body's
            assert r.metric("rod_webhook_previous_secret_total") == 1
            labels = {"event": "workflow_job", "outcome": "malformed"}
            assert r.metric("rod_webhooks_total", labels) == 1

    async def test_any_other_secret_is_still_refused(self) -> None:
        body, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, "neither-secret")
        async with rig(**ROTATING) as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
            assert response.status_code == 401
            assert one_line_error(response) == "X-Hub-Signature-256 does not match the body"
            assert r.metric("rod_webhook_previous_secret_total") == 0
            assert not r.github.routes[0].called

    async def test_without_it_the_previous_secret_is_refused(self) -> None:
        body, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, PREVIOUS)
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
            assert response.status_code == 401


class TestWebhookAuthenticity:
    async def test_wrong_signature(self) -> None:
        body, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, "not-the-secret")
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 401
        assert "does not match" in one_line_error(response)
        assert not r.github.routes[0].called and not r.nomad.routes[0].called
        labels = {"event": "unverified", "outcome": "bad_signature"}
        assert r.metric("rod_webhooks_total", labels) == 1

    async def test_missing_signature(self) -> None:
        body, headers = delivery(job_payload())
        del headers["X-Hub-Signature-256"]
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 401
        assert "missing" in one_line_error(response)

    async def test_a_second_signature_header_is_refused(self) -> None:
        # Issue 10 item 8: bogus-then-valid passed, parsing keeping the last and logging the first.
        body, headers = delivery(job_payload())
        valid = headers.pop("X-Hub-Signature-256")
        both = [*headers.items(), ("X-Hub-Signature-256", "sha256=" + "0" * 64)]
        async with rig() as r:
            response = await r.client.post(
                "/webhook", content=body, headers=[*both, ("X-Hub-Signature-256", valid)]
            )
        assert response.status_code == 401
        assert one_line_error(response) == "X-Hub-Signature-256 header sent more than once"
        assert not r.github.routes[0].called

    async def test_an_unverified_delivery_id_cannot_forge_a_log_line(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Issue 10 item 8: "fake status=202 outcome=queued" was logged as it came.
        body, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, "not-the-secret")
        headers["X-GitHub-Delivery"] = "fake status=202 outcome=queued"
        caplog.set_level(logging.INFO, logger="runners_on_demand.webhook_edge")
        async with rig() as r:
            await r.client.post("/webhook", content=body, headers=headers)
        (line,) = [m for m in caplog.messages if m.startswith("delivery ")]
        assert line.startswith("delivery unreadable:fake?status?202?outcome?queued event=")
        assert line.count("status=") == 1 and line.count("outcome=") == 1

    async def test_an_unsigned_repeated_event_header_is_neither_a_label_nor_a_log_field(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # A repeated X-GitHub-Event was refused before the signature was checked, as malformed,
        # and a malformed delivery's event is trusted: a forger chose the metric label (up to
        # the 100 allowed, which then shuts real events out) and the log line's fields.
        body, headers = delivery(job_payload())
        headers["X-Hub-Signature-256"] = sign(body, "not-the-secret")
        del headers["X-GitHub-Event"]
        forged = "fake status=202 outcome=queued"
        caplog.set_level(logging.INFO, logger="runners_on_demand.webhook_edge")
        async with rig() as r:
            response = await r.client.post(
                "/webhook",
                content=body,
                headers=[*headers.items(), ("X-GitHub-Event", forged), ("X-GitHub-Event", "x")],
            )
            assert response.status_code == 401
            assert one_line_error(response) == "X-Hub-Signature-256 does not match the body"
            assert r.metric("rod_webhooks_total", {"event": forged, "outcome": "malformed"}) == 0
            labels = {"event": "unverified", "outcome": "bad_signature"}
            assert r.metric("rod_webhooks_total", labels) == 1
        (line,) = [m for m in caplog.messages if m.startswith("delivery ")]
        assert line.count("status=") == 1 and line.count("outcome=") == 1

    async def test_sha1_only(self) -> None:
        body, headers = delivery(job_payload())
        del headers["X-Hub-Signature-256"]
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, "sha1").hexdigest()
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 401
        assert "SHA-1" in one_line_error(response)


class TestWebhookBadInput:
    async def test_malformed_json(self) -> None:
        body = b'{"action": "queued", '
        _, headers = delivery({})
        headers["X-Hub-Signature-256"] = sign(body)
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 400
        assert "not valid JSON" in one_line_error(response)

    async def test_missing_field(self) -> None:
        payload = job_payload()
        del payload["workflow_job"]["labels"]
        body, headers = delivery(payload)
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 400
        assert one_line_error(response) == "workflow_job.labels is missing"
        labels = {"event": "workflow_job", "outcome": "malformed"}
        assert r.metric("rod_webhooks_total", labels) == 1

    async def test_unsupported_content_type(self) -> None:
        body, headers = delivery(job_payload())
        headers["Content-Type"] = "text/plain"
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 400
        assert "Content-Type" in one_line_error(response)

    async def test_declared_length_over_cap(self) -> None:
        body, headers = delivery(job_payload())
        async with rig("[server]\nmax_body_bytes = 2048\n") as r:
            big = body + b" " * 4096
            headers["X-Hub-Signature-256"] = sign(big)
            response = await r.client.post("/webhook", content=big, headers=headers)
        assert response.status_code == 413
        assert "2048-byte limit" in one_line_error(response)

    async def test_streamed_body_is_not_read_whole(self) -> None:
        sent = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal sent
            for _ in range(100):
                sent += 1
                yield b"x" * 65536

        _, headers = delivery({})
        async with rig() as r:  # default cap: 1 MiB = 16 chunks
            response = await r.client.post("/webhook", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert sent < 100

    async def test_bad_content_length(self) -> None:
        body, headers = delivery(job_payload())
        async with rig() as r:
            request = r.client.build_request("POST", "/webhook", content=body, headers=headers)
            request.headers["Content-Length"] = "lots"
            response = await r.client.send(request)
        assert response.status_code == 400
        assert "Content-Length" in one_line_error(response)

    async def test_unexpected_error_is_one_line_500(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        def explode(*args: object) -> None:
            raise RuntimeError("kaboom")

        monkeypatch.setattr("runners_on_demand.pipeline.decide", explode)
        body, headers = delivery(job_payload())
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 500
        message = one_line_error(response)
        assert "kaboom" not in message and "Traceback" not in response.text
        assert "kaboom" in caplog.text  # the operator sees it in the log


class TestWebhookEvents:
    async def test_ping(self) -> None:
        body, headers = delivery({"zen": "Design for failure.", "hook_id": 101}, event="ping")
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 200
        assert r.metric("rod_webhooks_total", {"event": "ping", "outcome": "pong"}) == 1

    async def test_other_event_ignored(self) -> None:
        body, headers = delivery({"ref": "refs/heads/main"}, event="push")
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 202
        assert response.json() == {"ignored": "event:push"}
        assert r.metric("rod_webhooks_ignored_total", {"reason": "event:push"}) == 1
        assert r.metric("rod_webhooks_total", {"event": "push", "outcome": "ignored"}) == 1

    @pytest.mark.parametrize("action", ["waiting", "in_progress", "completed"])
    async def test_not_queued_ignored(self, action: str) -> None:
        body, headers = delivery(job_payload(action))
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.status_code == 202
        assert response.json() == {"ignored": f"action:{action}"}
        assert not r.github.routes[0].called
        assert r.metric("rod_webhooks_ignored_total", {"reason": f"action:{action}"}) == 1

    async def test_queued_without_trigger_label(self) -> None:
        payload = job_payload()
        payload["workflow_job"]["labels"] = ["ubuntu-latest"]
        body, headers = delivery(payload)
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.json() == {"ignored": "label:no-trigger"}

    async def test_queued_is_dispatched_once(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        body, headers = delivery(job_payload())
        async with rig() as r:
            first = await r.client.post("/webhook", content=body, headers=headers)
            again = await r.client.post("/webhook", content=body, headers=headers)
        # Leaving rig() drained the queue: the dispatch has happened.
        assert first.status_code == 202 and first.json() == {"queued": RUNNER}
        assert again.status_code == 202 and again.json() == {"duplicate": RUNNER}
        dispatch = r.nomad.routes[0]
        assert dispatch.call_count == 1
        request = dispatch.calls.last.request
        assert request.url.params["idempotency_token"] == RUNNER
        assert request.headers["X-Nomad-Token"] == NOMAD_TOKEN
        assert r.metric("rod_dispatches_total", {"outcome": "dispatched"}) == 1
        assert r.metric("rod_webhook_ack_seconds_count") == 2
        for secret in (SECRET, PAT, NOMAD_TOKEN, JIT_SECRET):
            assert secret not in caplog.text
            assert secret not in first.text + again.text
        assert f"runner={RUNNER}" in caplog.text

    async def test_form_encoded_delivery(self) -> None:
        body, headers = delivery(job_payload(), form=True)
        async with rig() as r:
            response = await r.client.post("/webhook", content=body, headers=headers)
        assert response.json() == {"queued": RUNNER}
        assert r.nomad.routes[0].call_count == 1

    async def test_full_queue_answers_503(self) -> None:
        gate = asyncio.Event()
        async with rig("[server]\nqueue_size = 1\nworkers = 1\n") as r:

            async def slow(request: httpx.Request) -> httpx.Response:
                await gate.wait()
                return httpx.Response(201, json={"encoded_jit_config": JIT_SECRET})

            r.github.routes[0].side_effect = slow
            statuses = []
            for n in range(3):
                body, headers = delivery(job_payload(job_id=1000 + n), delivery_id=f"d-{n}")
                response = await r.client.post("/webhook", content=body, headers=headers)
                statuses.append(response.status_code)
                if response.status_code == 503:
                    assert "queue is full" in one_line_error(response)
            gate.set()
        assert 503 in statuses
        assert r.nomad.routes[0].call_count == statuses.count(202)
        assert r.metric("rod_webhooks_total", {"event": "workflow_job", "outcome": "queue_full"})


class TestOtherEndpoints:
    async def test_healthz(self) -> None:
        async with rig() as r:
            response = await r.client.get("/healthz")
        assert response.status_code == 200

    async def test_readyz(self) -> None:
        async with rig() as r:
            health = r.nomad.get("/v1/agent/health").respond(200, json={})
            r.nomad.get("/v1/acl/token/self").respond(400, text="ACL support disabled")
            r.github.get("/rate_limit").respond(
                200, json={}, headers={"x-ratelimit-remaining": "77"}
            )
            response = await r.client.get("/readyz")
            assert response.status_code == 200
            assert response.json() == {
                "nomad": "ok",
                "github": "ok",
                "nomad_token": "Nomad's ACLs are off: no token needed",
                "runner_jobs": "ok",
            }
            assert health.calls.last.request.headers["X-Nomad-Token"] == NOMAD_TOKEN
            metrics = (await r.client.get("/metrics")).text
        assert "rod_github_rate_limit_remaining 77.0" in metrics

    async def test_readyz_names_what_the_token_lacks(self) -> None:
        credentials = {
            "PathSpec": "nomad/jobs/github-runner/credentials/*",
            "Capabilities": ["write", "destroy", "list"],
        }
        state = {"PathSpec": "rod/served-repos", "Capabilities": ["read", "write"]}
        namespace = {
            "Name": "default",
            "Capabilities": ["list-jobs", "dispatch-job"],
            "Variables": {"Paths": [credentials, state]},
        }
        rules = {"Namespaces": [namespace]}
        async with rig() as r:
            r.nomad.get("/v1/agent/health").respond(200, json={})
            r.nomad.get("/v1/acl/token/self").respond(
                200, json={"Type": "client", "Policies": ["rod"], "Roles": None}
            )
            r.nomad.get("/v1/acl/policy/rod").respond(200, json={"RulesJSON": rules})
            r.github.get("/rate_limit").respond(200, json={})
            response = await r.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["nomad_token"] == (
            'NOMAD_TOKEN lacks "deregister-job" or "submit-job" or "purge-job" in namespace '
            '"default" (to stop a surplus runner\'s job)'
        )

    async def test_readyz_is_probed_once_per_few_seconds(self) -> None:
        # Issue 10 item 8: unauthenticated, and each call made one GitHub and one Nomad call.
        async with rig() as r:
            health = r.nomad.get("/v1/agent/health").respond(200, json={})
            r.nomad.get("/v1/acl/token/self").respond(400, text="ACL support disabled")
            rate = r.github.get("/rate_limit").respond(200, json={})
            answers = await asyncio.gather(*(r.client.get("/readyz") for _ in range(20)))
            answers.append(await r.client.get("/readyz"))
        assert [a.status_code for a in answers] == [200] * 21
        assert (health.call_count, rate.call_count) == (1, 1)

    async def test_readyz_when_nomad_is_down(self) -> None:
        async with rig() as r:
            r.nomad.get("/v1/agent/health").mock(side_effect=httpx.ConnectError("refused"))
            r.nomad.get("/v1/acl/token/self").mock(side_effect=httpx.ConnectError("refused"))
            r.github.get("/rate_limit").respond(200, json={})
            response = await r.client.get("/readyz")
        assert response.status_code == 503
        assert "ConnectError" in response.json()["nomad"]
        assert response.json()["github"] == "ok"

    async def test_readyz_when_a_check_breaks(self, caplog: pytest.LogCaptureFixture) -> None:
        async with rig() as r:
            r.nomad.get("/v1/agent/health").respond(200, json={})
            r.nomad.get("/v1/acl/token/self").respond(400, text="ACL support disabled")
            r.github.get("/rate_limit").mock(side_effect=RuntimeError("a bug"))
            response = await r.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["github"] == "unexpected error; see the log"
        assert "readiness probe failed" in caplog.text and "a bug" in caplog.text

    async def test_a_bug_is_a_one_line_500(self) -> None:
        async with rig() as r:
            r.app.state.metrics.render = lambda: 1 / 0
            transport = httpx.ASGITransport(app=r.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://rod.test") as c:
                response = await c.get("/metrics")
        assert response.status_code == 500
        assert one_line_error(response) == "internal error; see the log"

    async def test_metrics(self) -> None:
        body, headers = delivery({}, event="ping")
        async with rig() as r:
            await r.client.post("/webhook", content=body, headers=headers)
            response = await r.client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        assert 'rod_webhooks_total{event="ping",outcome="pong"} 1.0' in response.text
        assert "rod_queue_depth 0.0" in response.text

    async def test_unknown_path_and_method(self) -> None:
        async with rig() as r:
            missing = await r.client.get("/nope")
            wrong = await r.client.get("/webhook")
        assert missing.status_code == 404 and one_line_error(missing)
        assert wrong.status_code == 405 and one_line_error(wrong)

    async def test_a_trailing_slash_is_not_redirected(self) -> None:
        # GitHub does not follow a redirect: a hook URL ending in "/" must say it is wrong, not
        # answer 307 (Starlette's redirect_slashes) to an http:// URL built from the Host header.
        body, headers = delivery(job_payload())
        async with rig() as r:
            response = await r.client.post("/webhook/", content=body, headers=headers)
            dispatched = [c for c in r.nomad.calls if c.request.url.path == DISPATCH_PATH]
        assert response.status_code == 404 and one_line_error(response) == "Not Found"
        assert dispatched == []


class TestCreateApp:
    def test_refuses_an_empty_secret(self) -> None:
        settings = load_settings({**ENV, "GITHUB_WEBHOOK_SECRET": "x"})
        with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET"):
            create_app(replace(settings, webhook_secret=""))


@asynccontextmanager
async def served_by(
    nomad: NomadEmulator, toml: str | None = None, **env: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app against the GitHub and Nomad emulators over real HTTP; a client on it."""
    with GitHubEmulator(tokens=[PAT]) as github:
        environ = {**ENV, "GITHUB_API_URL": github.url, "NOMAD_ADDR": nomad.url, **env}
        del environ["NOMAD_TOKEN"]
        app = create_app(load_settings(environ, toml))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://rod.test") as client,
        ):
            yield client


class TestRunnerJobReadiness:
    """`/readyz` is 503 while a dispatch would fail: its runner job missing, stopped, elsewhere."""

    async def test_ready_with_the_runner_job_registered(self, registered: NomadEmulator) -> None:
        async with served_by(registered) as client:
            ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()["runner_jobs"]) == (200, "ok")

    async def test_a_runner_job_not_registered(self) -> None:
        with NomadEmulator() as nomad:
            async with served_by(nomad) as client:
                ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["nomad"] == "ok"
        assert ready.json()["runner_jobs"] == (
            "runner job github-runner is not registered in namespace default"
        )

    async def test_nomad_namespace_pointing_elsewhere(self, registered: NomadEmulator) -> None:
        async with served_by(registered, NOMAD_NAMESPACE="ci") as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["runner_jobs"] == (
            "runner job github-runner is not registered in namespace ci"
        )

    async def test_a_stopped_runner_job(self, registered: NomadEmulator) -> None:
        with httpx.Client(base_url=registered.url) as nomad:
            assert nomad.delete("/v1/job/github-runner").is_success  # nomad job stop
        async with served_by(registered) as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["runner_jobs"] == (
            "runner job github-runner is stopped in namespace default"
        )

    async def test_every_pools_runner_job_is_checked(self, registered: NomadEmulator) -> None:
        with httpx.Client(base_url=registered.url) as nomad:
            service = {**nomad.get("/v1/job/github-runner").json(), "ID": "gpu-runner"}
            service.update(Type="service", ParameterizedJob=None, Name="gpu-runner")
            assert nomad.put("/v1/jobs", json={"Job": service}).is_success, "registered"
        pools = (
            '[[pools]]\nname = "gpu"\nnomad_job = "gpu-runner"\nlabels = ["gpu"]\n'
            '[[pools]]\nname = "arm"\nnomad_job = "arm-runner"\nlabels = ["arm"]\n'
            '[[pools]]\nname = "default"\nnomad_job = "github-runner"\nlabels = []\n'
        )
        async with served_by(registered, pools) as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["runner_jobs"] == (
            "runner job gpu-runner is not a parameterized batch job (it is a service job); "
            "runner job arm-runner is not registered in namespace default"
        )
