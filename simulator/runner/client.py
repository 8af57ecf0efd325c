"""Client of the simulator-only runner API (`{ServerUrl}` = emulator base + `/_actions`).

The real runner's broker protocol is private; docs/architecture.md fixes this stand-in:
register, open a session, long-poll for a job, complete it, close the session. Every call but
register carries `Authorization: Bearer <runner secret>`. HTTP outcomes become this package's
errors here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulator.runner.errors import CredentialRejected, ServerUnavailable

ACTIONS_PATH = "/_actions"
# How the fake runner introduces itself; the living documentation draws its calls by this.
USER_AGENT = "rod-sim-runner/0.1"


@dataclass(frozen=True)
class Session:
    """An open session: the runner is online."""

    session_id: str
    runner_id: int


@dataclass(frozen=True)
class Job:
    """A job offered to this runner, with its scripted duration and outcome."""

    job_id: int
    run_id: int
    name: str
    labels: tuple[str, ...]
    duration_seconds: float
    conclusion: str


def actions_base_for(repo_url: str) -> str:
    """Runner API base for a repository URL: its origin + `/_actions` (config.sh's `--url`)."""
    parts = urlsplit(repo_url)
    return f"{parts.scheme}://{parts.netloc}{ACTIONS_PATH}"


def _message(response: httpx.Response) -> str:
    """The server's one-line reason: JSON `message`, else the start of the text body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = body.get("message") if isinstance(body, dict) else None
    if not isinstance(text, str):
        text = response.text
    first = " ".join(text.split())[:200]
    return first or response.reason_phrase


class ActionsClient:
    """The runner API over one `httpx.AsyncClient`; tests plug in through its transport."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def register(
        self, *, token: str, name: str, labels: tuple[str, ...], runner_group: str = ""
    ) -> str:
        """`POST /register` with a registration token (and a runner group name, for an org
        runner); returns the new runner's JIT config."""
        body: dict[str, Any] = {
            "token": token,
            "name": name,
            "labels": list(labels),
            "ephemeral": True,
        }
        if runner_group:
            body["runner_group"] = runner_group
        data = await self._call("POST", "/register", json=body, expect=(201,), what="register")
        jit = data.get("jit_config") if isinstance(data, dict) else None
        if not isinstance(jit, str) or not jit:
            raise ServerUnavailable("register answered without a jit_config")
        return jit

    async def create_session(self, secret: str) -> Session:
        """`POST /sessions`: the runner goes online."""
        data = await self._call("POST", "/sessions", secret=secret, expect=(201,), what="session")
        try:
            return Session(session_id=str(data["session_id"]), runner_id=int(data["runner_id"]))
        except (KeyError, TypeError, ValueError):
            raise ServerUnavailable("session answer lacks session_id or runner_id") from None

    async def get_job(self, secret: str, session_id: str, *, wait: float) -> Job | None:
        """`GET /sessions/{id}/job?wait=s`: a job (now in progress here), or None after `wait`."""
        data = await self._call(
            "GET",
            f"/sessions/{session_id}/job",
            secret=secret,
            params={"wait": f"{wait:g}"},
            expect=(200, 204),
            what="job poll",
            timeout=wait + 10.0,
        )
        if data is None:
            return None
        try:
            return Job(
                job_id=int(data["job_id"]),
                run_id=int(data["run_id"]),
                name=str(data["name"]),
                labels=tuple(str(label) for label in data.get("labels", ())),
                duration_seconds=max(0.0, float(data.get("duration_seconds", 0))),
                conclusion=str(data.get("conclusion") or "success"),
            )
        except (KeyError, TypeError, ValueError):
            raise ServerUnavailable("job answer lacks job_id, run_id or name") from None

    async def complete_job(
        self, secret: str, job_id: int, conclusion: str, *, timeout: float | None = None
    ) -> None:
        """`POST /jobs/{id}/complete`: report the job's conclusion."""
        await self._call(
            "POST",
            f"/jobs/{job_id}/complete",
            secret=secret,
            json={"conclusion": conclusion},
            expect=(200,),
            what="job completion",
            timeout=timeout,
        )

    async def delete_session(
        self, secret: str, session_id: str, *, timeout: float | None = None
    ) -> None:
        """`DELETE /sessions/{id}`: the runner goes offline."""
        await self._call(
            "DELETE",
            f"/sessions/{session_id}",
            secret=secret,
            expect=(204,),
            what="session close",
            timeout=timeout,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        what: str,
        secret: str | None = None,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        url = self.base_url + path
        try:
            response = await self.http.request(
                method,
                url,
                headers=headers,
                json=json,
                params=params,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            raise ServerUnavailable(f"{what}: {self.base_url} did not answer in time") from None
        except httpx.TransportError as exc:
            reason = type(exc).__name__
            raise ServerUnavailable(f"{what}: cannot reach {self.base_url} ({reason})") from None
        if response.status_code in (401, 403):
            raise CredentialRejected(
                f"{what}: credential rejected ({response.status_code}): {_message(response)}"
            )
        if response.status_code not in expect:
            raise ServerUnavailable(
                f"{what}: {method} {path} answered {response.status_code}: {_message(response)}"
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerUnavailable(f"{what}: answer is not JSON") from None
