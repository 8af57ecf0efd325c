"""Tests for runners_on_demand.config: environment + TOML -> Settings, every problem at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runners_on_demand.config import Settings, load_settings
from runners_on_demand.decision import DEFAULT_POOL, Policy, Pool
from runners_on_demand.errors import ConfigError

EXAMPLE_TOML = Path(__file__).resolve().parents[2] / "rod.example.toml"
BASE = {"GITHUB_WEBHOOK_SECRET": "hook-secret-value", "GITHUB_TOKEN": "ghp_pat_value"}


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """A private key as unencrypted PEM text."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def files(contents: dict[str, str]) -> Callable[[str], str]:
    """A read_file that knows only `contents`."""

    def read(path: str) -> str:
        if path not in contents:
            raise FileNotFoundError(2, "No such file or directory", path)
        return contents[path]

    return read


def problems(environ: dict[str, str], toml_text: str | None = None, **kwargs: object) -> list[str]:
    """The problems load_settings reports (fails if it reports none)."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, toml_text, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


class TestLoadSettingsEnvironment:
    def test_minimal_token_setup_and_defaults(self) -> None:
        settings = load_settings(BASE)
        assert settings == Settings(
            webhook_secret="hook-secret-value", github_token="ghp_pat_value"
        )
        assert settings.github_auth == "token"
        assert settings.github_api_url == "https://api.github.com"
        assert (settings.nomad_addr, settings.nomad_namespace) == (
            "http://127.0.0.1:4646",
            "default",
        )
        assert settings.policy == Policy() and settings.policy.pools == (DEFAULT_POOL,)
        assert (settings.credential_mode, settings.runner_group_id) == ("jit", 1)
        assert (settings.server.max_body_bytes, settings.server.host, settings.server.port) == (
            1048576,
            "0.0.0.0",
            8080,
        )

    def test_nomad_variables(self) -> None:
        environ = BASE | {
            "NOMAD_ADDR": "https://nomad.example:4646/",
            "NOMAD_TOKEN": "nomad-acl-token",
            "NOMAD_NAMESPACE": "ci",
            "NOMAD_REGION": "home",
            "NOMAD_CACERT": "/etc/nomad/ca.pem",
            "GITHUB_API_URL": "https://ghe.example/api/v3/",
        }
        settings = load_settings(environ, read_file=files({"/etc/nomad/ca.pem": "PEM"}))
        assert settings.nomad_addr == "https://nomad.example:4646"
        assert settings.github_api_url == "https://ghe.example/api/v3"
        assert (settings.nomad_token, settings.nomad_namespace, settings.nomad_region) == (
            "nomad-acl-token",
            "ci",
            "home",
        )
        assert settings.nomad_cacert == "/etc/nomad/ca.pem"

    def test_blank_variables_count_as_unset(self) -> None:
        settings = load_settings(BASE | {"NOMAD_TOKEN": "  ", "NOMAD_NAMESPACE": ""})
        assert (settings.nomad_token, settings.nomad_namespace) == (None, "default")

    def test_github_app(self, rsa_pem: str) -> None:
        environ = {
            "GITHUB_WEBHOOK_SECRET": "s",
            "GITHUB_APP_ID": "123456",
            "GITHUB_APP_PRIVATE_KEY_FILE": "/run/secrets/app.pem",
        }
        settings = load_settings(environ, read_file=files({"/run/secrets/app.pem": rsa_pem}))
        assert settings.github_auth == "app"
        assert (settings.github_app_id, settings.github_app_private_key) == ("123456", rsa_pem)
        assert settings.github_token is None

    def test_everything_wrong_is_listed_at_once(self) -> None:
        found = problems({"NOMAD_ADDR": "nomad:4646", "GITHUB_API_URL": "ftp://x"})
        assert found == [
            "GITHUB_WEBHOOK_SECRET is not set; refusing to accept unsigned webhooks",
            "no GitHub credential: set GITHUB_TOKEN, or GITHUB_APP_ID and "
            "GITHUB_APP_PRIVATE_KEY_FILE",
            "GITHUB_API_URL must be an http(s) URL like https://host[:port][/path]",
            "NOMAD_ADDR must be an http(s) URL like https://host[:port][/path]",
        ]

    def test_a_url_with_a_password_is_refused_and_never_echoed(self) -> None:
        found = problems(BASE | {"NOMAD_ADDR": "https://ops:hunter2@nomad.example:4646"})
        assert found == ["NOMAD_ADDR must not carry a user or password (user:password@host)"]

    def test_token_and_app_together(self) -> None:
        found = problems(BASE | {"GITHUB_APP_ID": "1"})
        assert found == [
            "set either GITHUB_TOKEN or GITHUB_APP_ID/GITHUB_APP_PRIVATE_KEY_FILE, not both"
        ]

    @pytest.mark.parametrize(
        ("extra", "expected"),
        [
            ({"GITHUB_APP_ID": "1"}, "GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY_FILE is not"),
            ({"GITHUB_APP_PRIVATE_KEY_FILE": "/k"}, "GITHUB_APP_PRIVATE_KEY_FILE is set but"),
            ({"GITHUB_APP_ID": "app one", "GITHUB_APP_PRIVATE_KEY_FILE": "/k"}, "numeric id"),
            ({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": "/nope"}, "/nope: cannot read"),
            ({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": "/k"}, "not a PEM RSA"),
        ],
    )
    def test_app_problems(self, extra: dict[str, str], expected: str) -> None:
        environ = {"GITHUB_WEBHOOK_SECRET": "s"} | extra
        found = problems(environ, read_file=files({"/k": "not a key"}))
        assert any(expected in line for line in found), found

    def test_app_key_must_be_rsa(self) -> None:
        ec_pem = pem(ec.generate_private_key(ec.SECP256R1()))
        environ = {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "1"}
        environ["GITHUB_APP_PRIVATE_KEY_FILE"] = "/k"
        found = problems(environ, read_file=files({"/k": ec_pem}))
        assert found == ["GITHUB_APP_PRIVATE_KEY_FILE /k: not a PEM RSA private key"]

    @pytest.mark.parametrize("name", ["NOMAD_CLIENT_KEY", "GITHUB_APP_PRIVATE_KEY_FILE"])
    def test_pem_text_instead_of_a_path_is_refused_and_never_echoed(self, name: str) -> None:
        secret = "-----BEGIN PRIVATE KEY-----\nMIIEvSECRET\n-----END PRIVATE KEY-----\n"
        environ = BASE | {name: secret}
        if name == "GITHUB_APP_PRIVATE_KEY_FILE":
            environ = {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "1", name: secret}
        else:
            environ["NOMAD_CLIENT_CERT"] = "/c"
        found = problems(environ, read_file=files({"/c": "PEM"}))
        assert f"{name} holds PEM text; it must be the path of a file holding it" in found
        assert not any("SECRET" in line for line in found), found

    def test_files_need_a_reader(self) -> None:
        found = problems(BASE | {"NOMAD_CACERT": "/ca.pem"})
        assert found == ["NOMAD_CACERT is set but no file reader was provided"]

    def test_client_cert_needs_its_key(self) -> None:
        found = problems(BASE | {"NOMAD_CLIENT_CERT": "/c"}, read_file=files({"/c": "PEM"}))
        assert found == ["NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY must be set together"]

    def test_bad_port_in_url(self) -> None:
        assert problems(BASE | {"NOMAD_ADDR": "http://nomad:99999"}) == [
            "NOMAD_ADDR has an invalid port"
        ]


class TestWebhookSecretRotation:
    """GITHUB_WEBHOOK_SECRET_PREVIOUS: also accepted while the hooks' secret is rotated."""

    def test_read_when_set(self) -> None:
        settings = load_settings(BASE | {"GITHUB_WEBHOOK_SECRET_PREVIOUS": " old-secret\n"})
        assert settings.webhook_secret_previous == "old-secret"  # trimmed, as the current one
        assert load_settings(BASE).webhook_secret_previous == ""  # none outside a rotation

    @pytest.mark.parametrize("value", ["", "  \n"])
    def test_set_but_empty_is_refused(self, value: str) -> None:
        found = problems(BASE | {"GITHUB_WEBHOOK_SECRET_PREVIOUS": value})
        assert found == [
            "GITHUB_WEBHOOK_SECRET_PREVIOUS is set but empty; unset it outside a rotation"
        ]

    def test_the_current_secret_again_is_refused_without_showing_it(self) -> None:
        found = problems(BASE | {"GITHUB_WEBHOOK_SECRET_PREVIOUS": " hook-secret-value"})
        assert found == [
            "GITHUB_WEBHOOK_SECRET_PREVIOUS equals GITHUB_WEBHOOK_SECRET; "
            "set it to the old secret, or unset it"
        ]

    def test_rod_listen_takes_no_webhook_and_ignores_it(self) -> None:
        environ = {"GITHUB_TOKEN": "t", "GITHUB_WEBHOOK_SECRET_PREVIOUS": ""}
        assert load_settings(environ, webhook=False).webhook_secret_previous == ""


class TestLoadSettingsToml:
    def test_example_file(self) -> None:
        settings = load_settings(
            BASE | {"CF_ACCESS_CLIENT_SECRET": "cf-secret-value"}, EXAMPLE_TOML.read_text()
        )
        assert settings.policy.trigger_label == "self-hosted"
        assert settings.policy.allow == ("hashi-at-home", "octo-org/example-workflow")
        assert [pool.name for pool in settings.policy.pools] == ["linux", "gpu", "any"]
        assert settings.policy.pools[1] == Pool(
            "gpu", "github-runner-gpu", frozenset({"linux", "x64", "gpu"})
        )
        assert settings.policy.pools[2].labels == frozenset()
        assert settings.nomad_headers == {
            "CF-Access-Client-Id": "0123456789abcdef.access",
            "CF-Access-Client-Secret": "cf-secret-value",
        }
        assert (
            settings.server.queue_size,
            settings.server.workers,
            settings.server.dedup_size,
        ) == (1000, 4, 10000)
        assert settings.server.shutdown_grace_seconds == 25.0

    def test_limits_and_modes(self) -> None:
        toml_text = """
            credential_mode = "registration-token"
            runner_group_id = 3
            trigger_label = "Nomad"
            [server]
            host = "127.0.0.1"
            port = 0
            max_body_bytes = 65536
            queue_size = 5
            workers = 2
            shutdown_grace_seconds = 3
        """
        settings = load_settings(BASE, toml_text)
        assert (settings.credential_mode, settings.runner_group_id) == ("registration-token", 3)
        assert settings.policy.trigger_label == "Nomad"
        assert (settings.server.host, settings.server.port, settings.server.max_body_bytes) == (
            "127.0.0.1",
            0,
            65536,
        )
        assert (
            settings.server.queue_size,
            settings.server.workers,
            settings.server.shutdown_grace_seconds,
        ) == (
            5,
            2,
            3.0,
        )

    def test_edge_limits(self) -> None:
        toml_text = """
            [server]
            http = "h11"
            header_timeout_seconds = 2.5
            max_header_bytes = 8192
            keepalive_timeout_seconds = 3
            max_connections = 100
        """
        server = load_settings(BASE, toml_text).server
        assert (server.http, server.header_timeout_seconds, server.max_header_bytes) == (
            "h11",
            2.5,
            8192,
        )
        assert (server.keepalive_timeout_seconds, server.max_connections) == (3, 100)
        wrong = '[server]\nhttp = "twisted"\nmax_header_bytes = 100\nmax_connections = 0\n'
        assert problems(BASE, wrong) == [
            "server.max_header_bytes must be an integer from 1024 to 1048576",
            "server.max_connections must be an integer from 1 to 100000",
            "server.http must be one of auto, h11, httptools",
        ]

    def test_the_duplicate_filters_remember_something(self) -> None:
        # dedup_size also sizes the memory of ended jobs: at 0, a late `queued` copy of a
        # cancelled job would start a runner.
        assert problems(BASE, "[server]\ndedup_size = 0\n") == [
            "server.dedup_size must be an integer from 100 to 10000000"
        ]

    def test_the_dispatch_process_is_on_unless_turned_off(self) -> None:
        assert load_settings(BASE, "").server.dispatch_process is True
        off = load_settings(BASE, "[server]\ndispatch_process = false\n")
        assert off.server.dispatch_process is False
        assert problems(BASE, '[server]\ndispatch_process = "no"\n') == [
            "server.dispatch_process must be true or false"
        ]

    def test_invalid_toml(self) -> None:
        found = problems(BASE, "pools = [")
        assert len(found) == 1 and found[0].startswith("config file is not valid TOML: ")

    def test_every_toml_problem_is_listed(self) -> None:
        toml_text = """
            trigger_lable = "self-hosted"
            trigger_label = "a,b"
            allow = ["ok-org", "../x", "a/b/c"]
            credential_mode = "pat"
            runner_group_id = 0
            [server]
            port = 70000
            workers = true
            max_body_bytes = "1MiB"
            shutdown_grace_seconds = -1
            colour = "blue"
            [nomad.headers]
            "X-Nomad-Token" = "sneaky"
            "Bad Header" = "x"
            "CF-Access-Client-Secret" = { env = "CF_SECRET" }
            "X-Multi" = "a\\nb"
            [[pools]]
            name = "gpu"
            nomad_job = "runner gpu"
            labels = ["gpu"]
            [[pools]]
            name = "gpu"
            nomad_job = "runner-gpu2"
            [[pools]]
            name = ""
            nomad_job = "x"
            labels = ["a,b"]
            size = 3
        """
        assert problems(BASE, toml_text) == [
            "unknown key trigger_lable in the config file",
            "trigger_label must be a non-empty label without commas",
            "allow: '../x' is not an owner or owner/repo",
            "allow: 'a/b/c' is not an owner or owner/repo",
            "credential_mode must be one of jit, registration-token",
            "runner_group_id must be an integer from 1 to 2147483647",
            "pools[0].nomad_job must be a Nomad job id (no spaces or '/')",
            "pools[1].name 'gpu' is used by an earlier pool",
            "pools[1].labels is missing; use [] for a pool that takes any job",
            "unknown key pools[2].size in the config file",
            "pools[2].name is missing or empty",
            "pools[2].labels must be non-empty labels without commas",
            "unknown key server.colour in the config file",
            "server.port must be an integer from 0 to 65535",
            "server.max_body_bytes must be an integer from 1024 to 26214400",
            "server.workers must be an integer from 1 to 256",
            "server.shutdown_grace_seconds must be a number from 0 to 3600",
            "nomad.headers.X-Nomad-Token: not an allowed header name",
            "nomad.headers.Bad Header: not an allowed header name",
            "nomad.headers.CF-Access-Client-Secret: environment variable CF_SECRET is not set",
            'nomad.headers.X-Multi must be a one-line string or { env = "NAME" }',
        ]

    def test_wrong_table_types(self) -> None:
        found = problems(BASE, 'server = 3\nnomad = "x"\npools = {}\nallow = "octo-org"')
        assert found == [
            "allow has the wrong type (str)",
            "pools has the wrong type (dict)",
            "[server] has the wrong type (int)",
            "[nomad] has the wrong type (str)",
        ]

    def test_environment_and_toml_problems_together(self) -> None:
        found = problems({}, "bogus = 1")
        assert found[0].startswith("GITHUB_WEBHOOK_SECRET is not set")
        assert found[-1] == "unknown key bogus in the config file"


class TestLoadSettingsOrganization:
    def test_pools_with_a_runner_group_at_the_organization(self) -> None:
        toml = (
            'organization = "acme"\n[[pools]]\nname = "org"\nnomad_job = "github-runner"\n'
            'labels = []\nrunner_group = "linux"\n'
        )
        settings = load_settings(BASE, toml)
        assert settings.organization == "acme"
        assert settings.policy.pools == (
            Pool("org", "github-runner", frozenset(), runner_group="linux"),
        )

    def test_an_organization_must_be_a_login(self) -> None:
        found = problems(BASE, 'organization = "not/an org"')
        assert found[0] == "organization: 'not/an org' is not a GitHub organization login"


class TestSettingsRepr:
    def test_repr_hides_every_secret(self, rsa_pem: str) -> None:
        environ = BASE | {"NOMAD_TOKEN": "nomad-acl-token", "CF_SECRET": "cf-secret-value"}
        environ["GITHUB_WEBHOOK_SECRET_PREVIOUS"] = "previous-hook-secret"
        toml_text = '[nomad.headers]\n"CF-Access-Client-Secret" = { env = "CF_SECRET" }'
        settings = load_settings(environ, toml_text)
        text = repr(settings)
        assert settings.webhook_secret_previous == "previous-hook-secret"
        secrets = ("hook-secret-value", "ghp_pat_value", "nomad-acl-token", "cf-secret-value")
        for secret in (*secrets, "previous-hook-secret"):
            assert secret not in text and secret not in str(settings)
        assert "CF-Access-Client-Secret" in text and "http://127.0.0.1:4646" in text

        app = Settings(webhook_secret="s", github_app_id="1", github_app_private_key=rsa_pem)
        assert "PRIVATE KEY" not in repr(app) and "github_app_id='1'" in repr(app)

    def test_unset_secrets_show_as_none(self) -> None:
        assert "nomad_token=None" in repr(load_settings(BASE))
