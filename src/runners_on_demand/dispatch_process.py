"""`rod serve`'s runners carried out in a process of its own, so the intake keeps its core.

CPython runs one thread of Python at a time. Answering a webhook costs about 0.1 ms of CPU;
carrying out its runner (HTTP client, JSON, TLS for the credential, its Variable, the dispatch)
about 2 ms. On one event loop, or on two loops in threads sharing the interpreter lock, every
acknowledgement waits behind that work. So `rod serve` forks, when it starts serving (before it
listens), a child that runs a `LocalCarrier` (carrier.py) on a loop of its own, with its own
connections, at a lower CPU priority (when both want the CPU, the acknowledgement goes first).

Only the work of one runner crosses: the pipeline (admission, the line, holds, duplicates,
metrics) stays in the serving process, exactly as with a `LocalCarrier`, and hands each runner
over as (event, start); the child answers with the `Carried`, or with GitHub's rate limit or
Nomad's refusal of the runner job itself, for the pipeline to hold the runner; meanwhile it
says when a retry of that runner waits out its backoff, so that its worker takes the next one.
Messages are pickles, length-prefixed, over a socketpair between the two processes (nothing
else can reach it).

The child ignores SIGTERM and SIGINT: it stops when the serving process closes the socket (after
the pipeline has drained) or exits. If it dies, every runner waiting on it fails as an error
(the reconciler starts them again) and `rod serve` stops itself with exit status 1, for its
supervisor to start it again.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from runners_on_demand.backoff import Backoff, Retrier, backing_off
from runners_on_demand.carrier import Carried, LocalCarrier
from runners_on_demand.config import Settings
from runners_on_demand.decision import StartRunner
from runners_on_demand.errors import DispatchProcessFailed, GitHubRateLimited, RunnerJobMissing
from runners_on_demand.events import WorkflowJobEvent
from runners_on_demand.ports.github import GitHubHttp
from runners_on_demand.wiring import clients, github_auth, local_carrier, nomad_port

__all__ = ["DispatchProcess"]

log = logging.getLogger(__name__)

# The child's niceness over the serving process's: at 10, the scheduler gives it about a tenth
# of a core both want (weights 110 and 1024), and all of a core the intake leaves idle.
NICENESS = 10
# How long closing waits for the child to exit before it is killed.
EXIT_TIMEOUT = 10.0
_SIZE = struct.Struct("!I")


class DispatchProcess:
    """A `Carrier` whose work runs in a forked child process (see the module docstring)."""

    def __init__(self, settings: Settings, *, backoff: Backoff | None = None) -> None:
        self._settings = settings
        self._backoff = backoff
        self._process: BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._backing_off: dict[int, Callable[[], None]] = {}  # the asking task's `backing_off`
        self._ids = itertools.count()
        self._closing = False
        self.lost = False  # the child ended while it was still needed
        self.rate_limit_remaining: int | None = None  # GitHub's, on the child's latest answer

    async def start(self) -> None:
        """Fork the child and connect to it (inside the serving event loop)."""
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("fork")
        args = (theirs, ours, self._settings, self._backoff)
        self._process = context.Process(target=_child, args=args, name="rod-dispatch")
        # What exists now (modules, settings, the app) is never garbage: out of the collector's
        # sight, its pages stay shared with the child instead of being copied as the collector
        # touches them (https://docs.python.org/3/library/gc.html#gc.freeze).
        gc.freeze()
        self._process.start()
        theirs.close()
        # At exit, multiprocessing joins its children: hang up first, so that the child ends.
        atexit.register(ours.close)
        reader, self._writer = await asyncio.open_connection(sock=ours)
        self._reading = asyncio.create_task(self._read(reader), name="rod-dispatch-answers")

    async def carry_out(self, event: WorkflowJobEvent, start: StartRunner) -> Carried:
        """The child's `LocalCarrier.carry_out`."""
        carried: Carried = await self._ask("carry_out", event, start)
        return carried

    async def remove(self, event: WorkflowJobEvent, start: StartRunner, child: str) -> None:
        """The child's `LocalCarrier.remove` (which logs what it could not do)."""
        try:
            await self._ask("remove", event, start, child)
        except DispatchProcessFailed as error:  # the reconciler retires what is left
            log.warning("could not remove %s: %s", start.runner_name, error)

    async def close(self) -> None:
        """Hang up; wait for the child to exit (killed after EXIT_TIMEOUT)."""
        self._closing = True
        if self._writer is None or self._process is None:
            return
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)
        await asyncio.to_thread(self._process.join, EXIT_TIMEOUT)
        if self._process.is_alive():
            log.error("the dispatch process did not exit in %.0fs; killing it", EXIT_TIMEOUT)
            self._process.kill()
            await asyncio.to_thread(self._process.join)

    async def _ask(self, *request: Any) -> Any:
        if self._writer is None or self._reading is None or self._reading.done():
            raise DispatchProcessFailed("the dispatch process is not running")
        call = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._calls[call] = answer
        notify = backing_off.get()
        if notify is not None:
            self._backing_off[call] = notify
        try:
            self._writer.write(_frame((call, *request)))
            return await answer
        finally:
            self._calls.pop(call, None)
            self._backing_off.pop(call, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Settle each call with its answer; when the child is gone, fail the rest."""
        try:
            while True:
                call, kind, value, remaining = await _read_frame(reader)
                self.rate_limit_remaining = remaining
                if kind == "waiting":  # a retry of this call waits out its backoff
                    notify = self._backing_off.get(call)
                    if notify is not None:
                        notify()
                    continue
                answer = self._calls.get(call)
                if answer is None or answer.done():  # its worker was cancelled meanwhile
                    continue
                if kind == "ok":
                    answer.set_result(value)
                elif kind == "limited":
                    message, status, retry_after = value
                    limited = GitHubRateLimited(message, status=status, retry_after=retry_after)
                    answer.set_exception(limited)
                elif kind == "missing":
                    message, status = value
                    answer.set_exception(RunnerJobMissing(message, status=status))
                else:
                    answer.set_exception(DispatchProcessFailed(value))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        for answer in self._calls.values():
            if not answer.done():
                answer.set_exception(DispatchProcessFailed("the dispatch process exited"))
        if not self._closing and self._process is not None:
            self.lost = True
            await asyncio.to_thread(self._process.join, EXIT_TIMEOUT)
            log.critical(
                "the dispatch process exited (code %s); stopping so rod serve is started again",
                self._process.exitcode,
            )
            os.kill(os.getpid(), signal.SIGTERM)


def _frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _SIZE.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    (size,) = _SIZE.unpack(await reader.readexactly(_SIZE.size))
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
    return message


def _child(
    theirs: socket.socket, ours: socket.socket, settings: Settings, backoff: Backoff | None
) -> None:
    """The child's main: ignore stop signals, lower its priority, serve until the socket ends."""
    ours.close()
    signal.set_wakeup_fd(-1)  # the serving loop's: a signal here must not wake it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(theirs, settings, backoff))
    else:
        uvloop.run(_serve(theirs, settings, backoff))


async def _serve(sock: socket.socket, settings: Settings, backoff: Backoff | None) -> None:
    """Carry out each runner asked for, concurrently, until the serving process hangs up."""
    github_client, nomad_client = clients(settings)
    async with github_client, nomad_client:
        github = GitHubHttp(github_client, github_auth(settings))
        nomad = nomad_port(settings, nomad_client)
        carrier = local_carrier(settings, github, nomad, Retrier(backoff))
        reader, writer = await asyncio.open_connection(sock=sock)
        tasks: set[asyncio.Task[None]] = set()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                request = await _read_frame(reader)
                task = asyncio.create_task(_answer(carrier, github, writer, request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        for task in tasks:  # the serving process gave up on them (its drain deadline passed)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _answer(
    carrier: LocalCarrier,
    github: GitHubHttp,
    writer: asyncio.StreamWriter,
    request: tuple[Any, ...],
) -> None:
    """Carry out one request; answer with its result, the rate limit, the runner job that
    cannot be dispatched from, or the error."""
    call, kind, *args = request

    def waiting() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(_frame((call, "waiting", None, github.rate_limit_remaining)))

    backing_off.set(waiting)  # this task's own (each request runs in a task of its own)
    try:
        if kind == "carry_out":
            reply: tuple[Any, ...] = (call, "ok", await carrier.carry_out(*args))
        else:
            await carrier.remove(*args)
            reply = (call, "ok", None)
    except GitHubRateLimited as limited:
        reply = (call, "limited", (str(limited), limited.status, limited.retry_after))
    except RunnerJobMissing as missing:
        reply = (call, "missing", (str(missing), missing.status))
    except Exception:
        log.exception("dispatch process: unexpected error on %s", kind)
        reply = (call, "error", "unexpected error in the dispatch process; see its log")
    with contextlib.suppress(ConnectionError):
        writer.write(_frame((*reply, github.rate_limit_remaining)))
