"""The read operations of the Nomad backend: jobs, summaries, allocations, nodes.

A mixin of `NomadBackend` (models.py), split out to keep modules small; it reads the same state
under the same lock.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from simulator.nomad.client import JobKey, NodeClient
from simulator.nomad.errors import NotFound
from simulator.nomad.network import ServiceOwner, registrations
from simulator.nomad.state import JobRecord, group_summary, job_stub
from simulator.nomad.watch import IndexWatch


class JobReads:
    """`GET /v1/job(s)...` and `/v1/nodes` over the backend's records and client node."""

    lock: threading.RLock
    records: dict[JobKey, JobRecord]
    client: NodeClient
    jobs_index: int
    watch: IndexWatch

    def _record(self, job_id: str, namespace: str) -> JobRecord | None:
        return self.records.get((namespace, job_id))

    def get_job(self, job_id: str, namespace: str) -> dict[str, Any]:
        """`GET /v1/job/:id`: the full job, or 404 `job not found`."""
        with self.lock:
            record = self._record(job_id, namespace)
            if record is None:
                raise NotFound()
            return copy.deepcopy(record.job)

    def job_index(self, job_id: str, namespace: str) -> int:
        """The job's ModifyIndex (what its X-Nomad-Index reports), or the jobs table index."""
        with self.lock:
            record = self._record(job_id, namespace)
            return record.job["ModifyIndex"] if record else self.jobs_index

    def list_jobs(
        self,
        namespace: str,
        *,
        prefix: str = "",
        meta: bool = False,
        per_page: int = 0,
        next_token: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """`GET /v1/jobs`: one page of stubs in (namespace, ID) order, and the next page's token.

        `prefix` is a raw string prefix. As Nomad's paginator (nomad/state/paginator): stubs
        whose `<namespace>.<id>` token sorts before `next_token` are skipped; after `per_page`
        stubs (0: all), the next stub's token is returned, "" when there is none.
        """
        with self.lock:
            # the `id` index is (Namespace, ID), each NUL-terminated (nomad/state/schema.go):
            # tuple order, where "a" sorts before "a-b" and "a/dispatch-..."
            keys = sorted(key for key in self.records if namespace in ("*", key[0]))
            found = not next_token
            page: list[dict[str, Any]] = []
            for ns, job_id in keys:
                if not job_id.startswith(prefix):
                    continue
                token = f"{ns}.{job_id}"  # paginator.NamespaceIDTokenizer
                if not found and token < next_token:
                    continue
                found = True
                if per_page and len(page) >= per_page:  # a negative per_page: nothing
                    return page, token
                record = self.records[(ns, job_id)]
                page.append(job_stub(record.job, self._summary(record), with_meta=meta))
            return page, ""

    def _summary(self, record: JobRecord) -> dict[str, Any]:
        job = record.job
        children = {"Pending": 0, "Running": 0, "Dead": record.children_dead_removed}
        for other in self.records.values():
            if other.job["ParentID"] == job["ID"] and other.job["Namespace"] == job["Namespace"]:
                children[other.job["Status"].capitalize()] += 1
        counts = {
            "Summary": group_summary(record, self.client.allocs_of(record.key)),
            "Children": children,
        }
        if counts != record.summary_seen:
            # Nomad's job_summary row gets a new ModifyIndex whenever an allocation or child
            # changes it; here a change is stamped with the index current when it is noticed
            # (a blocking query re-reads on every index bump, so it notices at once).
            record.summary_seen = counts
            record.summary_index = max(self.watch.index, job["CreateIndex"])
        return {
            "JobID": job["ID"],
            "Namespace": job["Namespace"],
            **copy.deepcopy(counts),
            "CreateIndex": job["CreateIndex"],
            "ModifyIndex": record.summary_index,
        }

    def summary_index(self, job_id: str, namespace: str) -> int:
        """The job summary's ModifyIndex (what a blocking summary read waits on)."""
        with self.lock:
            record = self._record(job_id, namespace)
            return self._summary(record)["ModifyIndex"] if record else self.jobs_index

    def job_summary(self, job_id: str, namespace: str) -> dict[str, Any]:
        """`GET /v1/job/:id/summary`, with `Children` {Pending, Running, Dead}."""
        with self.lock:
            record = self._record(job_id, namespace)
            if record is None:
                raise NotFound()
            return self._summary(record)

    def job_allocations(self, job_id: str, namespace: str) -> list[dict[str, Any]]:
        """`GET /v1/job/:id/allocations`: an unknown job gives `[]`, not 404."""
        with self.lock:
            return [a.stub() for a in self.client.allocs_of((namespace, job_id))]

    def allocs_index(self) -> int:
        """The allocs table index (what `/allocations` reports in X-Nomad-Index)."""
        with self.lock:
            return self.client.allocs_index

    def list_nodes(self) -> list[dict[str, Any]]:
        """`GET /v1/nodes`: the single client node."""
        with self.lock:
            return [copy.deepcopy(self.client.node)]

    def service_registrations(self, name: str, namespace: str) -> list[dict[str, Any]]:
        """`GET /v1/service/:name`: one registration per live allocation, none once stopping."""
        with self.lock:
            found = []
            node = self.client.node
            for alloc in sorted(self.client.allocs.values(), key=lambda a: a.create_index):
                if (
                    alloc.client_terminal
                    or alloc.desired_status != "run"
                    or alloc.namespace != namespace
                ):
                    continue  # group_service_hook deregisters before the task is killed
                group = next(g for g in alloc.job["TaskGroups"] if g["Name"] == alloc.group)
                owner = ServiceOwner(
                    alloc.id, alloc.namespace, alloc.job_id, alloc.group, alloc.node_id,
                    str(node["Datacenter"]), alloc.create_index, alloc.ports,
                )  # fmt: skip
                services = registrations(owner, group.get("Services") or [])
                found += [s for s in services if s["ServiceName"] == name]
            return found
