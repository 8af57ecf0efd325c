"""`make docker-smoke`: the images, both compose files and the acceptance suite on real Nomad.

Usage: python scripts/docker_smoke.py [--down]

Where no Docker engine answers (or the compose or buildx plugin is missing) it prints one line,
`docker-smoke: skipped: <why>`, and exits 0: there is nothing to smoke without Docker, and a
skip is not a failure (`make test` never calls this). With DOCKER_SMOKE_REQUIRED=1, which the CI
job sets, the line says `failed` and the exit status is 1, so a runner without Docker cannot
pass for green.

Otherwise the steps of `plan()` run in order and the first failure stops the run (exit 1):
build both Dockerfile targets; `nomad version`, `rod --version` and `rod demo` in them; bring up
docker-compose.yml's acceptance profile (both agents at once) and take it down; check
docker-compose.dispatcher.yml, bring up its docker-driver agent, register the runner job with a
small image and check that a dispatched docker task reads its payload and its credential; then
`behave -D backend=compose`. Whatever happens (a failed step, Ctrl-C, SIGTERM), both compose
projects' remaining logs are saved under build/acceptance/ and both are taken down; `--down` does
only that.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The tags docker-compose*.yml give the images (`image:` beside `build:`).
AGENT_IMAGE = "runners-on-demand-nomad-agent:dev"
ROD_IMAGE = "runners-on-demand:dev"
DISPATCHER_FILE = "docker-compose.dispatcher.yml"
ACCEPTANCE = ("docker", "compose", "--profile", "acceptance")
DISPATCHER = ("docker", "compose", "-f", DISPATCHER_FILE)
PROJECTS = {"acceptance": ACCEPTANCE, "dispatcher": DISPATCHER}
# The runner job's docker task, made small for the check: busybox (about 2 MB, no entrypoint that
# would swallow the command) instead of the runner image, exiting 0 only if the payload file holds
# the meta value and the template rendered the credential Variable into secrets/. No quotes:
# neither value has spaces, and the Nomad emulator keeps `\"` escapes.
SMOKE_VARIABLES: dict[str, Any] = {
    "image": "busybox:1.36.1",
    "runner_command": "/bin/sh",
    "runner_args": [
        "-c",
        "grep -q $NOMAD_META_RUNNER_NAME $NOMAD_TASK_DIR/payload.json"
        " && grep -q jit_config=smoke $NOMAD_SECRETS_DIR/credential",
    ],
    "cpu": 100,
    "memory": 64,
}
RUNNER_JOB = "github-runner"
TASK_SECONDS = 180.0


class SmokeFailed(Exception):
    """A step failed; the message is one line."""


@dataclass(frozen=True)
class Step:
    """One thing to do: a command that must exit 0, or a check in this process."""

    title: str
    command: tuple[str, ...] = ()
    check: Callable[[], None] | None = None


def docker_problem(run: Callable[[list[str]], int]) -> str | None:
    """None when the docker CLI, an engine, compose and buildx all answer; else one line why."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    if run(["docker", "info"]) != 0:
        return "no Docker engine answers (`docker info` failed)"
    for plugin in ("compose", "buildx"):
        if run(["docker", plugin, "version"]) != 0:
            return f"the docker {plugin} plugin is not installed"
    return None


def var_flags(variables: Mapping[str, Any]) -> list[str]:
    """`nomad job run -var` flags: strings as they are, numbers and lists as HCL literals."""
    flags: list[str] = []
    for name, value in variables.items():
        text = value if isinstance(value, str) else json.dumps(value)
        flags += ["-var", f"{name}={text}"]
    return flags


def plan(nomad_url: str) -> list[Step]:
    """Every step of a smoke run, in order; `nomad_url` is the dispatcher file's agent."""
    build = ("docker", "buildx", "build", "--load", "--target")
    rod = ("docker", "run", "--rm", "--entrypoint", "rod", ROD_IMAGE)
    behave = (sys.executable, "-m", "behave", "-D", "backend=compose")
    register = ("run", "--rm", "runner-job", "job", "run", "-detach", *var_flags(SMOKE_VARIABLES))
    return [
        Step("build the Nomad agent's image", (*build, "nomad-agent", "--tag", AGENT_IMAGE, ".")),
        Step("build rod's image", (*build, "rod", "--tag", ROD_IMAGE, ".")),
        Step("nomad version in its image", ("docker", "run", "--rm", AGENT_IMAGE, "version")),
        Step("rod --version in rod's image", (*rod, "--version")),
        Step("rod demo in rod's image", (*rod, "demo", "--jobs", "2")),
        Step("the acceptance profile comes up healthy", (*ACCEPTANCE, "up", "--detach", "--wait")),
        Step("the acceptance profile goes down", (*ACCEPTANCE, "down", "--volumes")),
        Step(f"{DISPATCHER_FILE} is valid", (*DISPATCHER, "config", "--quiet")),
        Step("its agent comes up healthy", (*DISPATCHER, "up", "--detach", "--wait", "nomad")),
        Step(
            "its runner-job service registers the runner job (with a small image)",
            (*DISPATCHER, *register, "/deploy/github-runner.nomad.hcl"),
        ),
        Step(
            "a dispatched docker task reads its payload and credential",
            check=lambda: check_task(nomad_url),
        ),
        Step("its agent goes down", (*DISPATCHER, "down", "--volumes")),
        Step("the acceptance suite on real Nomad", behave),
    ]


def dispatch_body(token: str) -> dict[str, Any]:
    """A dispatch of the runner job: the required meta, and a payload that holds `token`."""
    meta = {
        "REPO_FULL_NAME": "octo-org/smoke",
        "REPO_SHORT_NAME": "smoke",
        "WORKFLOW_RUN": "1",
        "GITHUB_JOB_ID": "1",
        "RUNNER_NAME": token,
    }
    payload = json.dumps({"smoke": token}).encode()
    return {"Meta": meta, "Payload": base64.b64encode(payload).decode()}


def task_outcome(allocations: list[dict[str, Any]]) -> str | None:
    """None while the child's allocation runs; "complete" or one line why it failed."""
    for alloc in allocations:
        status = alloc.get("ClientStatus")
        if status == "complete":
            return "complete"
        if status in ("failed", "lost"):
            states = (alloc.get("TaskStates") or {}).values()
            events = [e.get("DisplayMessage", "") for s in states for e in s.get("Events") or []]
            return f"allocation {status}: {'; '.join(events[-3:]) or 'no task events'}"
    return None


def check_task(nomad_url: str, *, timeout: float = TASK_SECONDS) -> None:
    """Store a credential Variable and dispatch the runner job, as rod does; its task must find
    the dispatch's meta value in its payload and the credential rendered by its template."""
    token = f"smoke-{uuid.uuid4().hex[:12]}"
    try:
        with httpx.Client(base_url=nomad_url, timeout=10, trust_env=False) as nomad:
            # https://developer.hashicorp.com/nomad/api-docs/variables/variables#create-variable
            variable = f"/v1/var/nomad/jobs/{RUNNER_JOB}/credentials/{token}"
            stored = nomad.put(variable, json={"Items": {"jit_config": "smoke"}})
            if stored.is_error:
                raise SmokeFailed(f"variable answered {stored.status_code}: {stored.text[:200]}")
            # https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job
            answer = nomad.post(f"/v1/job/{RUNNER_JOB}/dispatch", json=dispatch_body(token))
            if answer.is_error:
                raise SmokeFailed(f"dispatch answered {answer.status_code}: {answer.text[:200]}")
            child = answer.json()["DispatchedJobID"]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                outcome = task_outcome(nomad.get(f"/v1/job/{child}/allocations").json())
                if outcome == "complete":
                    return
                if outcome is not None:
                    raise SmokeFailed(f"{child}: {outcome}")
                time.sleep(1)
    except httpx.HTTPError as exc:
        raise SmokeFailed(f"Nomad at {nomad_url}: {type(exc).__name__}: {exc}") from None
    raise SmokeFailed(f"{child}: no finished allocation after {timeout:g}s")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def smoke_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every command: free host ports, and the dispatcher file's inputs.

    The dispatcher file requires its secrets (${VAR:?}) for any command; `rod` is never started
    here, so placeholders do.
    """
    return {
        **environ,
        "NOMAD_HOST_PORT": str(free_port()),
        "NOMAD_RUNNERS_HOST_PORT": str(free_port()),
        "ROD_NOMAD_HOST_PORT": str(free_port()),
        "ROD_NOMAD_DATA_DIR": environ.get("ROD_NOMAD_DATA_DIR", "/tmp/rod-nomad-smoke"),
        "GITHUB_WEBHOOK_SECRET": "placeholder-rod-is-not-started",
        "GITHUB_TOKEN": "placeholder-rod-is-not-started",
    }


def teardown(env: Mapping[str, str], log_dir: Path) -> None:
    """Save each compose project's remaining logs (if any), then take it down; never raises."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for name, compose in PROJECTS.items():
        logs = subprocess.run(
            [*compose, "logs", "--no-color", "--timestamps"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if logs.stdout.strip():
            (log_dir / f"compose-{name}.log").write_text(logs.stdout, encoding="utf-8")
        down = [*compose, "down", "--volumes", "--remove-orphans"]
        subprocess.run(down, cwd=ROOT, env=env, check=False)


def run_steps(steps: list[Step], env: Mapping[str, str]) -> None:
    """Each step in order; SmokeFailed names the first that fails."""
    for number, step in enumerate(steps, 1):
        print(f"==> [{number}/{len(steps)}] {step.title}", flush=True)
        if step.check is not None:
            step.check()
        else:
            status = subprocess.run(step.command, cwd=ROOT, env=env, check=False).returncode
            if status != 0:
                raise SmokeFailed(f"step {number} ({step.title}) exited with status {status}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """A cancelled CI job (SIGTERM) unwinds like Ctrl-C, through the teardown."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--down", action="store_true", help="only save logs and take down")
    args = parser.parse_args(argv)
    required = os.environ.get("DOCKER_SMOKE_REQUIRED") == "1"
    log_dir = Path(os.environ.get("DOCKER_SMOKE_LOG_DIR", ROOT / "build" / "acceptance"))

    def quiet(command: list[str]) -> int:
        return subprocess.run(command, capture_output=True, check=False).returncode

    problem = docker_problem(quiet)
    if problem is not None:
        print(f"docker-smoke: {'failed' if required else 'skipped'}: {problem}")
        return 1 if required else 0
    env = smoke_env(os.environ)
    if args.down:
        teardown(env, log_dir)
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_steps(plan(f"http://127.0.0.1:{env['ROD_NOMAD_HOST_PORT']}"), env)
    except SmokeFailed as exc:
        print(f"docker-smoke: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("docker-smoke: interrupted", file=sys.stderr)
        return 130
    finally:
        teardown(env, log_dir)
    print("docker-smoke: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
