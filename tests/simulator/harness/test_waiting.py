"""wait_for: returns the first observation that holds, or fails with the last one seen."""

from __future__ import annotations

import pytest

from simulator.harness.errors import WaitTimeout
from simulator.harness.waiting import wait_for


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TestWaitFor:
    def test_returns_the_first_observation_that_holds(self) -> None:
        time = FakeTime()
        values = iter([1, 2, 3, 4])
        result = wait_for(
            "three", lambda: next(values), lambda v: v >= 3, clock=time.clock, sleep=time.sleep
        )
        assert result == 3
        assert len(time.sleeps) == 2

    def test_times_out_with_the_last_observed_state(self) -> None:
        time = FakeTime()
        counter = iter(range(1000))
        with pytest.raises(WaitTimeout) as raised:
            wait_for(
                "a miracle",
                lambda: next(counter),
                lambda v: False,
                timeout=1.0,
                interval=0.25,
                describe=lambda v: f"count={v}",
                clock=time.clock,
                sleep=time.sleep,
            )
        message = str(raised.value)
        assert message.startswith("timed out after 1s waiting for a miracle")
        assert message.endswith("last observed: count=4")
        assert isinstance(raised.value, AssertionError)

    def test_transient_errors_count_as_not_yet(self) -> None:
        time = FakeTime()
        answers: list[object] = [ConnectionError("refused"), ConnectionError("refused"), "up"]

        def probe() -> object:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        result = wait_for(
            "the server",
            probe,
            lambda v: v == "up",
            transient=(ConnectionError,),
            clock=time.clock,
            sleep=time.sleep,
        )
        assert result == "up"

    def test_a_transient_error_is_the_last_state_on_timeout(self) -> None:
        time = FakeTime()

        def probe() -> int:
            raise ConnectionError("connection refused")

        with pytest.raises(WaitTimeout, match="ConnectionError: connection refused"):
            wait_for(
                "the server",
                probe,
                lambda v: True,
                timeout=0.1,
                transient=(ConnectionError,),
                clock=time.clock,
                sleep=time.sleep,
            )

    def test_other_errors_propagate(self) -> None:
        def probe() -> int:
            raise KeyError("bug")

        with pytest.raises(KeyError):
            wait_for("anything", probe, lambda v: True, transient=(ConnectionError,))
