"""Which of many alike lines are written: the first of each kind, then one count per interval."""

from __future__ import annotations

from runners_on_demand.quiet_log import QuietLog


def test_the_first_of_a_kind_is_written_and_the_rest_of_the_interval_counted() -> None:
    quiet = QuietLog(60.0)
    written = [quiet.take("bad_signature", now=100.0 + i / 100) for i in range(1000)]
    assert written == [True] + [False] * 999
    assert quiet.left_out(now=161.0) == {"bad_signature": 999}
    assert quiet.left_out(now=162.0) == {}  # counted once


def test_kinds_are_quieted_apart() -> None:
    quiet = QuietLog(60.0)
    assert quiet.take("bad_signature", now=0.0)
    assert quiet.take("malformed", now=1.0)  # its own first
    assert not quiet.take("malformed", now=2.0)
    assert quiet.left_out(now=3.0) == {"malformed": 1}


def test_a_kind_just_counted_stays_quiet_for_another_interval() -> None:
    quiet = QuietLog(60.0)
    quiet.take("too_large", now=0.0)
    quiet.take("too_large", now=1.0)
    assert quiet.left_out(now=60.0) == {"too_large": 1}
    assert not quiet.take("too_large", now=100.0)  # a flood goes on: one count per interval
    assert quiet.left_out(now=120.0) == {"too_large": 1}
    assert quiet.take("too_large", now=180.0)  # quiet for an interval: written again


def test_a_kind_never_counted_is_written_again_after_the_interval() -> None:
    quiet = QuietLog(60.0)
    assert quiet.take("timeout", now=0.0)
    assert quiet.left_out(now=30.0) == {}
    assert not quiet.take("timeout", now=59.9)
    assert quiet.take("timeout", now=60.0 + 60.0)


def test_no_interval_writes_every_line() -> None:
    quiet = QuietLog(0.0)
    assert all(quiet.take("bad_signature", now=5.0) for _ in range(10))
    assert quiet.left_out(now=5.0) == {}
