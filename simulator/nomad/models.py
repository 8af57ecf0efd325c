"""The Nomad emulator's backend: jobs, dispatch, summaries, GC; method names follow the API.

Plain Python state under one RLock (the HTTP loop and driver watcher threads both call in); every
change bumps the single index in `IndexWatch`, which wakes blocking queries. Errors are the
classes in `errors.py`, carrying Nomad's status and text.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from simulator.clock import Clock
from simulator.nomad.acl import Caller
from simulator.nomad.acl_store import AclStore
from simulator.nomad.client import JobKey, NodeClient
from simulator.nomad.dispatch import dispatched_child, validate_dispatch
from simulator.nomad.drivers import Driver, InProcessDriver
from simulator.nomad.errors import BadRequest, ServerError, multierror
from simulator.nomad.events import EventBuffer, eval_event, job_event
from simulator.nomad.hcl import JobSpecError
from simulator.nomad.hcl import parse_job as parse_hcl
from simulator.nomad.jobspec import canonicalize, is_parameterized, is_periodic, validate
from simulator.nomad.reads import JobReads
from simulator.nomad.state import JobRecord, job_status
from simulator.nomad.templates import WorkloadApi
from simulator.nomad.variables import VariableStore, metadata
from simulator.nomad.watch import IndexWatch


class NomadBackend(JobReads):
    """One emulated Nomad agent (server and a single client node) with in-memory state."""

    def __init__(
        self,
        *,
        driver: Driver | None = None,
        cpu: int = 4000,
        memory: int = 8192,
        namespaces: tuple[str, ...] = ("default",),
        clock: Clock | None = None,
        base_env: Mapping[str, str] | None = None,
        acl_enabled: bool = False,
        acl_token: str | None = None,
    ) -> None:
        self.driver = driver or InProcessDriver()
        # `-acl-enabled`; `acl_token` also enables ACLs and presets one management token.
        self.acl_enabled, self.acl_token = acl_enabled or bool(acl_token), acl_token
        self.cpu, self.memory = cpu, memory
        self.namespaces = set(namespaces)
        self.clock = clock or Clock()
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.lock = threading.RLock()
        self.watch = IndexWatch()
        self.events = EventBuffer(on_publish=self.watch.notify)
        self._setup()

    def _setup(self) -> None:
        self.records: dict[JobKey, JobRecord] = {}
        self.jobs_index = 1
        self.data_dir = tempfile.mkdtemp(prefix="rod-nomad-")
        self.client = NodeClient(
            driver=self.driver,
            lock=self.lock,
            watch=self.watch,
            records=self.records,
            on_change=self._refresh,
            emit=self.events.publish,
            cpu=self.cpu,
            memory=self.memory,
            data_dir=self.data_dir,
            base_env=self.base_env,
        )
        self.acl = AclStore(
            enabled=self.acl_enabled,
            lock=self.lock,
            bump=self.watch.bump,
            on_change=self.client.retry_templates,
        )
        if self.acl_token:
            self.acl.preset(self.acl_token)
        self.variables = VariableStore(
            lock=self.lock,
            bump=self.watch.bump,
            now_ns=self._now_ns,
            on_change=self.client.retry_templates,
        )
        self.client.workload = WorkloadApi(
            caller=self.acl.workload,
            read=self.variables.read,
            token=self.acl.workload_token,
        )

    # -- lifecycle of the emulator itself -------------------------------------------------------

    def reset(self) -> None:
        """Kill every task, forget all state and start again at index 1."""
        self.shutdown()
        with self.lock:
            self._setup()
            self.events.clear()
        self.watch.reset()

    def shutdown(self) -> None:
        """Kill every task and delete the alloc dirs."""
        with self.lock:
            self.client.kill_all()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- internals -----------------------------------------------------------------------------

    def _refresh(self, key: JobKey, index: int) -> None:
        """Recompute a job's Status after its allocations changed."""
        record = self.records.get(key)
        if record is None:
            return
        status = job_status(record, self.client.allocs_of(key))
        if status != record.job["Status"]:
            record.job["Status"] = status
            record.job["ModifyIndex"] = index
            self.jobs_index = index
            self._job_event(record.job, "AllocationUpdated", index)

    def _job_event(self, job: dict[str, Any], kind: str, index: int, deleted: bool = False) -> None:
        self.events.publish(index, job_event(job, kind, deleted=deleted))

    def _eval_event(self, job: dict[str, Any], eval_id: str, index: int) -> None:
        self.events.publish(index, eval_event(job, eval_id, index))

    def _now_ns(self) -> int:
        return int(self.clock.now() * 1e9)

    def caller(self, secret: str) -> Caller:
        """Who presents `secret` (an ACL token, a workload identity, or none) and their ACL."""
        return self.acl.authenticate(secret, self.client.claim_of)

    # -- registration --------------------------------------------------------------------------

    def parse_job(
        self, job_hcl: str, variables: str = "", canonicalize_job: bool = False
    ) -> dict[str, Any]:
        """`POST /v1/jobs/parse`: HCL (and var-file text) to an `api.Job`."""
        if not job_hcl.strip():
            raise BadRequest("Job spec is empty")
        try:
            job = parse_hcl(job_hcl, variables)
            return canonicalize(job, job.get("Namespace") or "default") if canonicalize_job else job
        except (JobSpecError, ValueError) as exc:
            raise BadRequest(f"Failed to parse job: {exc}") from exc

    def register_job(self, job: dict[str, Any], namespace: str) -> dict[str, Any]:
        """`Job.Register`: create or update a job; schedule it unless it is a parent."""
        if not job.get("ID"):
            raise BadRequest("Job ID hasn't been provided")
        try:
            job = canonicalize(job, namespace)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadRequest(f"invalid job: {exc}") from exc
        if job["Namespace"] not in self.namespaces:
            raise ServerError(f'job "{job["ID"]}" is in nonexistent namespace "{job["Namespace"]}"')
        errors = validate(job)
        if errors:
            raise ServerError(multierror(errors))
        with self.lock:
            index = self.watch.bump()
            key = (job["Namespace"], job["ID"])
            old = self.records.get(key)
            changed = old is None or _spec(old.job) != _spec(job) or old.job["Stop"]
            job["Status"] = "pending"
            job["Version"] = 0 if old is None else old.job["Version"] + int(changed)
            job["CreateIndex"] = index if old is None else old.job["CreateIndex"]
            job["ModifyIndex"] = index
            job["JobModifyIndex"] = index if old is None or changed else old.job["JobModifyIndex"]
            job["SubmitTime"] = self._now_ns()
            record = JobRecord(job)
            if old is not None:
                record.children_dead_removed = old.children_dead_removed
                if changed:
                    self.client.stop_allocs(key, index)
                else:
                    record.queued = old.queued
            self.records[key] = record
            self.jobs_index = index
            eval_id = ""
            if not record.is_parent and changed:
                # Evaluated and placed at once; parents get no eval (job_endpoint.go L300).
                eval_id = str(uuid.uuid4())
                self.client.place(record, eval_id, index)
            self._refresh(key, index)
            self._job_event(job, "JobRegistered", index)
            if eval_id:
                self._eval_event(job, eval_id, index)
            return {
                "EvalID": eval_id,
                "EvalCreateIndex": index if eval_id else 0,
                "JobModifyIndex": job["JobModifyIndex"],
                "Warnings": "",
                "Index": index,
                "LastContact": 0,
                "KnownLeader": False,
            }

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch_job(
        self,
        job_id: str,
        namespace: str,
        *,
        payload: bytes | None = None,
        meta: Mapping[str, str] | None = None,
        id_prefix_template: str = "",
        idempotency_token: str = "",
        priority: int = 0,
    ) -> dict[str, Any]:
        """`Job.Dispatch` (job_endpoint.go ~L1984): validate, dedupe by token, create a child."""
        meta = dict(meta or {})
        with self.lock:
            record = self._record(job_id, namespace)
            if record is None:
                raise ServerError("parameterized job not found")
            parent = record.job
            if not is_parameterized(parent):
                raise ServerError(f'Specified job "{job_id}" is not a parameterized job')
            if parent["Stop"]:
                raise ServerError(f'Specified job "{job_id}" is stopped')
            validate_dispatch(parent, payload, meta, priority)
            if idempotency_token:
                existing = self._child_with_token(record, idempotency_token)
                if existing is not None:
                    return {
                        "DispatchedJobID": existing["ID"],
                        "EvalID": "",
                        "EvalCreateIndex": 0,
                        "JobCreateIndex": existing["CreateIndex"],
                        "Index": existing["ModifyIndex"],
                    }
            index = self.watch.bump()
            child = dispatched_child(
                parent,
                payload=payload,
                meta=meta,
                id_prefix_template=id_prefix_template,
                idempotency_token=idempotency_token,
                priority=priority,
                now=self.clock.now(),
                index=index,
            )
            child_id = child["ID"]
            child_record = JobRecord(child)
            self.records[child_record.key] = child_record
            self.jobs_index = index
            eval_id = "" if is_periodic(parent) else str(uuid.uuid4())
            self.client.place(child_record, eval_id, index)
            self._refresh(child_record.key, index)
            self._job_event(child, "JobRegistered", index)
            if eval_id:
                self._eval_event(child, eval_id, index)
            return {
                "DispatchedJobID": child_id,
                "EvalID": eval_id,
                "EvalCreateIndex": index if eval_id else 0,
                "JobCreateIndex": index,
                "Index": index,
            }

    def _child_with_token(self, record: JobRecord, token: str) -> dict[str, Any] | None:
        """`CheckIdempotencyToken` (state_store.go L1923): any stored child, whatever its status."""
        ns, parent_id = record.key
        for (child_ns, child_id), child in self.records.items():
            job = child.job
            if (
                child_ns == ns
                and child_id.startswith(parent_id)
                and job["ParentID"] == parent_id
                and job["DispatchIdempotencyToken"] == token
            ):
                return job
        return None

    # -- stop, purge, GC -----------------------------------------------------------------------

    def deregister_job(self, job_id: str, namespace: str, *, purge: bool = False) -> dict[str, Any]:
        """`Job.Deregister`: stop (Stop=true, stays readable) or purge; unknown job -> zeros."""
        with self.lock:
            record = self._record(job_id, namespace)
            if record is None:
                return _deregister_reply("", 0, 0, 0)
            index = self.watch.bump()
            key = record.key
            record.job["Stop"] = True
            record.job["ModifyIndex"] = record.job["JobModifyIndex"] = index
            self.client.stop_allocs(key, index)
            if purge:
                self._delete(record)
            else:
                self._refresh(key, index)
            self._job_event(record.job, "JobDeregistered", index, deleted=purge)
            self.jobs_index = index
            eval_id = "" if record.is_parent else str(uuid.uuid4())
            return _deregister_reply(eval_id, index if eval_id else 0, index, index)

    def _delete(self, record: JobRecord) -> None:
        """Remove a job; a deleted child counts as Dead in its parent forever (L1983-1995)."""
        del self.records[record.key]
        parent = self.records.get((record.job["Namespace"], record.job["ParentID"]))
        if parent is not None and record.job["ParentID"]:
            parent.children_dead_removed += 1

    def garbage_collect(self) -> None:
        """`PUT /v1/system/gc`: forced GC (threshold ~0) of dead, GC-able jobs and their allocs."""
        with self.lock:
            removed: list[JobRecord] = []
            for record in list(self.records.values()):
                job = record.job
                allocs = self.client.allocs_of(record.key)
                # schema.go jobIsGCable: batch/sysbatch or stopped; parents only once stopped.
                gcable = (
                    job["Stop"]
                    if record.is_parent
                    else job["Stop"]
                    or job["Type"]
                    in (
                        "batch",
                        "sysbatch",
                    )
                )
                if job["Status"] == "dead" and gcable and all(a.client_terminal for a in allocs):
                    self.client.remove_allocs(record.key)
                    self._delete(record)
                    removed.append(record)
            orphans = [
                alloc
                for alloc in self.client.allocs.values()
                if alloc.client_terminal and (alloc.namespace, alloc.job_id) not in self.records
            ]
            for alloc in orphans:
                self.client.remove_allocs((alloc.namespace, alloc.job_id))
            if removed or orphans:
                index = self.watch.bump()
                self.jobs_index = self.client.allocs_index = index
                for record in removed:
                    self._job_event(record.job, "JobBatchDeregistered", index, deleted=True)

    # -- control plane -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON dump of everything stored, for `GET /_sim/state`."""
        with self.lock:
            return {
                "index": self.watch.index,
                "jobs": [copy.deepcopy(r.job) for r in self.records.values()],
                "allocations": [a.stub() for a in self.client.allocs.values()],
                "queued": [
                    {"Namespace": ns, "JobID": job_id, "TaskGroup": group}
                    for (ns, job_id), group, _ in self.client.queue
                ],
                "node": copy.deepcopy(self.client.node),
                "data_dir": self.data_dir,
                # Metadata only: no variable's items, no token's secret.
                "variables": [metadata(v) for v in self.variables.items.values()],
                "blocked_tasks": [
                    {"AllocID": alloc_id, "Task": task, "Missing": missing}
                    for (alloc_id, task), missing in self.client.blocked.items()
                ],
                "acl": {"enabled": self.acl.enabled, "policies": sorted(self.acl.policies)},
            }

    def alloc_dir(self, alloc_id: str) -> str:
        """Where an allocation's files live (tests read logs and payloads from here)."""
        with self.lock:
            return self.client.allocs[alloc_id].path


def _spec(job: dict[str, Any]) -> dict[str, Any]:
    """The user-supplied part of a job, for change detection on re-registration."""
    volatile = ("Status", "Version", "CreateIndex", "ModifyIndex", "JobModifyIndex", "SubmitTime")
    return {k: v for k, v in job.items() if k not in volatile}


def _deregister_reply(eval_id: str, eval_index: int, job_index: int, index: int) -> dict[str, Any]:
    return {
        "EvalID": eval_id,
        "EvalCreateIndex": eval_index,
        "JobModifyIndex": job_index,
        "VolumeEvalID": "",
        "VolumeEvalIndex": 0,
        "Index": index,
        "LastContact": 0,
        "KnownLeader": False,
    }
