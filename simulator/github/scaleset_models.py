"""ScaleSetBackend: the Actions service's runner scale set API, over the GitHub emulator's state.

Methods carry the operation names of actions/scaleset's client ([S] client.go,
session_client.go): `runner_registration` (the GitHub side of the auth chain),
`get_runner_groups`, `list_runner_scale_sets`, `get_runner_scale_set`, `create_runner_scale_set`,
`update_runner_scale_set`, `delete_runner_scale_set`, `create_message_session`,
`refresh_message_session`, `delete_message_session`, `get_message`, `delete_message`,
`acquire_jobs`, `generate_jit_runner_config`, `get_runner`, `get_runner_by_name`,
`remove_runner`. The admin token is a JWT whose `exp` follows the emulator clock
(scaleset_auth.py); the queue token is opaque. Every method takes the GitHub backend's lock.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from simulator.github.errors import Conflict, NotFound, RequiresAuthentication
from simulator.github.scaleset import RunnerGroup, ScaleSet, Session
from simulator.github.scaleset_auth import AdminTokens
from simulator.github.scaleset_errors import (
    AgentExists,
    AgentNotFound,
    JobStillRunning,
    RunnerGroupNotFound,
    RunnerScaleSetExists,
    RunnerScaleSetNotFound,
    SessionConflict,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
)
from simulator.github.scaleset_faults import FaultSwitches
from simulator.github.scaleset_host import GitHubBackend, ScaleSetSettings, runner_groups
from simulator.github.scaleset_jobs import ScaleSetJobs

if TYPE_CHECKING:
    from simulator.github.actions import Runner

SERVICE_PATH = "/_services/broker/rest"  # the service URL the auth chain hands out
QUEUE_PATH = "/_services/broker/scalesets/message"  # a session's messageQueueUrl


class ScaleSetBackend:
    """Scale sets, sessions and the runners they make, for every scope of the emulator."""

    def __init__(
        self, github: GitHubBackend, settings: ScaleSetSettings, ids: dict[str, int]
    ) -> None:
        self.github = github
        self.settings = replace(settings)
        self.faults = FaultSwitches()
        self.scale_sets: dict[int, ScaleSet] = {}
        self.sessions: dict[str, Session] = {}
        self.clock = github.clock
        self.tokens = AdminTokens(github.clock)
        for kind, start in (("scale_set", 0), ("runner_request", 1000), ("message", 100000000)):
            ids.setdefault(kind, start)
        self._ids = ids
        self.jobs = ScaleSetJobs(
            github.actions, github.clock, self.scale_sets, ids, lambda: self.service_url
        )

    @property
    def service_url(self) -> str:
        """The Actions service URL, with the trailing slash the real one has."""
        return f"{self.github.base_url}{SERVICE_PATH}/"

    @property
    def queue_url(self) -> str:
        """Every session's messageQueueUrl (the session is known by its token)."""
        return f"{self.github.base_url}{QUEUE_PATH}"

    # --- auth chain -------------------------------------------------------------------------

    def runner_registration(self, authorization: str | None, url: str) -> str:
        """POST /actions/runner-registration: a registration token buys an admin token."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "RemoteAuth" or not token.strip():
            raise RequiresAuthentication()
        with self.github.lock:
            reg = self.github.reg_tokens.get(token.strip())
            if reg is None or reg.kind != "registration" or reg.expires_at <= self.clock.now():
                raise Unauthorized("The registration token is not valid or has expired.")
            # The config URL names the token's repository or organization ([S] config.go).
            if urlsplit(url).path.strip("/") != reg.scope:
                raise NotFound()
            return self.tokens.issue(reg.scope, self.settings.admin_token_lifetime)

    def authorize(self, authorization: str | None) -> str:
        """The scope of a valid admin token (`Authorization: Bearer <JWT>`); 401 otherwise."""
        return self.tokens.scope(authorization)

    # --- runner groups and scale sets --------------------------------------------------------

    def get_runner_groups(self, scope: str, name: str | None) -> list[tuple[RunnerGroup, int]]:
        """Groups named `name` (any case), each with its number of runners."""
        with self.github.lock:
            runners = self.github.actions.list_runners(scope)
            return [
                (g, sum(1 for r in runners if r.group_id == g.id))
                for g in runner_groups(self.github, scope)
                if name is None or g.name.casefold() == name.casefold()
            ]

    def _group(self, scope: str, group_id: int | None) -> RunnerGroup:
        groups = runner_groups(self.github, scope)
        if not group_id:  # absent or Go's zero value: the default group
            return next(g for g in groups if g.is_default)
        for group in groups:
            if group.id == group_id:
                return group
        raise RunnerGroupNotFound(f"No runner group found with identifier {group_id}.")

    def list_runner_scale_sets(
        self, scope: str, *, group_id: int | None = None, name: str | None = None
    ) -> list[ScaleSet]:
        """Scale sets of a scope, filtered by runner group and name."""
        with self.github.lock:
            return [
                s
                for s in sorted(self.scale_sets.values(), key=lambda s: s.id)
                if s.scope == scope and group_id in (None, s.group.id) and name in (None, s.name)
            ]

    def get_runner_scale_set(self, scope: str, scale_set_id: int) -> ScaleSet:
        """One scale set of the scope; 404 RunnerScaleSetNotFoundException otherwise."""
        with self.github.lock:
            found = self.scale_sets.get(scale_set_id)
            if found is None or found.scope != scope:
                raise RunnerScaleSetNotFound(
                    f"No RunnerScaleSet found with identifier {scale_set_id}."
                )
            return found

    def _check_name(self, scope: str, name: str, group: RunnerGroup, own_id: int = 0) -> None:
        for other in self.list_runner_scale_sets(scope, group_id=group.id, name=name):
            if other.id != own_id:
                raise RunnerScaleSetExists(
                    f"A runner scale set named {name} already exists in runner group {group.name}."
                )

    def create_runner_scale_set(
        self,
        scope: str,
        *,
        name: str,
        group_id: int | None,
        labels: list[dict[str, str]],
        runner_setting: dict[str, Any],
    ) -> ScaleSet:
        """A new scale set (labels default to its name); queued jobs it matches are offered."""
        with self.github.lock:
            group = self._group(scope, group_id)
            self._check_name(scope, name, group)
            self._ids["scale_set"] += 1
            scale_set = ScaleSet(
                id=self._ids["scale_set"],
                scope=scope,
                name=name,
                group=group,
                labels=labels or [{"type": "System", "name": name}],
                runner_setting=runner_setting,
                created_at=self.clock.now(),
            )
            self.scale_sets[scale_set.id] = scale_set
            self.jobs.offer_queued()
            return scale_set

    def update_runner_scale_set(
        self,
        scope: str,
        scale_set_id: int,
        *,
        name: str | None = None,
        group_id: int | None = None,
        labels: list[dict[str, str]] | None = None,
        runner_setting: dict[str, Any] | None = None,
    ) -> ScaleSet:
        """PATCH: the given fields change; absent or zero values are left alone."""
        with self.github.lock:
            scale_set = self.get_runner_scale_set(scope, scale_set_id)
            group = self._group(scope, group_id) if group_id else scale_set.group
            self._check_name(scope, name or scale_set.name, group, scale_set.id)
            scale_set.name, scale_set.group = name or scale_set.name, group
            scale_set.labels = labels or scale_set.labels
            if runner_setting is not None:
                scale_set.runner_setting = runner_setting
            self.jobs.offer_queued()
            return scale_set

    def delete_runner_scale_set(self, scope: str, scale_set_id: int) -> None:
        """Delete: sessions end, idle runners go, jobs not yet started are offered elsewhere."""
        with self.github.lock:
            scale_set = self.get_runner_scale_set(scope, scale_set_id)
            del self.scale_sets[scale_set.id]
            for session in [s for s in self.sessions.values() if s.scale_set_id == scale_set.id]:
                del self.sessions[session.id]
            actions = self.github.actions
            for runner in list(actions.runners.values()):
                if runner.scale_set_id == scale_set.id and runner.state != "busy":
                    actions.delete_runner(runner.scope, runner.id)
            self.jobs.release(scale_set)

    def statistics(self, scale_set: ScaleSet) -> dict[str, int]:
        """The scale set's statistics, now."""
        with self.github.lock:
            return self.jobs.statistics(scale_set)

    # --- message sessions -------------------------------------------------------------------

    def _live(self, session: Session, now: float) -> bool:
        return now - session.last_seen <= self.settings.session_timeout

    def create_message_session(self, scope: str, scale_set_id: int, owner: str) -> Session:
        """The scale set's one session; 409 while another (or a crashed one) holds it."""
        with self.github.lock:
            scale_set = self.get_runner_scale_set(scope, scale_set_id)
            now = self.clock.now()
            for stale in [s for s in self.sessions.values() if not self._live(s, now)]:
                del self.sessions[stale.id]
            if scale_set.stale_until > now or any(
                s.scale_set_id == scale_set.id for s in self.sessions.values()
            ):
                raise SessionConflict(
                    f"The actions runner scaleset {scale_set.name} already has an active session."
                )
            session = Session(str(uuid.uuid4()), scale_set.id, owner, "", 0.0, now)
            self._new_token(session, now)
            self.sessions[session.id] = session
            return session

    def _new_token(self, session: Session, now: float) -> None:
        session.token = secrets.token_urlsafe(32)
        session.token_expires = now + self.settings.queue_token_lifetime

    def refresh_message_session(self, scope: str, scale_set_id: int, session_id: str) -> Session:
        """PATCH: a new queue token (the old one stops working)."""
        with self.github.lock:
            self.get_runner_scale_set(scope, scale_set_id)
            now = self.clock.now()
            session = self.sessions.get(session_id)
            if (
                session is None
                or session.scale_set_id != scale_set_id
                or not self._live(session, now)
            ):
                raise SessionNotFound()
            self._new_token(session, now)
            session.last_seen = now
            return session

    def delete_message_session(self, scope: str, scale_set_id: int, session_id: str) -> None:
        """DELETE: the scale set is free for a new session."""
        with self.github.lock:
            self.get_runner_scale_set(scope, scale_set_id)
            session = self.sessions.get(session_id)
            if session is None or session.scale_set_id != scale_set_id:
                raise SessionExpired(f"The session identifier {session_id} is not valid.")
            del self.sessions[session_id]

    def _session(self, authorization: str | None) -> tuple[Session, ScaleSet]:
        """The live session whose queue token is presented; 401 otherwise (refresh, then retry)."""
        scheme, _, token = (authorization or "").partition(" ")
        now = self.clock.now()
        for session in self.sessions.values():
            if scheme.lower() == "bearer" and secrets.compare_digest(session.token, token.strip()):
                if session.token_expires <= now or not self._live(session, now):
                    break
                session.last_seen = now
                return session, self.scale_sets[session.scale_set_id]
        raise Unauthorized("The message queue token is not valid or has expired.")

    # --- the message queue --------------------------------------------------------------------

    def holding_poll(self, authorization: str | None, delta: int) -> None:
        """Count a GET message being held (+1) or answered (-1), for `/_sim/scalesets`."""
        with self.github.lock:
            session, _ = self._session(authorization)
            session.polls = max(session.polls + delta, 0)

    def get_message(
        self, authorization: str | None, last_message_id: int, max_capacity: int | None
    ) -> dict[str, Any] | None:
        """The next message as JSON (statistics as of now), or None: the caller holds the poll."""
        with self.github.lock:
            _, scale_set = self._session(authorization)
            if max_capacity is not None and max_capacity != scale_set.max_capacity:
                scale_set.max_capacity = max_capacity
                self.jobs.settle(scale_set.id)
            message = self.jobs.next_message(scale_set, last_message_id)
            return message.to_json(self.jobs.statistics(scale_set)) if message else None

    def delete_message(self, authorization: str | None, message_id: int) -> None:
        """Acknowledge: the message is not delivered again (an unknown id is fine)."""
        with self.github.lock:
            _, scale_set = self._session(authorization)
            scale_set.unacked.pop(message_id, None)

    def acquire_jobs(
        self, authorization: str | None, scale_set_id: int, request_ids: list[int]
    ) -> list[int]:
        """POST acquirejobs with the queue token; the ids this scale set now holds."""
        with self.github.lock:
            _, scale_set = self._session(authorization)
            if scale_set.id != scale_set_id:
                raise Unauthorized("The message queue token belongs to another scale set.")
            return self.jobs.acquire(scale_set, request_ids)

    # --- runners ------------------------------------------------------------------------------

    def generate_jit_runner_config(
        self, scope: str, scale_set_id: int, *, name: str, work_folder: str
    ) -> tuple[Runner, str]:
        """A new JIT runner of the scale set; 409 AgentExistsException if the name is taken."""
        with self.github.lock:
            scale_set = self.get_runner_scale_set(scope, scale_set_id)
            try:
                runner = self.github.actions.add_runner(
                    scope,
                    name=name,
                    labels=scale_set.label_names(),
                    group_id=scale_set.group.id,
                    jit=True,
                    ephemeral=True,
                )
            except Conflict:
                raise AgentExists(f"A runner named {name} already exists.") from None
            runner.scale_set_id = scale_set.id
            return runner, self.github.encode_jit(runner, scope, work_folder)

    def get_runner(self, scope: str, runner_id: int) -> Runner:
        """One runner of the scope; 404 AgentNotFoundException otherwise."""
        with self.github.lock:
            try:
                return self.github.actions.get_runner(scope, runner_id)
            except NotFound:
                raise AgentNotFound(f"No runner found with identifier {runner_id}.") from None

    def get_runner_by_name(self, scope: str, name: str) -> list[Runner]:
        """Runners of the scope called `name` (none or one)."""
        with self.github.lock:
            return self.github.actions.list_runners(scope, name=name)

    def remove_runner(self, scope: str, runner_id: int) -> None:
        """Remove a runner; done if already gone; 400 JobStillRunningException while busy."""
        with self.github.lock:
            runner = self.github.actions.runners.get(runner_id)
            if runner is None or runner.scope != scope:
                return
            if runner.state == "busy":
                raise JobStillRunning(f"Runner {runner.name} is still running a job.")
            self.github.actions.delete_runner(scope, runner_id)

    # --- control plane ------------------------------------------------------------------------

    def hold_stale_session(self, scale_set_id: int, seconds: float) -> ScaleSet:
        """(fault) A crashed listener's session blocks new sessions for `seconds`."""
        with self.github.lock:
            scale_set = self.scale_sets.get(scale_set_id)
            if scale_set is None:
                raise NotFound(f"no scale set {scale_set_id}")
            scale_set.stale_until = self.clock.now() + seconds
            return scale_set

    def reassign_job(self, job_id: int, to: str) -> dict[str, Any]:
        """(fault) GitHub's reassignment of an assigned job no runner took."""
        with self.github.lock:
            return asdict(self.jobs.reassign(job_id, to))

    def dump(self) -> list[dict[str, Any]]:
        """(control plane) Scale sets, their sessions (no tokens), requests and queues."""
        with self.github.lock:
            return [
                {
                    **s.to_json(self.service_url, self.jobs.statistics(s)),
                    "scope": s.scope,
                    "max_capacity": s.max_capacity,
                    "sessions": [
                        {"sessionId": x.id, "ownerName": x.owner, "polls": x.polls}
                        for x in self.sessions.values()
                        if x.scale_set_id == s.id
                    ],
                    "requests": [
                        asdict(r) for r in self.jobs.requests.values() if r.scale_set_id == s.id
                    ],
                    "pending_entries": len(s.outbox),
                    "unacked_message_ids": sorted(s.unacked),
                }
                for s in sorted(self.scale_sets.values(), key=lambda s: s.id)
            ]
