"""The two ways jobs come in (`-D intake=webhook|listen`): what the sim backend starts for each.

`webhook` starts `rod serve` and the Stack adds a signed `workflow_job` hook pointing at it.
`listen` starts `rod listen` on the repository's runner scale set instead: no hook, no inbound
endpoint. One scale set carries every label the article's scenarios ask for, so they run
unchanged; a job asking for `ubuntu-latest` matches no scale set and is never offered to it.
Between scenarios the listener keeps running, as `rod serve` does: GitHub is reset under it (its
scale set, jobs and runner credentials vanish, so nothing of the last scenario can be made any
more), then Nomad; it sets up a new scale set by itself, as after the service deleted one. The
repository stays (the emulator is configured with it): `rod listen` stops, exit status 2, when
GitHub answers 404 for its repository (listen/start.py).
"""

from __future__ import annotations

import httpx

from simulator.harness.dispatcher import DispatcherProcess
from simulator.harness.errors import HarnessError
from simulator.harness.settings import StackSettings
from simulator.harness.waiting import wait_for

__all__ = [
    "INTAKES",
    "POLL_HOLD",
    "SCALE_SET",
    "SCALE_SET_LABELS",
    "await_listener_ready",
    "hold_polls_briefly",
    "listen_config",
    "listener_process",
]

INTAKES = ("webhook", "listen")
SCALE_SET = "rod-acceptance"
# Every label of the self-hosted jobs of the features (steps/) and of `rod demo`.
SCALE_SET_LABELS = ("self-hosted", "linux", "x64", "arm64", "gpu", "windows")
# The emulator holds a poll this long before answering 202 (GitHub: about 50 s); a 202 makes the
# listener count again, so a failed dispatch is retried within about this long.
POLL_HOLD = 0.5
# `rod listen`'s own timings for the suite: a runner idle this long may be retired as surplus; a
# poll without an answer this long is dropped (the "lost poll" scenario).
IDLE_GRACE = 2.0
POLL_TIMEOUT = 5.0
SHUTDOWN_GRACE = 2.0


def listen_config(github_url: str, repo: str) -> str:
    """`rod listen --config` for the repository's scale set (format: listen/settings.py)."""
    labels = ", ".join(f'"{label}"' for label in SCALE_SET_LABELS)
    return (
        f"[server]\nshutdown_grace_seconds = {SHUTDOWN_GRACE}\n\n"
        f'[listen]\nurl = "{github_url}/{repo}"\nscale_set = "{SCALE_SET}"\n'
        f"labels = [{labels}]\nmax_runners = 20\nidle_grace_seconds = {IDLE_GRACE}\n"
        f"poll_timeout_seconds = {POLL_TIMEOUT}\n"
    )


def listener_process(
    settings: StackSettings, *, github_url: str, github_token: str, nomad_url: str
) -> DispatcherProcess:
    """`rod listen` (not started) with its config file written; its log in the log dir."""
    config = settings.log_dir / "rod-listen.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(listen_config(github_url, settings.repo), encoding="utf-8")
    env = {"GITHUB_TOKEN": github_token, "NOMAD_ADDR": nomad_url}
    log = settings.log_dir / "rod-listen.log"
    return DispatcherProcess(env, log, args=("--config", str(config)), command="listen")


def hold_polls_briefly(github_url: str) -> None:
    """Polls held POLL_HOLD seconds until the emulator's next reset; set before the listener."""
    answer = httpx.post(f"{github_url}/_sim/scalesets/config", json={"poll_hold": POLL_HOLD})
    if answer.is_error:
        raise HarnessError(f"POST /_sim/scalesets/config answered {answer.status_code}")


def await_listener_ready(github_url: str, repo: str, listener_url: str, timeout: float) -> None:
    """Wait until the repository's scale set has a session and the listener is ready (/readyz).

    Both: right after a reset the listener may still report the session GitHub just forgot.
    """

    def state() -> str:
        scale_sets = httpx.get(f"{github_url}/_sim/scalesets", timeout=5).json()
        held = [s for s in scale_sets if s["scope"] == repo and s["name"] == SCALE_SET]
        if not held or not held[0]["sessions"]:
            return f"no session on {repo}'s scale set {SCALE_SET} yet"
        ready = httpx.get(f"{listener_url}/readyz", timeout=5)
        return "" if ready.status_code == 200 else f"/readyz answered {ready.text}"

    wait_for(
        "rod listen to hold a session on its scale set",
        state,
        lambda problem: not problem,
        timeout=timeout,
        transient=(httpx.TransportError,),
        describe=lambda problem: problem,
    )
