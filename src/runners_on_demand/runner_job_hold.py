"""Runners parked while their runner job cannot be dispatched, until Nomad says it can.

A dispatch from a runner job that is not registered, stopped or not a parameterized job fails
(runner_jobs.py), and every runner made for it first costs a JIT runner at GitHub (5 points of
the secondary limit), a credential Variable and a runner that never starts. So once rod knows
(Nomad refused a dispatch with `RunnerJobMissing`, or the check at start said so), the workers
make nothing more for that job: its runners are parked in line, in their order
(`Line.park`), and the job is asked about every `runner_job_recheck_seconds`
(`runner_job_check.job_check`); as soon as it can be dispatched, they go back in line. A runner
parked after its credential was stored finds that credential again (carrier.py), so none is
made twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from runners_on_demand.errors import NomadError
from runners_on_demand.line import Line, PendingStart

__all__ = ["JobCheck", "RunnerJobHold"]

log = logging.getLogger(__name__)

# Why a runner job cannot be dispatched, in one line, or None when it can; NomadError when
# Nomad did not tell.
JobCheck = Callable[[str], Awaitable[str | None]]


class RunnerJobHold:
    """The runner jobs that cannot be dispatched, with their parked runners, asked about again."""

    def __init__(
        self,
        line: Line,
        check: JobCheck,
        *,
        interval: float,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._line = line
        self._check = check
        self._interval = interval
        self._sleep = sleep
        self.problems: dict[str, str] = {}  # runner job -> why it cannot be dispatched
        self._watch: asyncio.Task[None] | None = None

    def blocks(self, job_id: str) -> bool:
        """Whether runners of `job_id` are parked rather than carried out."""
        return job_id in self.problems

    def held(self) -> dict[str, int]:
        """Runners parked, by runner job (0 for one known blocked with none parked yet)."""
        parked = self._line.parked()
        return {job: parked.get(job, 0) for job in self.problems}

    def park(self, pending: PendingStart, problem: str) -> None:
        """Park a runner taken by a worker; its runner job cannot be dispatched."""
        job = pending.start.pool.nomad_job
        self._block(job, problem, logging.WARNING)
        self._line.park(pending, job)

    async def check_at_start(self, job_ids: Iterable[str]) -> None:
        """Ask about each runner job once; block those that cannot be dispatched."""
        for job in job_ids:
            try:
                problem = await self._check(job)
            except NomadError as error:  # not known: a refused dispatch will tell
                log.info("cannot check runner job %s: %s", job, error)
                continue
            if problem is not None:
                self._block(job, problem, logging.INFO)  # `rod serve`/`rod listen` warned of it

    async def close(self) -> None:
        """Stop asking; parked runners stay where they are."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None

    def _block(self, job: str, problem: str, level: int) -> None:
        if job not in self.problems:
            message = "%s: making no runners for it; asking Nomad again every %gs"
            log.log(level, message, problem, self._interval)
        self.problems[job] = problem
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._ask_again(), name="rod-runner-job-hold")

    async def _ask_again(self) -> None:
        """Every interval, ask about each blocked runner job; unpark the runners of those fixed."""
        while self.problems:
            await self._sleep(self._interval)
            for job in list(self.problems):
                try:
                    problem = await self._check(job)
                except NomadError as error:
                    log.info("cannot check runner job %s yet: %s", job, error)
                    continue
                if problem is not None:
                    self.problems[job] = problem
                    continue
                del self.problems[job]
                released = self._line.unpark(job)
                log.info("runner job %s can be dispatched: releasing %d runners", job, released)
