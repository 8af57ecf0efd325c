"""The listener's Prometheus series, beside the pipeline's in the same registry (metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from runners_on_demand.listen.protocol import Statistics
from runners_on_demand.metrics import Metrics

__all__ = ["ListenMetrics"]

# Statistics field -> the `statistic` label, GitHub's own names ([S] RunnerScaleSetStatistic).
STATISTICS = {
    "available": "totalAvailableJobs",
    "acquired": "totalAcquiredJobs",
    "assigned": "totalAssignedJobs",
    "running": "totalRunningJobs",
    "registered": "totalRegisteredRunners",
    "busy": "totalBusyRunners",
    "idle": "totalIdleRunners",
}


class ListenMetrics:
    """What `rod listen` counts; a silent listener shows as a stale last-answer timestamp."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.base = metrics
        self.polls = Counter(
            "rod_listen_polls",
            "Long polls of the message queue, by outcome (message, empty, error).",
            ["outcome"],
            registry=registry,
        )
        self.entries = Counter(
            "rod_listen_job_messages",
            "Job entries received, by type (JobAvailable, JobAssigned, ...).",
            ["type"],
            registry=registry,
        )
        self.sessions = Counter(
            "rod_listen_sessions",
            "Message session attempts, by outcome (created, conflict, refreshed, lost).",
            ["outcome"],
            registry=registry,
        )
        self.statistics = Gauge(
            "rod_listen_statistics",
            "The scale set's statistics as the service last reported them.",
            ["statistic"],
            registry=registry,
        )
        self.desired = Gauge(
            "rod_listen_desired_runners",
            "min(min_runners + totalAssignedJobs, max_runners) at the last evaluation.",
            registry=registry,
        )
        self.runners = Gauge(
            "rod_listen_runners",
            "Runners counted at the last evaluation: live Nomad children plus the pipeline's.",
            registry=registry,
        )
        self.queued = Counter(
            "rod_listen_runners_queued",
            "Runners the listener handed to the pipeline.",
            registry=registry,
        )
        self.retired = Counter(
            "rod_listen_runners_retired",
            "Runners removed by the listener, by reason (surplus, orphan, boot_timeout, ...).",
            ["reason"],
            registry=registry,
        )
        self.acquired = Counter(
            "rod_listen_jobs_acquired",
            "Runner requests acquired for the scale set.",
            registry=registry,
        )
        self.retries = Counter(
            "rod_listen_retries",
            "Calls tried again (429, 5xx, no answer in time), by reason.",
            ["reason"],
            registry=registry,
        )
        self.last_answer = Gauge(
            "rod_listen_last_answer_timestamp_seconds",
            "When the message queue last answered a poll (200 or 202).",
            registry=registry,
        )

    def report(self, statistics: Statistics) -> None:
        """Set the statistics gauges."""
        for field, name in STATISTICS.items():
            self.statistics.labels(statistic=name).set(getattr(statistics, field))
