"""`rod sim runner` as a real process against a real HTTP server speaking the runner API."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from simulator.runner.jitconfig import encode_jit_config
from simulator.serving import free_port

if TYPE_CHECKING:
    from tests.simulator.runner.conftest import ActionsStandIn, Launcher


class TestJitMode:
    def test_takes_one_job_reports_its_conclusion_and_exits_0(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        jit = actions.add_runner()
        job_id = actions.add_job(duration=0.1, conclusion="failure")
        launcher.write_payload(url="http://127.0.0.1/octo/hello")
        launcher.write_credential(jit_config=jit)

        result = launcher.run("--poll-wait", "1")

        assert result.returncode == 0, result.stderr
        assert actions.completed == {job_id: "failure"}
        assert actions.sessions == {} and len(actions.closed_sessions) == 1
        assert f"running job {job_id} (build) of run 77" in result.stdout
        assert result.stdout.rstrip().endswith("done")
        assert result.stderr == ""
        secret = next(iter(actions.runners))
        assert secret not in result.stdout and jit not in result.stdout
        assert set(actions.auth_headers) == {f"Bearer {secret}"}

    def test_jitconfig_from_the_environment_like_run_sh(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        job_id = actions.add_job()
        env = launcher.env(ACTIONS_RUNNER_INPUT_JITCONFIG=actions.add_runner())

        result = launcher.run(env=env)  # no payload.json nor credential file at all

        assert result.returncode == 0, result.stderr
        assert actions.completed == {job_id: "success"}

    def test_a_used_credential_is_refused(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        jit = actions.add_runner()
        actions.add_job()
        launcher.write_credential(jit_config=jit)
        assert launcher.run().returncode == 0
        assert not (launcher.secrets_dir / "credential").exists()  # taken, then removed
        launcher.write_credential(jit_config=jit)
        actions.add_job()

        second = launcher.run()

        assert second.returncode == 3
        assert second.stderr.count("\n") == 1
        assert "credential rejected (401): Bad credentials" in second.stderr
        assert next(iter(actions.runners)) not in second.stderr + second.stdout
        assert len(actions.queue) == 1  # the second job was not taken

    def test_an_unknown_credential_is_refused(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        forged = encode_jit_config(
            agent_id=1,
            agent_name="rod-9-1",
            server_url=f"{actions.base_url}/_actions",
            secret="forged-secret",
        )
        launcher.write_credential(jit_config=forged)

        result = launcher.run()

        assert result.returncode == 3
        assert result.stderr.startswith("rod sim runner: error: session: credential rejected")
        assert "forged-secret" not in result.stderr + result.stdout

    def test_no_job_within_the_give_up_time(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        launcher.write_credential(jit_config=actions.add_runner())

        result = launcher.run("--poll-wait", "0.1", "--give-up", "0.3")

        assert result.returncode == 5
        assert "no job offered within 0.3s" in result.stderr
        assert actions.sessions == {}  # the session was closed on the way out


class TestRegistrationMode:
    def test_registers_with_the_meta_then_runs(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        actions.registration_tokens.add("reg-token")
        job_id = actions.add_job()
        launcher.write_payload(url=f"{actions.base_url}/octo/hello")
        launcher.write_credential(registration_token="reg-token")
        env = launcher.env(
            NOMAD_META_RUNNER_NAME="rod-42-1", NOMAD_META_RUNNER_LABELS="self-hosted,linux"
        )

        result = launcher.run(env=env)

        assert result.returncode == 0, result.stderr
        (runner,) = actions.runners.values()
        assert (runner.name, runner.labels) == ("rod-42-1", ["self-hosted", "linux"])
        assert actions.completed == {job_id: "success"}
        assert "reg-token" not in result.stdout

    def test_a_bad_registration_token_is_refused(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        launcher.write_payload(url=f"{actions.base_url}/octo/hello")
        launcher.write_credential(registration_token="nope")

        result = launcher.run(env=launcher.env(NOMAD_META_RUNNER_NAME="rod-1-1"))

        assert result.returncode == 3
        assert "register: credential rejected" in result.stderr
        assert "nope" not in result.stderr


class TestBadInput:
    def test_malformed_payload(self, launcher: Launcher) -> None:
        (launcher.task_dir / "payload.json").write_text("{not json")
        launcher.write_credential(registration_token="t")  # registration reads the payload's url

        result = launcher.run()

        assert result.returncode == 2
        assert result.stderr == "rod sim runner: error: payload.json is not valid JSON\n"
        assert result.stdout == ""

    def test_malformed_jit_config(self, launcher: Launcher) -> None:
        launcher.write_credential(jit_config="bm90IGpzb24=")  # base64 of "not json"

        result = launcher.run()

        assert result.returncode == 2
        assert "JIT config is malformed" in result.stderr
        assert "bm90IGpzb24=" not in result.stderr

    def test_no_credential(self, launcher: Launcher) -> None:
        launcher.write_payload(url="http://h/o/r", jit_config="in-the-payload")

        result = launcher.run()

        # The payload is never a source of credentials: anyone with read-job can read it.
        assert result.returncode == 2
        assert "no jit_config or registration_token in the credential file" in result.stderr

    def test_missing_payload_for_registration(self, launcher: Launcher) -> None:
        launcher.write_credential(registration_token="t")

        result = launcher.run()

        assert result.returncode == 2
        assert "payload.json does not exist" in result.stderr

    def test_unreachable_server(self, launcher: Launcher) -> None:
        closed = f"http://127.0.0.1:{free_port()}/_actions"
        launcher.write_credential(
            jit_config=encode_jit_config(agent_id=1, agent_name="n", server_url=closed, secret="s")
        )

        result = launcher.run()

        assert result.returncode == 4
        assert result.stderr == (
            f"rod sim runner: error: session: cannot reach {closed} (ConnectError)\n"
        )


class TestSignals:
    def test_sigterm_mid_job_reports_cancelled_and_exits_non_zero(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        launcher.write_credential(jit_config=actions.add_runner())
        job_id = actions.add_job(duration=600)
        process = launcher.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if "running job" in line:
                    break
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
            process.wait()

        assert process.returncode == 143
        assert actions.completed == {job_id: "cancelled"}
        assert actions.sessions == {}
        assert "reporting job" in out and "cancelled" in out
        assert err == "rod sim runner: error: stopped by signal\n"

    def test_sigterm_while_waiting_closes_the_session(
        self, actions: ActionsStandIn, launcher: Launcher
    ) -> None:
        launcher.write_credential(jit_config=actions.add_runner())
        process = launcher.start("--poll-wait", "30")
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if "waiting up to" in line:
                    break
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
            process.wait()

        assert process.returncode == 143
        assert actions.sessions == {} and len(actions.closed_sessions) == 1
        assert actions.completed == {}
        assert "closed" in out.splitlines()[-1]
        assert err == "rod sim runner: error: stopped by signal\n"
