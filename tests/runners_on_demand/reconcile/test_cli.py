"""`rod reconcile` as a real process: bad input is one line and exit 2; a pass that could not read
says so rather than "all in order"."""

from __future__ import annotations

import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runners_on_demand.reconcile.heard import encode
from simulator.github import GitHubEmulator
from simulator.github.actions import JobSpec
from simulator.nomad import NomadEmulator
from tests.runners_on_demand.reconcile.conftest import nomad_with
from tests.runners_on_demand.test_serve import ROD, client_token, environment

TOKEN = "ghp_reconcile_cli_test"
REPO = "acme/app"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROD, "reconcile", *args],
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[GitHubEmulator, NomadEmulator]]:
    """A GitHub emulator knowing REPO and TOKEN, and a Nomad emulator with the runner job."""
    nomad = nomad_with("inprocess")
    try:
        with GitHubEmulator(repos=[REPO], tokens=[TOKEN]) as github:
            yield github, nomad
    finally:
        nomad.stop()


# What a pass at REPO, configured, prints when it finds nothing to do.
NOTHING_FOUND = [
    "state Variable rod/served-repos: 0 repositories heard of",
    "served:",
    f"  {REPO}: configured",
    f"repositories: {REPO}",
    "found: 0 queued jobs, 0 Nomad children, 0 runners (0 of ours busy), 0 stored credentials",
]


class TestBadInput:
    def test_a_cacert_that_is_no_certificate_is_one_line_naming_it(self, tmp_path: Path) -> None:
        cacert = tmp_path / "ca.pem"
        cacert.write_text("not a certificate\n")
        result = run(["--once"], GITHUB_TOKEN=TOKEN, NOMAD_CACERT=str(cacert))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"rod reconcile: NOMAD_CACERT {cacert}: not a PEM CA certificate")

    def test_a_repo_that_is_not_owner_slash_name_is_refused(self) -> None:
        result = run(["--dry-run", "--repo", "acme"], GITHUB_TOKEN=TOKEN)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "--repo" in result.stderr and "'acme'" in result.stderr
        assert "owner/repo" in result.stderr

    def test_runner_groups_github_cannot_read_are_said_as_rod_serve_says(
        self, tmp_path: Path
    ) -> None:
        config = tmp_path / "rod.toml"
        config.write_text(
            'organization = "acme"\n[[pools]]\nname = "org"\nnomad_job = "github-runner"\n'
            'labels = []\nrunner_group = "linux"\n'
        )
        result = run(
            ["--once", "--config", str(config)],
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL="http://127.0.0.1:9",  # discard: nothing listens
        )
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(
            "rod reconcile: cannot read the runner groups from GitHub: GitHub GET "
            "/orgs/acme/actions/runner-groups"
        )


# What a dry run reads: the children, the credential Variables' list, the state Variable.
READS = (
    'namespace "default" { capabilities = ["list-jobs"] variables { '
    'path "nomad/jobs/github-runner/credentials/*" { capabilities = ["list"] } '
    'path "rod/served-repos" { capabilities = ["read"] } } }'
)


@pytest.fixture
def acl_nomad() -> Iterator[tuple[NomadEmulator, httpx.Client]]:
    """A Nomad emulator with ACLs on and the runner job, and a management client on it."""
    nomad = nomad_with("inprocess", acl_token="root")
    try:
        with httpx.Client(base_url=nomad.url, headers={"X-Nomad-Token": "root"}) as admin:
            yield nomad, admin
    finally:
        nomad.stop()


class TestNomadToken:
    """NOMAD_TOKEN is checked before anything, as `rod serve` and `rod listen` check it."""

    def test_a_token_missing_a_capability_is_one_line_and_changes_nothing(
        self, acl_nomad: tuple[NomadEmulator, httpx.Client]
    ) -> None:
        nomad, admin = acl_nomad
        token = client_token(admin, READS)
        with GitHubEmulator(repos=[REPO], tokens=[TOKEN]) as github:
            owner, name = REPO.split("/")
            build = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2)
            github.backend.create_run(owner, name, name="CI", event="push", jobs=[build])
            env = {"GITHUB_API_URL": github.url, "NOMAD_ADDR": nomad.url, "NOMAD_TOKEN": token}
            result = run(["--once", "--repo", REPO], GITHUB_TOKEN=TOKEN, **env)
            made = github.backend.list_runners(owner, name)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.splitlines() == [
            'rod reconcile: NOMAD_TOKEN lacks "dispatch-job" in namespace "default" (to start a '
            'runner); "deregister-job" or "submit-job" or "purge-job" in namespace "default" '
            '(to stop a surplus runner\'s job); variables "write" on '
            'nomad/jobs/github-runner/credentials/* in namespace "default" (to write runner '
            'credentials of github-runner); variables "destroy" on '
            'nomad/jobs/github-runner/credentials/* in namespace "default" (to destroy runner '
            'credentials of github-runner); variables "write" on rod/served-repos in namespace '
            '"default" (to write the repositories heard of)'
        ]
        assert result.stdout == "" and made == []
        assert admin.get("/v1/vars").json() == []
        assert token not in result.stderr

    def test_a_dry_run_needs_only_what_it_reads(
        self,
        acl_nomad: tuple[NomadEmulator, httpx.Client],
        services: tuple[GitHubEmulator, NomadEmulator],
    ) -> None:
        nomad, admin = acl_nomad
        env = {"GITHUB_API_URL": services[0].url, "NOMAD_ADDR": nomad.url}
        token = client_token(admin, READS)
        result = run(["--dry-run", "--repo", REPO], GITHUB_TOKEN=TOKEN, NOMAD_TOKEN=token, **env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "did: nothing; all in order" in result.stdout
        token = client_token(admin, 'namespace "default" { capabilities = ["list-jobs"] }')
        result = run(["--dry-run", "--repo", REPO], GITHUB_TOKEN=TOKEN, NOMAD_TOKEN=token, **env)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            'rod reconcile: NOMAD_TOKEN lacks variables "list" on '
            'nomad/jobs/github-runner/credentials/* in namespace "default" (to list runner '
            'credentials of github-runner); variables "read" on rod/served-repos in namespace '
            '"default" (to read the repositories heard of)'
        ]

    def test_an_unknown_token_is_one_line(
        self, acl_nomad: tuple[NomadEmulator, httpx.Client]
    ) -> None:
        nomad, _ = acl_nomad
        secret = "00000000-0000-4000-8000-000000000000"
        result = run(["--dry-run"], GITHUB_TOKEN=TOKEN, NOMAD_ADDR=nomad.url, NOMAD_TOKEN=secret)
        assert result.returncode == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith("rod reconcile: NOMAD_TOKEN is not a token this Nomad knows (")
        assert secret not in line


class TestReport:
    def test_a_pass_that_could_not_read_github_is_not_all_in_order(
        self, services: tuple[GitHubEmulator, NomadEmulator]
    ) -> None:
        github, nomad = services
        result = run(
            ["--once", "--repo", REPO],
            GITHUB_TOKEN="ghp_not_known_here",
            GITHUB_API_URL=github.url,
            NOMAD_ADDR=nomad.url,
        )
        assert result.returncode == 1
        assert f"could not read: {REPO}: " in result.stdout
        assert "401" in result.stdout
        assert "all in order" not in result.stdout

    def test_a_pass_that_read_everything_is_all_in_order(
        self, services: tuple[GitHubEmulator, NomadEmulator]
    ) -> None:
        github, nomad = services
        result = run(
            ["--once", "--repo", REPO],
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=github.url,
            NOMAD_ADDR=nomad.url,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines() == [*NOTHING_FOUND, "did: nothing; all in order"]

    @pytest.mark.parametrize("dry_run", [False, True])
    def test_a_runner_job_nomad_does_not_hold_is_a_problem_not_all_in_order(
        self, services: tuple[GitHubEmulator, NomadEmulator], dry_run: bool
    ) -> None:
        github, _ = services
        with NomadEmulator() as empty:  # `github-runner` never registered
            result = run(
                ["--dry-run" if dry_run else "--once", "--repo", REPO],
                GITHUB_TOKEN=TOKEN,
                GITHUB_API_URL=github.url,
                NOMAD_ADDR=empty.url,
            )
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.splitlines() == [
            "problem: runner job github-runner is not registered in namespace default",
            *NOTHING_FOUND,
            "did: nothing",
        ]


class TestDryRun:
    """`--dry-run` says what the next pass would do: every action, and the repositories it serves
    and why."""

    def test_it_prints_the_stored_runners_it_would_dispatch_again_and_the_state_variable(
        self,
    ) -> None:
        lib, old = "acme/lib", "acme/old"
        nomad = nomad_with("inprocess")
        try:
            with (
                GitHubEmulator(repos=[REPO, lib], tokens=[TOKEN]) as github,
                httpx.Client(base_url=nomad.url) as admin,
            ):
                # acme/lib is known only from the state Variable; its job's runner was made and
                # its credential stored, then the process died before the dispatch.
                build = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2)
                ci = github.backend.create_run("acme", "lib", name="CI", event="push", jobs=[build])
                (job,) = github.backend.list_run_jobs("acme", "lib", ci.id)
                name = f"rod-{job.id}-1"
                with github.backend.lock:
                    github.backend.actions.add_runner(
                        lib, name=name, labels=build.labels, group_id=1, jit=True, ephemeral=True
                    )
                stored = f"nomad/jobs/github-runner/credentials/{name}"
                assert admin.put(
                    f"/v1/var/{stored}", json={"Items": {"jit_config": "x"}}
                ).is_success
                now = time.time()
                heard = encode({lib: (lib, now - 330), old: (old, now - 3 * 86400)})
                assert admin.put("/v1/var/rod/served-repos", json={"Items": heard}).is_success
                env = {"GITHUB_API_URL": github.url, "NOMAD_ADDR": nomad.url}
                result = run(["--dry-run", "--repo", REPO], GITHUB_TOKEN=TOKEN, **env)
                children = admin.get("/v1/jobs", params={"prefix": "github-runner/"}).json()
                still = admin.get("/v1/vars", params={"prefix": stored}).json()
        finally:
            nomad.stop()
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines() == [
            "state Variable rod/served-repos: 2 repositories heard of",
            f"  {old}: heard of 3d ago; not served: heard of too long ago",
            "served:",
            f"  {REPO}: configured",
            f"  {lib}: heard of 5m ago (state Variable)",
            f"repositories: {REPO}, {lib}",
            "found: 1 queued jobs, 0 Nomad children, 1 runners (0 of ours busy), "
            "1 stored credentials",
            f"  {lib} [self-hosted]: 1 queued, 1 idle runners",
            "would do:",
            f"  dispatch {name} for {lib} job {job.id} (stored credential, no Nomad job)",
        ]
        assert children == [] and [v["Path"] for v in still] == [stored]  # nothing changed


class TestOnce:
    """`--once` says how each runner it queued was carried out, and fails when one was not made."""

    @pytest.mark.parametrize(
        ("refused", "said", "code"), [(False, "dispatched", 0), (True, "rejected", 1)]
    )
    def test_each_runner_queued_is_said_with_what_became_of_it(
        self, refused: bool, said: str, code: int
    ) -> None:
        nomad = nomad_with("inprocess")
        try:
            with (
                GitHubEmulator(repos=[REPO], tokens=[TOKEN]) as github,
                httpx.Client(base_url=nomad.url) as admin,
            ):
                build = JobSpec(name="build", labels=["self-hosted"], duration_seconds=0.2)
                ci = github.backend.create_run("acme", "app", name="CI", event="push", jobs=[build])
                (job,) = github.backend.list_run_jobs("acme", "app", ci.id)
                if refused:  # Nomad refuses the dispatch as invalid: no retry makes it
                    fault = {"method": "POST", "path": "/v1/job/*/dispatch", "status": 400}
                    assert admin.post("/_sim/faults", json=fault).status_code == 201
                env = {"GITHUB_API_URL": github.url, "NOMAD_ADDR": nomad.url}
                result = run(["--once", "--repo", REPO], GITHUB_TOKEN=TOKEN, **env)
        finally:
            nomad.stop()
        name = f"rod-{job.id}-1"
        assert result.stdout.splitlines()[-2:] == [
            "did:",
            f"  dispatch {name} for {REPO} job {job.id} (no runner (missed webhook?)): queued, "
            f"then {said}",
        ]
        assert result.returncode == code, result.stdout + result.stderr


class TestStopping:
    def test_sigterm_ends_the_loop_as_ctrl_c_does(
        self, services: tuple[GitHubEmulator, NomadEmulator]
    ) -> None:
        # A supervisor's stop: the loop is cancelled and drains, not killed mid-dispatch.
        github, nomad = services
        process = subprocess.Popen(
            [ROD, "reconcile", "--repo", REPO, "--log-level", "info"],
            env=environment(GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url, NOMAD_ADDR=nomad.url),
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            ready, _, _ = select.select([process.stderr], [], [], 30)
            assert ready, "rod reconcile said nothing within 30 s"
            checked = process.stderr.readline()  # NOMAD_TOKEN, as `rod serve` checks it
            assert "rod reconcile: Nomad's ACLs are off: no token needed" in checked, checked
            started = process.stderr.readline()
            assert "rod reconcile: a pass every 60s" in started, started
            process.send_signal(signal.SIGTERM)
            rest = process.stderr.read()
            assert process.wait(timeout=30) == 128 + signal.SIGTERM
        finally:
            process.kill()
        assert "Traceback" not in rest, rest
