"""Workflow jobs meet runner scale sets: offer, acquire, assign, start, complete, reassign.

Rules (facts from ../shared/reference/scaleset-api.md §3, [S] = actions/scaleset README):
- a queued job whose labels all belong to a scale set of its repository or organization is
  offered to the oldest such scale set (JobAvailable) and reserved for it: runners outside the
  scale set never take it, and its runners take only the jobs assigned to it;
- the listener acquires JobAvailable ids with its queue token; the service then assigns acquired
  jobs (JobAssigned) while assigned + running stay below the last X-ScaleSetMaxCapacity;
- unacknowledged messages are redelivered; a message holds at most 50 entries; a new message is
  cut from the entries not yet sent, on demand;
- deleting a scale set gives its jobs not yet started back to the queue (ADR 2022-10-27).
Pure state (the caller holds the lock); `emit`-style callbacks come from actions.Actions.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.clock import Clock
from simulator.github.actions import Actions, Job, Runner
from simulator.github.errors import NotFound, ValidationFailed
from simulator.github.scaleset import (
    MAX_ENTRIES,
    RESULTS,
    Message,
    RunnerRequest,
    ScaleSet,
    entry,
    statistics,
)

REASSIGN_TARGETS = ("assigned", "available")


class ScaleSetJobs:
    """Runner requests of every scale set and the messages that report them."""

    def __init__(
        self,
        actions: Actions,
        clock: Clock,
        scale_sets: dict[int, ScaleSet],
        ids: dict[str, int],
        service_url: Callable[[], str],
    ) -> None:
        self.actions = actions
        self.clock = clock
        self.scale_sets = scale_sets
        self._ids = ids
        self._service_url = service_url
        self.requests: dict[int, RunnerRequest] = {}
        self.open: dict[int, RunnerRequest] = {}  # job id -> its request not yet completed

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # --- hooks called by actions.Actions ------------------------------------------------------

    def may_take(self, runner: Runner, job: Job) -> bool:
        """A scale-set runner takes only jobs assigned to its scale set; others, no reserved job."""
        request = self.open.get(job.id)
        if runner.scale_set_id is None:
            return request is None
        return (
            request is not None
            and request.scale_set_id == runner.scale_set_id
            and request.state == "assigned"
        )

    def on_job(self, job: Job, action: str) -> None:
        """Follow a job transition: offer a queued job, report its start and its end."""
        if action == "queued":
            self.offer(job)
            return
        request = self.open.get(job.id)
        if request is None:
            return
        now = self.clock.now()
        if action == "in_progress":
            request.move("running")
            request.runner_assign_time = now
            request.runner_id, request.runner_name = job.runner_id or 0, job.runner_name or ""
            self._post("JobStarted", request)
        elif action == "completed":
            request.move("completed")
            request.finish_time = now
            request.result = RESULTS.get(job.conclusion or "cancelled", "failed")
            del self.open[job.id]
            self._post("JobCompleted", request)
            self.settle(request.scale_set_id)

    # --- offering -----------------------------------------------------------------------------

    def offer(self, job: Job) -> RunnerRequest | None:
        """Offer a queued, unreserved job to the oldest scale set that matches it."""
        if job.status != "queued" or job.id in self.open:
            return None
        for scale_set in sorted(self.scale_sets.values(), key=lambda s: s.id):
            if scale_set.in_scope(job) and scale_set.matches(job.spec.labels):
                request = RunnerRequest(
                    self._next("runner_request"), job.id, scale_set.id, self.clock.now()
                )
                self.requests[request.id] = request
                self.open[job.id] = request
                self._post("JobAvailable", request)
                return request
        return None

    def offer_queued(self) -> None:
        """Offer every queued job that no scale set holds yet (after a scale set appears)."""
        for job in list(self.actions.jobs.values()):
            self.offer(job)

    def release(self, scale_set: ScaleSet) -> None:
        """A scale set is deleted: its jobs not yet started go back to the queue."""
        released = [
            r for r in self.open.values() if r.scale_set_id == scale_set.id and r.state != "running"
        ]
        for request in released:
            request.move("completed")
            request.result = "canceled"
            request.finish_time = self.clock.now()
            del self.open[request.job_id]
        for request in released:
            self.offer(self.actions.jobs[request.job_id])

    # --- what the listener does ----------------------------------------------------------------

    def acquire(self, scale_set: ScaleSet, request_ids: list[int]) -> list[int]:
        """Acquire available requests of this scale set; ids it already holds count as acquired."""
        acquired = []
        for request_id in request_ids:
            request = self.requests.get(request_id)
            if request is None or request.scale_set_id != scale_set.id:
                continue
            if request.state == "available":
                request.move("acquired")
            if request.state in ("acquired", "assigned", "running"):
                acquired.append(request_id)
        self.settle(scale_set.id)
        return acquired

    def settle(self, scale_set_id: int) -> None:
        """Assign acquired requests, oldest first, while the scale set has capacity left."""
        scale_set = self.scale_sets.get(scale_set_id)
        if scale_set is None:
            return
        mine = [r for r in self.open.values() if r.scale_set_id == scale_set_id]
        busy = sum(1 for r in mine if r.state in ("assigned", "running"))
        capacity = scale_set.max_capacity
        for request in sorted((r for r in mine if r.state == "acquired"), key=lambda r: r.id):
            if capacity is not None and busy >= capacity:
                break
            request.move("assigned")
            request.assign_time = self.clock.now()
            busy += 1
            self._post("JobAssigned", request)

    def next_message(self, scale_set: ScaleSet, last_message_id: int) -> Message | None:
        """The oldest unacknowledged message after `last_message_id`, else a new one, else None."""
        for message_id in sorted(scale_set.unacked):
            if message_id > last_message_id:
                return scale_set.unacked[message_id]
        if not scale_set.outbox:
            return None
        entries = scale_set.outbox[:MAX_ENTRIES]
        del scale_set.outbox[:MAX_ENTRIES]
        message = Message(self._next("message"), entries)
        scale_set.unacked[message.id] = message
        return message

    def statistics(self, scale_set: ScaleSet) -> dict[str, int]:
        """The scale set's statistics, now."""
        requests = [r for r in self.open.values() if r.scale_set_id == scale_set.id]
        runners = [r for r in self.actions.runners.values() if r.scale_set_id == scale_set.id]
        return statistics(requests, runners)

    # --- GitHub's reassignment (a fault switch) ------------------------------------------------

    def reassign(self, job_id: int, to: str) -> RunnerRequest:
        """An assigned job no runner took: JobCompleted "canceled", then assigned or available."""
        if to not in REASSIGN_TARGETS:
            raise ValidationFailed(f"reassign to one of {', '.join(REASSIGN_TARGETS)}, not {to!r}")
        request = self.open.get(job_id)
        if request is None or request.state != "assigned":
            raise NotFound(f"job {job_id} is not assigned to a scale set")
        request.result = "canceled"
        request.finish_time = self.clock.now()
        self._post("JobCompleted", request)
        request.move("available")
        request.reassignments += 1
        request.assign_time = request.finish_time = None
        request.result = ""
        if to == "available":
            self._post("JobAvailable", request)
        else:
            request.move("acquired")
            self.settle(request.scale_set_id)
        return request

    def _post(self, kind: str, request: RunnerRequest) -> None:
        scale_set = self.scale_sets.get(request.scale_set_id)
        if scale_set is None:
            return  # the scale set is gone; so is its queue
        job = self.actions.jobs[request.job_id]
        run = self.actions.runs[job.run_id]
        scale_set.outbox.append(entry(kind, request, job, run, self._service_url()))
