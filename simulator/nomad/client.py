"""The emulated Nomad client node: placement by CPU/memory, alloc dirs, tasks run by a driver.

All methods run under the backend's lock (an RLock shared with `NomadBackend`); driver watcher
threads re-enter through `_task_exited`, which takes the same lock.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from simulator.nomad.acl import Claim
from simulator.nomad.drivers import Driver, DriverError, TaskLaunch
from simulator.nomad.events import event
from simulator.nomad.network import AllocatedPort, PortCollision, allocate_ports, reserved_ports
from simulator.nomad.prestart import Prestart, prestart
from simulator.nomad.state import (
    Allocation,
    JobRecord,
    TaskRun,
    client_status,
    node_json,
    task_event,
)
from simulator.nomad.taskenv import TaskPaths, interpolate_config, node_attributes, task_env
from simulator.nomad.templates import TemplateFailed, WorkloadApi, missing_message
from simulator.nomad.watch import IndexWatch

JobKey = tuple[str, str]


def _needs(group: dict[str, Any]) -> tuple[int, int]:
    """CPU (MHz) and memory (MiB) one instance of a task group reserves."""
    tasks = group["Tasks"]
    return sum(t["Resources"]["CPU"] for t in tasks), sum(t["Resources"]["MemoryMB"] for t in tasks)


class NodeClient:
    """One node with fixed CPU (MHz) and memory (MiB), running allocations through a driver."""

    def __init__(
        self,
        *,
        driver: Driver,
        lock: threading.RLock,
        watch: IndexWatch,
        records: dict[JobKey, JobRecord],
        on_change: Callable[[JobKey, int], None],
        emit: Callable[[int, dict[str, Any]], None],
        cpu: int,
        memory: int,
        data_dir: str,
        base_env: Mapping[str, str],
    ) -> None:
        self.driver = driver
        self.lock = lock
        self.watch = watch
        self.records = records
        self.on_change = on_change
        self.emit = emit
        self.data_dir = data_dir
        self.base_env = dict(base_env)
        self.allocs: dict[str, Allocation] = {}
        self.queue: list[tuple[JobKey, str, str]] = []  # (job, group, eval id) awaiting capacity
        self.allocs_index = 1
        self._draining = False
        self.workload: WorkloadApi | None = None  # set by the backend: ACL, variables, tokens
        self.blocked: dict[tuple[str, str], list[str]] = {}  # (alloc, task) -> missing data
        self.node = node_json(cpu, memory)
        self.cpu, self.memory = cpu, memory

    def claim_of(self, alloc_id: str, task_name: str) -> Claim | None:
        """The workload claim of a task of a live allocation (`verifyWorkloadIdentityClaim`)."""
        alloc = self.allocs.get(alloc_id)
        if alloc is None or alloc.client_terminal or task_name not in alloc.tasks:
            return None
        # Job.GetIDforWorkloadIdentity (structs.go L4631): a dispatched child is its parent.
        job_id = alloc.job.get("ParentID") or alloc.job_id
        return Claim(alloc.namespace, job_id, alloc.group, task_name)

    def retry_templates(self, index: int) -> None:
        """A variable or policy changed: try again the tasks whose templates were missing data."""
        for alloc_id, task_name in list(self.blocked):
            alloc = self.allocs.get(alloc_id)
            if alloc is None or alloc.client_terminal or alloc.desired_status == "stop":
                self.blocked.pop((alloc_id, task_name), None)
                continue
            group = next(g for g in alloc.job["TaskGroups"] if g["Name"] == alloc.group)
            task = next(t for t in group["Tasks"] if t["Name"] == task_name)
            self._start_task(alloc, group, task, index)

    # -- placement ---------------------------------------------------------------------------

    def free(self) -> tuple[int, int]:
        """CPU and memory not held by non-terminal allocations."""
        live = [a for a in self.allocs.values() if not a.client_terminal]
        return self.cpu - sum(a.cpu for a in live), self.memory - sum(a.memory for a in live)

    def place(self, record: JobRecord, eval_id: str, index: int) -> None:
        """Queue one placement per group instance, then place what fits."""
        for group in record.job["TaskGroups"]:
            for _ in range(group["Count"]):
                record.queued[group["Name"]] = record.queued.get(group["Name"], 0) + 1
                self.queue.append((record.key, group["Name"], eval_id))
        self.drain_queue(index)

    def drain_queue(self, index: int) -> None:
        """Place queued group instances, oldest first, while the node has room."""
        if self._draining:  # a placement that ends at once re-enters through _settle
            return
        self._draining = True
        try:
            while (entry := self._next_placeable()) is not None:
                self.queue.remove(entry)
                key, group_name, eval_id = entry
                record = self.records.get(key)
                if record is None or record.job["Stop"]:
                    continue
                group = next(g for g in record.job["TaskGroups"] if g["Name"] == group_name)
                try:
                    ports = allocate_ports(
                        group.get("Networks") or [], self.used_ports(), str(self.node["Address"])
                    )
                except PortCollision:
                    self.queue.insert(0, entry)  # no dynamic port free now: wait for one
                    break
                record.queued[group_name] -= 1
                self._start_alloc(record, group, eval_id, *_needs(group), index, ports)
        finally:
            self._draining = False

    def _next_placeable(self) -> tuple[JobKey, str, str] | None:
        """The oldest queued entry that is stale or fits in the free CPU, memory and ports."""
        free_cpu, free_memory = self.free()
        for entry in self.queue:
            record = self.records.get(entry[0])
            if record is None or record.job["Stop"]:
                return entry
            group = next(g for g in record.job["TaskGroups"] if g["Name"] == entry[1])
            cpu, memory = _needs(group)
            static = reserved_ports(group.get("Networks") or [])
            if cpu <= free_cpu and memory <= free_memory and not static & self.used_ports():
                return entry
        return None

    def used_ports(self) -> set[int]:
        """Host ports held by non-terminal allocations."""
        return {p.value for a in self.allocs.values() if not a.client_terminal for p in a.ports}

    def unqueue(self, key: JobKey) -> None:
        """Drop blocked placements of a stopped or purged job."""
        self.queue = [entry for entry in self.queue if entry[0] != key]
        record = self.records.get(key)
        if record is not None:
            record.queued = dict.fromkeys(record.queued, 0)

    # -- allocations -------------------------------------------------------------------------

    def _start_alloc(
        self,
        record: JobRecord,
        group: dict[str, Any],
        eval_id: str,
        cpu: int,
        memory: int,
        index: int,
        ports: list[AllocatedPort],
    ) -> None:
        job = record.job
        alloc_id = str(uuid.uuid4())
        siblings = [
            a for a in self.allocs.values() if a.job_id == job["ID"] and a.group == group["Name"]
        ]
        alloc = Allocation(
            id=alloc_id,
            eval_id=eval_id,
            namespace=job["Namespace"],
            job_id=job["ID"],
            job=job,
            group=group["Name"],
            index=len(siblings),
            node_id=self.node["ID"],
            node_name=self.node["Name"],
            path=os.path.join(self.data_dir, alloc_id),
            create_index=index,
            create_time=time.time_ns(),
            cpu=cpu,
            memory=memory,
            tasks={t["Name"]: TaskRun(t["Name"]) for t in group["Tasks"]},
            ports=tuple(ports),
        )
        self._touch(alloc, index, "PlanResult")
        self.allocs[alloc_id] = alloc
        for sub in ("alloc/logs", "alloc/data", "alloc/tmp"):
            os.makedirs(os.path.join(alloc.path, sub), exist_ok=True)
        for task in group["Tasks"]:
            self._start_task(alloc, group, task, index)

    def _touch(self, alloc: Allocation, index: int, kind: str = "AllocationUpdated") -> None:
        alloc.modify_index = index
        alloc.modify_time = time.time_ns()
        self.allocs_index = index
        stub = alloc.stub()
        self.emit(
            index,
            event(
                "Allocation", kind, alloc.id, alloc.namespace, {"Allocation": stub}, [alloc.job_id]
            ),
        )

    def _start_task(
        self, alloc: Allocation, group: dict[str, Any], task: dict[str, Any], index: int
    ) -> None:
        run = alloc.tasks[task["Name"]]
        job = alloc.job
        paths = TaskPaths.of(alloc.path, task["Name"])
        for directory in (paths.local_dir, paths.secrets_dir, os.path.join(paths.task_dir, "tmp")):
            os.makedirs(directory, exist_ok=True)
        first_start = run.hook_env is None
        if not run.events:
            run.events.append(task_event("Received", "Task received by client"))
            run.events.append(task_event("Task Setup", "Building Task Directory"))
        logs = os.path.join(paths.alloc_dir, "logs", task["Name"])
        env = task_env(
            job=job,
            group=group,
            task=task,
            alloc_id=alloc.id,
            alloc_index=alloc.index,
            paths=paths,
            node=self.node,
            base=self.base_env,
            ports=alloc.ports,
        )
        try:
            if first_start:
                hooks = self._prestart(alloc, task, paths, env)
                if hooks.missing:
                    self._block(alloc, run, hooks.missing, index)
                    return
                run.hook_env = hooks.env
            env.update(run.hook_env or {})  # template env overrides the task's env (env.go L674)
            launch = TaskLaunch(
                alloc_id=alloc.id,
                task_name=task["Name"],
                driver=task["Driver"],
                config=interpolate_config(task["Config"], {**env, **node_attributes(self.node)}),
                env=env,
                task_dir=paths.task_dir,
                stdout_path=f"{logs}.stdout.0",
                stderr_path=f"{logs}.stderr.0",
                kill_signal=task.get("KillSignal") or "SIGTERM",
            )
            run.handle = self.driver.start(
                launch, lambda code, sig, err: self._task_exited(alloc.id, run.name, code, sig)
            )
        except (DriverError, TemplateFailed) as exc:
            kind = "Driver Failure" if isinstance(exc, DriverError) else "Killing"
            run.events.append(task_event(kind, str(exc), FailsTask=True))
            run.failed = True
            run.finished_at = time.time_ns()
            run.move("dead")
            self._settle(alloc, index)
            return
        run.move("running")
        run.started_at = run.started_at or time.time_ns()
        run.events.append(task_event("Started", "Task started by client"))
        self._settle(alloc, index)

    def _prestart(
        self, alloc: Allocation, task: dict[str, Any], paths: TaskPaths, env: dict[str, str]
    ) -> Prestart:
        claim = self.claim_of(alloc.id, task["Name"])
        assert claim is not None and self.workload is not None
        self.blocked.pop((alloc.id, task["Name"]), None)
        return prestart(
            job=alloc.job,
            task=task,
            claim=claim,
            alloc_id=alloc.id,
            alloc_path=alloc.path,
            paths=paths,
            env=env,
            api=self.workload,
        )

    def _block(self, alloc: Allocation, run: TaskRun, missing: list[str], index: int) -> None:
        """The task stays pending; a `Template` event says what it waits for, once per change."""
        if missing != self.blocked.get((alloc.id, run.name)):
            run.events.append(task_event("Template", missing_message(missing)))
            self._settle(alloc, index)
        self.blocked[(alloc.id, run.name)] = missing

    def _task_exited(self, alloc_id: str, task_name: str, code: int, sig: int) -> None:
        with self.lock:
            alloc = self.allocs.get(alloc_id)
            if alloc is None or alloc.client_terminal:
                return  # reset or GC'd meanwhile
            index = self.watch.bump()
            run = alloc.tasks[task_name]
            run.handle = None
            run.events.append(
                task_event("Terminated", f"Exit Code: {code}", ExitCode=code, Signal=sig)
            )
            group = next(g for g in alloc.job["TaskGroups"] if g["Name"] == alloc.group)
            task = next(t for t in group["Tasks"] if t["Name"] == task_name)
            policy = task["RestartPolicy"]
            if alloc.desired_status == "stop":
                run.events.append(task_event("Killed", "Task successfully killed"))
            elif code != 0 or sig != 0:
                if run.restarts < policy["Attempts"]:
                    run.restarts += 1
                    run.move("pending")
                    delay = policy["Delay"] / 1e9
                    run.events.append(task_event("Restarting", f"Task restarting in {delay}s"))
                    timer = threading.Timer(delay, self._restart, (alloc_id, task_name))
                    timer.daemon = True
                    timer.start()
                    self._settle(alloc, index)
                    return
                run.failed = True
                run.events.append(
                    task_event("Not Restarting", "Exceeded allowed attempts", FailsTask=True)
                )
            run.finished_at = time.time_ns()
            run.move("dead")
            self._settle(alloc, index)

    def _restart(self, alloc_id: str, task_name: str) -> None:
        with self.lock:
            alloc = self.allocs.get(alloc_id)
            if alloc is None or alloc.client_terminal or alloc.desired_status == "stop":
                return
            index = self.watch.bump()
            group = next(g for g in alloc.job["TaskGroups"] if g["Name"] == alloc.group)
            task = next(t for t in group["Tasks"] if t["Name"] == task_name)
            self._start_task(alloc, group, task, index)

    def _settle(self, alloc: Allocation, index: int) -> None:
        """Derive ClientStatus from the task states; a finished allocation frees its room."""
        self._touch(alloc, index)
        status = client_status(alloc.tasks.values())
        if status != alloc.client_status:
            alloc.move(status)
        if alloc.client_terminal:
            self.drain_queue(index)
        self.on_change((alloc.namespace, alloc.job_id), index)

    def stop_allocs(self, key: JobKey, index: int) -> None:
        """DesiredStatus stop: signal running tasks, finish tasks that are not running."""
        self.unqueue(key)
        for alloc in self.allocs_of(key):
            if alloc.client_terminal or alloc.desired_status == "stop":
                continue
            alloc.desired_status = "stop"
            self._touch(alloc, index, "PlanResult")
            group = next(g for g in alloc.job["TaskGroups"] if g["Name"] == alloc.group)
            for task in group["Tasks"]:
                run = alloc.tasks[task["Name"]]
                if run.state == "running" and run.handle is not None:
                    run.events.append(task_event("Killing", "Sent interrupt"))
                    run.handle.stop(task["KillTimeout"] / 1e9)
                elif run.state != "dead":
                    run.finished_at = time.time_ns()
                    run.move("dead")
            self._settle(alloc, index)

    def allocs_of(self, key: JobKey) -> list[Allocation]:
        """Allocations of one job, oldest first."""
        return sorted(
            (a for a in self.allocs.values() if (a.namespace, a.job_id) == key),
            key=lambda a: a.create_index,
        )

    def remove_allocs(self, key: JobKey) -> None:
        """GC: forget terminal allocations of a job and delete their directories."""
        for alloc in self.allocs_of(key):
            if alloc.client_terminal:
                del self.allocs[alloc.id]
                shutil.rmtree(alloc.path, ignore_errors=True)

    def kill_all(self) -> None:
        """Stop every running task at once (reset and shutdown)."""
        for alloc in self.allocs.values():
            for run in alloc.tasks.values():
                if run.handle is not None:
                    run.handle.kill()
                    run.handle = None
        self.allocs.clear()
        self.queue.clear()
        self.blocked.clear()
