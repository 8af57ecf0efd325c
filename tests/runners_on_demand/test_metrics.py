"""The metrics registry: names, labels, one registry per instance."""

from __future__ import annotations

import math

from runners_on_demand.metrics import MAX_LABEL_VALUES, Metrics


class TestMetrics:
    def test_instances_do_not_share_a_registry(self) -> None:
        first, second = Metrics(), Metrics()  # the default registry would refuse the second
        first.webhooks.labels(event="ping", outcome="pong").inc()
        labels = {"event": "ping", "outcome": "pong"}
        assert first.registry.get_sample_value("rod_webhooks_total", labels) == 1
        assert second.registry.get_sample_value("rod_webhooks_total", labels) is None

    def test_exposition_names(self) -> None:
        metrics = Metrics()
        metrics.dispatches.labels(outcome="dispatched").inc()
        metrics.ignored.labels(reason="action:completed").inc()
        metrics.ack_seconds.observe(0.002)
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
