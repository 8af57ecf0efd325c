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

from simulator.nomad import NomadEmulator
from simulator.serving import free_port

ROD = str(Path(sys.executable).with_name("rod"))
SECRET = "serve-test-webhook-secret"
TOKEN = "ghp_serve_test_token"
SPEC = Path(__file__).resolve().parents[2] / "deploy/nomad/github-runner.nomad.hcl"
NO_NOMAD = "http://127.0.0.1:9"  # discard: nothing answers, the token check says so and goes on


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

    def test_the_previous_webhook_secret_equal_to_the_current_is_one_line(self) -> None:
        result = subprocess.run(
            [ROD, "serve"],
            env=environment(
                GITHUB_WEBHOOK_SECRET=SECRET,
                GITHUB_WEBHOOK_SECRET_PREVIOUS=SECRET,
                GITHUB_TOKEN=TOKEN,
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "rod serve: GITHUB_WEBHOOK_SECRET_PREVIOUS equals GITHUB_WEBHOOK_SECRET; "
            "set it to the old secret, or unset it"
        ]

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

    def test_a_client_certificate_that_is_none_is_one_line_naming_it(self, tmp_path: Path) -> None:
        cert, key = tmp_path / "client.pem", tmp_path / "client-key.pem"
        cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        key.write_text("not a key\n")
        result = subprocess.run(
            [ROD, "serve"],
            env=environment(
                GITHUB_WEBHOOK_SECRET=SECRET,
                GITHUB_TOKEN=TOKEN,
                NOMAD_CLIENT_CERT=str(cert),
                NOMAD_CLIENT_KEY=str(key),
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(
            f"rod serve: NOMAD_CLIENT_CERT {cert} and NOMAD_CLIENT_KEY {key}: not a PEM "
            "certificate and its private key ("
        )

    @pytest.mark.parametrize("port", ["65536", "-1"])
    def test_a_port_out_of_range_is_refused(self, port: str) -> None:
        result = subprocess.run(
            [ROD, "serve", "--port", port],
            env=environment(GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=TOKEN),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert f"Invalid value for '--port': {port} is not in the range 0<=x<=65535" in (
            result.stderr
        )

    def test_a_port_in_use_is_one_line_before_anything_starts(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = subprocess.run(
                [ROD, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=environment(
                    GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=TOKEN, NOMAD_ADDR=NO_NOMAD
                ),
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert result.returncode == 2
        problems = [line for line in result.stderr.splitlines() if line.startswith("rod serve: ")]
        assert problems == [
            f"rod serve: cannot listen on 127.0.0.1:{port} (--host/--port, [server] host/port): "
            "Address already in use"
        ]
        assert "uvicorn" not in result.stderr  # the app never started: no reconciler tick


ORG_CONFIG = (
    'organization = "{org}"\n[[pools]]\nname = "org"\nnomad_job = "github-runner"\n'
    'labels = []\nrunner_group = "{group}"\n'
)


@pytest.fixture(scope="module")
def org_github() -> Iterator[str]:
    """A GitHub emulator with the organization acme and its runner group linux."""
    from simulator.github import GitHubEmulator

    emulator = GitHubEmulator(orgs=["acme"], tokens=[TOKEN]).start()
    emulator.backend.add_token("ghp_member_without_admin", admin=False)
    emulator.backend.create_runner_group("acme", name="linux")
    yield emulator.url
    emulator.stop()


class TestRunnerGroupsAtStart:
    """A pool's runner group is resolved before serving: bad input is one line and exit 2."""

    @pytest.mark.parametrize(
        ("org", "group", "token", "expected"),
        [
            (
                "acme",
                "gpu",
                TOKEN,
                "rod serve: pools 'org': acme has no runner group 'gpu' (it has: Default, linux)",
            ),
            (
                "nobody",
                "linux",
                TOKEN,
                "rod serve: organization nobody: GitHub answers 404 for its "
                "runner groups: no such organization, or the GitHub credential may not manage its "
                "self-hosted runners",
            ),
            (
                "acme",
                "linux",
                "ghp_member_without_admin",
                "rod serve: organization acme: GitHub "
                "answers 404 for its runner groups: no such organization, or the GitHub credential "
                "may not manage its self-hosted runners",
            ),
        ],
        ids=["unknown group", "unknown organization", "token without admin rights"],
    )
    def test_one_line_and_exit_2(
        self, tmp_path: Path, org_github: str, org: str, group: str, token: str, expected: str
    ) -> None:
        config = tmp_path / "rod.toml"
        config.write_text(ORG_CONFIG.format(org=org, group=group))
        env = environment(
            GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=token, GITHUB_API_URL=org_github
        )
        result = subprocess.run(
            [ROD, "serve", "--config", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr.strip().splitlines()) == (2, [expected])


# `rod serve` where uvloop and httptools cannot be imported (no wheel for the platform).
WITHOUT_FAST_STACK = [
    sys.executable,
    "-c",
    "import sys; sys.modules['uvloop'] = sys.modules['httptools'] = None\n"
    "from runners_on_demand.cli import main; main()",
]


# Small edge limits, so that the test of their wiring is quick.
EDGE = "[server]\nheader_timeout_seconds = 0.5\nmax_header_bytes = 2048\n"


@pytest.fixture(params=["installed", "without uvloop and httptools"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`rod serve` on a free loopback port, GitHub and Nomad pointed at closed loopback ports;
    on uvloop + httptools, and without them."""
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
    rod = [ROD] if request.param == "installed" else WITHOUT_FAST_STACK
    process = subprocess.Popen(
        [*rod, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
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
        self, request: pytest.FixtureRequest, served: tuple[subprocess.Popen[str], str]
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
        fast = "without" not in request.node.callspec.params["served"]
        stack = "uvloop + httptools" if fast else "asyncio + h11"
        assert f"uvicorn on {stack}" in stderr


@pytest.fixture
def acl_nomad() -> Iterator[tuple[str, httpx.Client]]:
    """A served Nomad emulator with ACLs on, and a management client on it."""
    emulator = NomadEmulator(acl_token="root").start()
    try:
        with httpx.Client(base_url=emulator.url, headers={"X-Nomad-Token": "root"}) as admin:
            yield emulator.url, admin
    finally:
        emulator.stop()


def client_token(admin: httpx.Client, rules: str) -> str:
    """`nomad acl policy apply` + `nomad acl token create -type client -policy rod`."""
    assert admin.put("/v1/acl/policy/rod", json={"Name": "rod", "Rules": rules}).is_success
    body = {"Name": "rod", "Type": "client", "Policies": ["rod"]}
    secret: str = admin.post("/v1/acl/token", json=body).json()["SecretID"]
    return secret


def serve_with_the_shipped_policy(
    url: str, admin: httpx.Client
) -> tuple[subprocess.Popen[str], int, str]:
    """`rod serve` on a free port with a token of deploy/nomad/rod-policy.hcl; its stderr piped."""
    shipped = (Path(__file__).resolve().parents[2] / "deploy/nomad/rod-policy.hcl").read_text()
    token = client_token(admin, shipped)
    port = free_port()
    env = environment(
        GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=TOKEN, NOMAD_ADDR=url, NOMAD_TOKEN=token
    )
    command = [ROD, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True), port, token


def first_readyz(process: subprocess.Popen[str], port: int) -> httpx.Response:
    """`/readyz` once `rod serve` listens (waiting for it is no timing assertion)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=15)
        except httpx.TransportError:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "rod serve did not start"
            time.sleep(0.1)


class TestNomadToken:
    """Must show (issue 11): a token missing a capability is one line at start, not 403s later."""

    def test_a_token_missing_a_capability_stops_the_start(
        self, acl_nomad: tuple[str, httpx.Client]
    ) -> None:
        url, admin = acl_nomad
        credentials = (
            'path "nomad/jobs/github-runner/credentials/*" '
            '{ capabilities = ["write", "destroy", "list"] } '
            'path "rod/served-repos" { capabilities = ["read", "write"] }'
        )
        token = client_token(
            admin,
            f'namespace "default" {{ capabilities = ["list-jobs"] variables {{ {credentials} }} }}',
        )
        result = subprocess.run(
            [ROD, "serve", "--port", str(free_port())],
            env=environment(
                GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN=TOKEN, NOMAD_ADDR=url, NOMAD_TOKEN=token
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            'rod serve: NOMAD_TOKEN lacks "dispatch-job" in namespace "default" (to start a '
            'runner); "deregister-job" or "submit-job" or "purge-job" in namespace "default" '
            "(to stop a surplus runner's job)"
        ]

    def test_readyz_names_a_capability_taken_away_later(
        self, acl_nomad: tuple[str, httpx.Client]
    ) -> None:
        url, admin = acl_nomad
        process, port, token = serve_with_the_shipped_policy(url, admin)
        try:
            ready = first_readyz(process, port)
            assert ready.json()["nomad_token"] == (
                "NOMAD_TOKEN may make every call rod makes (policies: rod)"
            )
            client_token(admin, 'namespace "default" { capabilities = ["dispatch-job"] }')
            deadline = time.monotonic() + 30
            while "may make every call" in ready.json()["nomad_token"]:  # answered from a 5 s cache
                assert time.monotonic() < deadline, "/readyz never saw the policy change"
                time.sleep(0.5)
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=15)
            assert ready.status_code == 503
            assert ready.json()["nomad_token"].startswith('NOMAD_TOKEN lacks "list-jobs"')
        finally:
            process.kill()
            _, stderr = process.communicate()
        assert "rod serve: NOMAD_TOKEN may make every call rod makes" in stderr
        assert token not in stderr


class TestRunnerJob:
    """An operator's first hour: rod started before its runner job is registered (or with
    NOMAD_NAMESPACE elsewhere) says so at start and in `/readyz`, rather than "ready" and then a
    failed dispatch per job; once the job is registered it is ready, without a restart."""

    def test_a_runner_job_not_registered_is_a_warning_and_not_ready_until_it_is(
        self, acl_nomad: tuple[str, httpx.Client]
    ) -> None:
        url, admin = acl_nomad
        process, port, _ = serve_with_the_shipped_policy(url, admin)  # list-jobs, no read-job
        try:
            ready = first_readyz(process, port)
            assert ready.status_code == 503
            assert ready.json()["runner_jobs"] == (
                "runner job github-runner is not registered in namespace default"
            )
            spec = {"JobHCL": SPEC.read_text()}
            job = admin.post("/v1/jobs/parse", json=spec).json()
            assert admin.put("/v1/jobs", json={"Job": job}).is_success
            deadline = time.monotonic() + 30
            while ready.json()["runner_jobs"] != "ok":  # answered from a 5 s cache
                assert time.monotonic() < deadline, "/readyz never saw the runner job"
                time.sleep(0.5)
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=15)
        finally:
            process.kill()
            _, stderr = process.communicate()
        warned = [line for line in stderr.splitlines() if "runner job" in line]
        warned = [line for line in warned if " WARNING " in line]  # the hold's lines are INFO
        assert len(warned) == 1, stderr
        assert warned[0].endswith(
            "rod serve: runner job github-runner is not registered in namespace default"
        )
