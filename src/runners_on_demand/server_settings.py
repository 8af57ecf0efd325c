"""`[server]`: where the webhook intake listens, what it takes in, the queue behind it, and the
limits of its HTTP edge (limits.py). Read by config.py through tables.py; see rod.example.toml."""

from __future__ import annotations

from dataclasses import dataclass, field

from runners_on_demand.tables import bounds

__all__ = ["HTTP_PARSERS", "ServerSettings"]

# uvicorn's HTTP/1.1 parsers; "auto" is httptools when it is installed, else h11.
HTTP_PARSERS = ("auto", "h11", "httptools")


@dataclass(frozen=True)
class ServerSettings:
    """`[server]`: where the intake listens, what it takes in, the queue behind it, its edge."""

    host: str = "0.0.0.0"
    port: int = field(default=8080, metadata=bounds(0, 65535))
    # GitHub never delivers more than 25 MB (docs: "Webhook payload object" payload cap).
    max_body_bytes: int = field(default=1024 * 1024, metadata=bounds(1024, 25 * 2**20))
    # All bodies being received at once, counted as they arrive: each is held whole until its
    # signature can be checked, so past this total a body is refused (503, closed) rather than
    # let unsigned senders hold max_connections x max_body_bytes of memory. At least
    # max_body_bytes; GitHub's workflow_job deliveries are about 11 KB.
    max_body_bytes_total: int = field(default=64 * 2**20, metadata=bounds(1024, 2**40))
    # GitHub waits 10 s for an answer, so a body still arriving after that is never legitimate.
    body_timeout_seconds: float = field(default=10.0, metadata=bounds(0.1, 600))
    queue_size: int = field(default=1000, metadata=bounds(1, 1_000_000))
    workers: int = field(default=4, metadata=bounds(1, 256))
    shutdown_grace_seconds: float = field(default=25.0, metadata=bounds(0, 3600))
    dedup_size: int = field(default=10_000, metadata=bounds(100, 10_000_000))
    # While a pool's runner job cannot be dispatched (not registered, stopped, not a
    # parameterized batch job), its runners wait and Nomad is asked about it this often
    # (runner_job_hold.py): one `GET /v1/jobs?prefix=<job>&per_page=1` each time.
    runner_job_recheck_seconds: float = field(default=10.0, metadata=bounds(0.1, 3600))
    # `rod serve` carries out runners in a process of its own (dispatch_process.py); false keeps
    # them on the serving event loop (one process, a few MB less, slower acknowledgements).
    dispatch_process: bool = True
    # The HTTP edge (limits.py): the parser, how long and large a request head may be, how long
    # an idle keep-alive connection stays, how many connections at once (past it, the one
    # waiting longest for a request head is closed). GitHub's request heads are under 2 KiB.
    http: str = "auto"
    header_timeout_seconds: float = field(default=10.0, metadata=bounds(0.1, 600))
    max_header_bytes: int = field(default=16 * 1024, metadata=bounds(1024, 2**20))
    keepalive_timeout_seconds: int = field(default=5, metadata=bounds(1, 600))
    max_connections: int = field(default=512, metadata=bounds(1, 100_000))
    # A refused request (bad or no signature, malformed, too large...) is logged when it is the
    # first of its kind for this long; the others are counted in one line per interval, so a
    # flood of forged requests cannot flood the log. 0: one line each. The metrics count all.
    refusal_log_interval_seconds: float = field(default=60.0, metadata=bounds(0, 86400))
