"""The event stream's buffer and topic matching (`nomad/stream/`, `nomad/state/events.go`).

`Type` names the Raft operation, not the object (events.go L11-50): dispatch and register give
`JobRegistered`, placements `PlanResult`, client updates `AllocationUpdated`, stop/purge
`JobDeregistered`, GC `JobBatchDeregistered`. Only the last 100 events are kept
(`event_buffer_size`).
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

BUFFER_SIZE = 100


def event(
    topic: str,
    kind: str,
    key: str,
    namespace: str,
    payload: dict[str, Any],
    filter_keys: list[str] | None = None,
) -> dict[str, Any]:
    """One `structs.Event` without its index."""
    return {
        "Topic": topic,
        "Type": kind,
        "Key": key,
        "Namespace": namespace,
        "FilterKeys": filter_keys,
        "Payload": copy.deepcopy(payload),
    }


def job_event(job: dict[str, Any], kind: str, *, deleted: bool = False) -> dict[str, Any]:
    """A Job-topic event; purge and GC events carry `Deleted: true` (GH-27614, 2.0.0/1.11.3)."""
    payload: dict[str, Any] = {"Job": job}
    if deleted:
        payload["Deleted"] = True
    return event("Job", kind, job["ID"], job["Namespace"], payload)


def eval_event(job: dict[str, Any], eval_id: str, index: int) -> dict[str, Any]:
    """The Evaluation event a register or dispatch emits (typed `JobRegistered`)."""
    evaluation = {
        "ID": eval_id,
        "JobID": job["ID"],
        "Namespace": job["Namespace"],
        "Type": job["Type"],
        "TriggeredBy": "job-register",
        "Status": "complete",
        "CreateIndex": index,
        "ModifyIndex": index,
    }
    return event(
        "Evaluation",
        "JobRegistered",
        eval_id,
        job["Namespace"],
        {"Evaluation": evaluation},
        [job["ID"]],
    )


class EventBuffer:
    """The newest events, grouped by index as the stream sends them."""

    def __init__(self, on_publish: Callable[[], None] = lambda: None) -> None:
        self.on_publish = on_publish
        self._lock = threading.Lock()
        self._events: deque[dict[str, Any]] = deque(maxlen=BUFFER_SIZE)
        self.generation = 0  # bumped by clear(), so open streams restart from index 0

    def publish(self, index: int, item: dict[str, Any]) -> None:
        """Record an event at `index`; a second change of one object in one index updates it."""
        with self._lock:
            last = self._events[-1] if self._events else None
            if last is not None and (last["Index"], last["Topic"], last["Key"]) == (
                index,
                item["Topic"],
                item["Key"],
            ):
                last["Payload"] = item["Payload"]
                if item["Type"] != "AllocationUpdated":  # the operation's own type wins
                    last["Type"] = item["Type"]
            else:
                self._events.append({**item, "Index": index})
        self.on_publish()

    @property
    def last_index(self) -> int:
        """Index of the newest event, or 0."""
        with self._lock:
            return self._events[-1]["Index"] if self._events else 0

    def batches_after(
        self, index: int, topics: Mapping[str, set[str]], namespace: str
    ) -> list[dict[str, Any]]:
        """`{"Index", "Events"}` lines for matching events newer than `index`."""
        with self._lock:
            items = [e for e in self._events if e["Index"] > index]
        batches: list[dict[str, Any]] = []
        for item in items:
            if not matches(item, topics, namespace):
                continue
            if batches and batches[-1]["Index"] == item["Index"]:
                batches[-1]["Events"].append(item)
            else:
                batches.append({"Index": item["Index"], "Events": [item]})
        return batches

    def clear(self) -> None:
        """Forget every event."""
        with self._lock:
            self._events.clear()
            self.generation += 1


def parse_topics(values: list[str]) -> dict[str, set[str]]:
    """`?topic=Job:abc&topic=Allocation` -> {topic: keys}; no topic means everything."""
    topics: dict[str, set[str]] = {}
    for value in values or ["*:*"]:
        topic, _, key = value.partition(":")
        topics.setdefault(topic, set()).add(key or "*")
    return topics


def matches(item: Mapping[str, Any], topics: Mapping[str, set[str]], namespace: str) -> bool:
    """subscription.go: a key matches `Key` or any of `FilterKeys`; `*` matches all."""
    if namespace != "*" and item["Namespace"] != namespace:
        return False
    keys = topics.get(item["Topic"], set()) | topics.get("*", set())
    if "*" in keys:
        return True
    return bool(keys & {item["Key"], *(item["FilterKeys"] or [])})
