"""`rod serve` as a real process: configuration errors, serving, SIGTERM."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.serving import free_port

ROD = str(Path(sys.executable).with_name("rod"))
SECRET = "serve-test-webhook-secret"
TOKEN = "ghp_serve_test_token"


def environment(**extra: str) -> dict[str, str]:
    """This environment without GitHub/Nomad settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "NOMAD_"))}
    env.update(extra)
    return env


class TestBadConfiguration:
    def test_one_line_per_problem_and_exit_2(self, tmp_path: Path) -> None:
        config = tmp_path / "rod.toml"
        config.write_text('trigger_label = ""\nbogus = 1\n[server]\nport = 99999\n')
        result = subprocess.run(
            [ROD, "serve", "--config", str(config)],
            env=environment(GITHUB_TOKEN=TOKEN),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert all(line.startswith("rod serve: ") for line in lines)
        text = result.stderr
        assert "GITHUB_WEBHOOK_SECRET is not set" in text  # refuses to start without a secret
        assert "unknown key bogus" in text
        assert "server.port" in text
        assert "trigger_label" in text
        assert len(lines) == 4
        assert TOKEN not in text

    def test_unreadable_config_file(self, tmp_path: Path) -> None:
        result = subprocess.run(
            [ROD, "serve", "--config", str(tmp_path / "missing.toml")],
            env=environment(GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=TOKEN),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"rod serve: cannot read config file {tmp_path / 'missing.toml'}: "
            "No such file or directory"
        ]


# Small edge limits, so that the test of their wiring is quick.
EDGE = "[server]\nheader_timeout_seconds = 0.5\nmax_header_bytes = 2048\n"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`rod serve` on a free loopback port, GitHub and Nomad pointed at closed loopback ports."""
    config = tmp_path / "rod.toml"
    config.write_text(EDGE)
    port = free_port()
    closed = free_port()
    env = environment(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=f"http://127.0.0.1:{closed}",
        NOMAD_ADDR=f"http://127.0.0.1:{closed}",
    )
    process = subprocess.Popen(
        [ROD, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait until it listens; not a timing assertion
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("rod serve did not start") from None
                time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class TestEdgeLimits:
    """The limits of limits.py reach the real server (tests/runners_on_demand/test_limits.py)."""

    def test_an_idle_connection_is_closed(self, served: tuple[subprocess.Popen[str], str]) -> None:
        _, url = served
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            assert sock.recv(1) == b""

    def test_an_oversized_head_gets_431(self, served: tuple[subprocess.Popen[str], str]) -> None:
        _, url = served
        answer = httpx.get(f"{url}/healthz", headers={"X-Big": "a" * 4096})
        assert answer.status_code == 431
        assert answer.json() == {"error": "request head over 2048 bytes"}


class TestServing:
    def test_answers_then_drains_on_sigterm(
        self, served: tuple[subprocess.Popen[str], str]
    ) -> None:
        process, url = served
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{url}/readyz", timeout=15)
        assert ready.status_code == 503  # nothing listens where GitHub and Nomad should be
        body = b'{"zen": "Keep it logically awesome."}'
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-serve-1",
            "X-Hub-Signature-256": signature,
        }
        assert httpx.post(f"{url}/webhook", content=body, headers=headers).status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "Traceback" not in stderr
        deliveries = [line for line in stderr.splitlines() if "delivery d-serve-1" in line]
        assert len(deliveries) == 1 and "outcome=pong" in deliveries[0]
        assert SECRET not in stderr and TOKEN not in stderr
