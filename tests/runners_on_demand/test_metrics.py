"""The metrics registry: names, labels, one registry per instance."""

from __future__ import annotations

import math
import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from runners_on_demand.metrics import ACK_BUCKETS, MAX_LABEL_VALUES, Metrics


class TestMetrics:
    def test_instances_do_not_share_a_registry(self) -> None:
        first, second = Metrics(), Metrics()  # the default registry would refuse the second
        first.count_webhook("ping", "pong")
        labels = {"event": "ping", "outcome": "pong"}
        assert first.registry.get_sample_value("rod_webhooks_total", labels) == 1
        assert second.registry.get_sample_value("rod_webhooks_total", labels) is None

    def test_exposition_names(self) -> None:
        metrics = Metrics()
        metrics.dispatches.labels(outcome="dispatched").inc()
        metrics.count_ignored("action:completed")
        metrics.observe_ack(0.002)
        metrics.to_dispatch_seconds.observe(0.4)
        text = metrics.render().decode()
        for line in (
            'rod_dispatches_total{outcome="dispatched"} 1.0',
            'rod_webhooks_ignored_total{reason="action:completed"} 1.0',
            'rod_webhook_ack_seconds_bucket{le="0.0025"} 1.0',
            'rod_webhook_to_dispatch_seconds_bucket{le="0.5"} 1.0',
            "# TYPE rod_queue_depth gauge",
            "# TYPE rod_github_rate_limit_remaining gauge",
        ):
            assert line in text

    def test_gauges_read_their_sources_at_scrape(self) -> None:
        metrics = Metrics()
        depth: list[int] = [3]
        remaining: list[int | None] = [None]
        metrics.track_queue(lambda: depth[0])
        metrics.track_rate_limit(lambda: remaining[0])
        value = metrics.registry.get_sample_value("rod_github_rate_limit_remaining")
        assert value is not None and math.isnan(value)
        assert metrics.registry.get_sample_value("rod_queue_depth") == 3
        depth[0], remaining[0] = 0, 4999
        assert metrics.registry.get_sample_value("rod_queue_depth") == 0
        assert metrics.registry.get_sample_value("rod_github_rate_limit_remaining") == 4999


class TestBoundedLabels:
    def test_values_from_deliveries_stop_growing_the_registry(self) -> None:
        metrics = Metrics()
        values = [metrics.bounded("event", f"event_{n}") for n in range(MAX_LABEL_VALUES + 5)]
        assert values[:MAX_LABEL_VALUES] == [f"event_{n}" for n in range(MAX_LABEL_VALUES)]
        assert values[MAX_LABEL_VALUES:] == ["other"] * 5
        assert metrics.bounded("event", "event_3") == "event_3"  # known ones keep their name
        assert metrics.bounded("reason", "event:x") == "event:x"  # each label on its own

    def test_deliveries_past_the_bound_are_counted_as_other(self) -> None:
        metrics = Metrics()
        for n in range(MAX_LABEL_VALUES + 3):
            metrics.count_webhook(f"event_{n}", "ignored")
            metrics.count_ignored(f"event:event_{n}")
        metrics.count_webhook("event_0", "ignored")
        sample = metrics.registry.get_sample_value
        assert sample("rod_webhooks_total", {"event": "other", "outcome": "ignored"}) == 3
        assert sample("rod_webhooks_total", {"event": "event_0", "outcome": "ignored"}) == 2
        assert sample("rod_webhooks_ignored_total", {"reason": "other"}) == 3
        series = re.findall(r"^rod_webhooks_total\{", metrics.render().decode(), re.M)
        assert len(series) == MAX_LABEL_VALUES + 1


class TestPerDeliveryMetrics:
    """The metrics counted per delivery are plain numbers; they must read as prometheus_client's."""

    @pytest.mark.parametrize("seconds", [0.0, 0.0004, 0.001, 0.0011, 0.0025, 2.5, 9.99, 10.0, 11.0])
    def test_the_exposition_is_prometheus_clients_own(self, seconds: float) -> None:
        ours = Metrics()
        registry = CollectorRegistry()
        webhooks = Counter(
            "rod_webhooks",
            "Webhook deliveries received, by GitHub event and outcome.",
            ["event", "outcome"],
            registry=registry,
        )
        ignored = Counter(
            "rod_webhooks_ignored",
            "Verified deliveries answered 2xx without a runner, by reason.",
            ["reason"],
            registry=registry,
        )
        ack = Histogram(
            "rod_webhook_ack_seconds",
            "Time from receiving a webhook to answering it.",
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        for event, outcome in [("workflow_job", "queued"), ("ping", "pong")] * 2:
            ours.count_webhook(event, outcome)
            webhooks.labels(event=event, outcome=outcome).inc()
        ours.count_ignored("action:completed")
        ignored.labels(reason="action:completed").inc()
        for value in (seconds, 0.003, seconds):
            ours.observe_ack(value)
            ack.observe(value)
        assert _without_created(generate_latest(registry)) <= _without_created(ours.render())


def _without_created(text: bytes) -> set[str]:
    """The exposition's lines, the `_created` timestamps blanked (they differ by microseconds)."""
    blanked = re.sub(rb"(_created(\{[^}]*\})?) \S+", rb"\1 T", text)
    return set(blanked.decode().splitlines())
