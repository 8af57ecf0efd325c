"""Prometheus metrics of one dispatcher instance, in a registry of its own."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Webhooks are answered within GitHub's 10 s; dispatches may wait out retries for minutes.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
DISPATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Label values that come from deliveries (the event name, an ignored event's reason): GitHub
# has some seventy events, so a registry never needs more; past this many distinct values per
# label, a new one is counted as "other" and the registry stops growing.
MAX_LABEL_VALUES = 100


class Metrics:
    """The counters, gauges and histograms `/metrics` exposes (names follow Prometheus usage)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._seen: dict[str, set[str]] = {}
        self._webhooks = _Counts(
            "rod_webhooks",
            "Webhook deliveries received, by GitHub event and outcome.",
            ("event", "outcome"),
        )
        self._ignored = _Counts(
            "rod_webhooks_ignored",
            "Verified deliveries answered 2xx without a runner, by reason.",
            ("reason",),
        )
        self._ack_seconds = _Durations(
            "rod_webhook_ack_seconds", "Time from receiving a webhook to answering it.", ACK_BUCKETS
        )
        self.registry.register(_PerDelivery(self._webhooks, self._ignored, self._ack_seconds))
        self.previous_secret = Counter(
            "rod_webhook_previous_secret",
            "Deliveries signed with GITHUB_WEBHOOK_SECRET_PREVIOUS, the secret being rotated out.",
            registry=self.registry,
        )
        self.dispatches = Counter(
            "rod_dispatches",
            "Runner dispatches finished by the workers, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "rod_queue_depth",
            "Runners waiting for a worker (from every intake), not counting held ones.",
            registry=self.registry,
        )
        self.held = Gauge(
            "rod_queue_held",
            "Runners held, in order, until GitHub's rate limit resets.",
            registry=self.registry,
        )
        self.to_dispatch_seconds = Histogram(
            "rod_webhook_to_dispatch_seconds",
            "Time from receiving a queued workflow_job to Nomad accepting the dispatch.",
            buckets=DISPATCH_BUCKETS,
            registry=self.registry,
        )
        self.github_rate_limit_remaining = Gauge(
            "rod_github_rate_limit_remaining",
            "GitHub's x-ratelimit-remaining on the latest API answer (NaN before the first).",
            registry=self.registry,
        )
        self.github_rate_limit_remaining.set(float("nan"))
        self._runner_job_holds = _RunnerJobHolds()
        self.registry.register(self._runner_job_holds)

    def count_webhook(self, event: str, outcome: str) -> None:
        """One more delivery of `event` answered with `outcome`."""
        counts = self._webhooks
        count = counts.get((event, outcome)) or counts.new((self.bounded("event", event), outcome))
        count[0] += 1

    def count_ignored(self, reason: str) -> None:
        """One more delivery answered 2xx without a runner, for `reason`."""
        counts = self._ignored
        count = counts.get((reason,)) or counts.new((self.bounded("reason", reason),))
        count[0] += 1

    def observe_ack(self, seconds: float) -> None:
        """A delivery answered `seconds` after it was received."""
        self._ack_seconds.observe(seconds)

    def bounded(self, label: str, value: str) -> str:
        """`value` for the label `label`, or "other" once it has MAX_LABEL_VALUES others."""
        seen = self._seen.setdefault(label, set())
        if value in seen or len(seen) < MAX_LABEL_VALUES:
            seen.add(value)
            return value
        return "other"

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth from `depth()` at each scrape."""
        self.queue_depth.set_function(lambda: float(depth()))

    def track_held(self, held: Callable[[], int]) -> None:
        """Read the number of held runners from `held()` at each scrape."""
        self.held.set_function(lambda: float(held()))

    def track_runner_job_holds(self, held: Callable[[], Mapping[str, int]]) -> None:
        """Read the runners parked by runner job (runner_job_hold.py) from `held()`."""
        self._runner_job_holds.held = held

    def track_rate_limit(self, remaining: Callable[[], int | None]) -> None:
        """Read GitHub's remaining quota from `remaining()` at each scrape."""

        def read() -> float:
            value = remaining()
            return float("nan") if value is None else float(value)

        self.github_rate_limit_remaining.set_function(read)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class _RunnerJobHolds(Collector):
    """`rod_runner_job_held{job}`: one series per runner job that cannot be dispatched."""

    def __init__(self) -> None:
        self.held: Callable[[], Mapping[str, int]] = dict

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "rod_runner_job_held",
            "Runners waiting while their runner job cannot be dispatched, by runner job.",
            labels=["job"],
        )
        for job, count in self.held().items():
            family.add_metric([job], float(count))
        yield family


class _Counts(dict[tuple[str, ...], list[float]]):
    """A labelled counter in plain numbers: label values -> [count, created]."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        super().__init__()
        self.name, self.documentation, self.labels = name, documentation, labels

    def new(self, values: tuple[str, ...]) -> list[float]:
        """The count of these label values, started at 0 now if there is none yet."""
        return self.setdefault(values, [0.0, time.time()])

    def family(self) -> CounterMetricFamily:
        """As prometheus_client's `Counter` exposes it: `_total` and `_created` per series."""
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, (count, created) in self.items():
            family.add_metric(values, count, created=created)
        return family


class _Durations:
    """A histogram without labels in plain numbers."""

    def __init__(self, name: str, documentation: str, bounds: Sequence[float]) -> None:
        self.name, self.documentation, self.bounds = name, documentation, bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket; the last is +Inf's own
        self.sum, self.created = 0.0, time.time()

    def observe(self, seconds: float) -> None:
        """One more observation, in the first bucket whose bound is at least `seconds`."""
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def family(self) -> HistogramMetricFamily:
        """As prometheus_client's `Histogram` exposes it: buckets (cumulative), count, sum."""
        family = HistogramMetricFamily(self.name, self.documentation)
        bounds = [*map(floatToGoString, self.bounds), "+Inf"]
        buckets = list(zip(bounds, accumulate(self.counts), strict=True))
        family.add_metric([], buckets, self.sum)
        family.samples.append(Sample(f"{self.name}_created", {}, self.created))
        return family


class _PerDelivery(Collector):
    """The metrics counted once per delivery, read at each scrape.

    prometheus_client's own metrics take a lock per count, for threads; only the serving event
    loop counts these, and /metrics is rendered on that loop too. Counting a delivery and its
    time to acknowledge so costs 0.5 us instead of 1.8 (README, Performance).
    """

    def __init__(self, *metrics: _Counts | _Durations) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield metric.family()
