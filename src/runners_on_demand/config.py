"""Settings from environment variables and an optional TOML file, checked all at once.

Connections and credentials come from the ecosystem's own environment variables:
`GITHUB_WEBHOOK_SECRET` (required; also `GITHUB_WEBHOOK_SECRET_PREVIOUS` while it is rotated),
`GITHUB_TOKEN` or `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY_FILE`, `GITHUB_API_URL`, `NOMAD_ADDR`,
`NOMAD_TOKEN`, `NOMAD_NAMESPACE`, `NOMAD_REGION`, `NOMAD_CACERT`, `NOMAD_CLIENT_CERT`,
`NOMAD_CLIENT_KEY` (files are read through the injected `read_file`, so this module stays free of
I/O).

Everything else lives in the TOML file (`rod serve --config rod.toml`; see rod.example.toml).
Every key is optional:

    trigger_label = "self-hosted"        # a job must carry it (case-insensitive) to get a runner
    allow = ["my-org", "someone/repo"]   # owners or owner/repo; empty or absent = every repository
    credential_mode = "jit"              # or "registration-token"
    runner_group_id = 1                  # generate-jitconfig's runner_group_id (repository runners)
    organization = "my-org"              # where pools with a runner_group make their runners

    [server]
    host = "0.0.0.0"
    port = 8080
    max_body_bytes = 1048576             # larger webhook bodies get 413
    body_timeout_seconds = 10.0          # a body not received in full by then gets 408
    queue_size = 1000                    # a full queue answers 503
    workers = 4
    shutdown_grace_seconds = 25.0        # how long SIGTERM waits for queued work
    dedup_size = 10000                   # recent deliveries, ended jobs, dispatched runners
    max_connections = 512                # and more HTTP edge limits: see rod.example.toml

    [nomad.headers]                      # extra headers on every Nomad call
    "CF-Access-Client-Id" = "0123.access"
    "CF-Access-Client-Secret" = { env = "CF_ACCESS_CLIENT_SECRET" }   # read from the environment

    [[pools]]                            # tried in order; the first covering all labels wins
    name = "gpu"
    nomad_job = "github-runner-gpu"
    labels = ["linux", "gpu"]            # the trigger label is implied; [] takes any job
    runner_group = "gpu-runners"         # optional: org runners in this group of `organization`

    [reconcile]                          # see reconcile/settings.py; [listen]: listen/settings.py
    interval_seconds = 60

Without `[[pools]]` there is one pool, `default`, Nomad job `github-runner`, taking any job that
carries the trigger label. With pools, a job none of them covers gets no runner.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from runners_on_demand.decision import Policy
from runners_on_demand.errors import ConfigError
from runners_on_demand.listen.settings import ListenSettings
from runners_on_demand.names import is_valid_full_name, is_valid_owner
from runners_on_demand.pool_table import read_pools
from runners_on_demand.reconcile.settings import ReconcileSettings
from runners_on_demand.server_settings import HTTP_PARSERS, ServerSettings
from runners_on_demand.tables import read_table
from runners_on_demand.tables import string_list as _string_list
from runners_on_demand.tables import typed as _get
from runners_on_demand.tables import unknown_keys as _unknown

__all__ = ["CredentialMode", "ServerSettings", "Settings", "load_settings"]

CredentialMode = Literal["jit", "registration-token"]
_CREDENTIAL_MODES: tuple[CredentialMode, ...] = ("jit", "registration-token")
# RFC 9110 token characters for a header name.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers rod sets itself from the environment; config may not override them.
_RESERVED_HEADERS = frozenset({"x-nomad-token", "host", "content-length", "content-type"})


@dataclass(frozen=True)
class Settings:
    """Everything `rod serve` needs; `repr` hides every secret."""

    webhook_secret: str = field(default="", metadata={"secret": True})  # none for `rod listen`
    # Also accepted while the secret is rotated ("": none); webhook_edge.py counts its deliveries.
    webhook_secret_previous: str = field(default="", metadata={"secret": True})
    github_token: str | None = field(default=None, metadata={"secret": True})
    github_app_id: str | None = None
    github_app_private_key: str | None = field(default=None, metadata={"secret": True})
    github_api_url: str = "https://api.github.com"
    nomad_addr: str = "http://127.0.0.1:4646"
    nomad_token: str | None = field(default=None, metadata={"secret": True})
    nomad_namespace: str = "default"
    nomad_region: str | None = None
    nomad_cacert: str | None = None
    nomad_client_cert: str | None = None
    nomad_client_key: str | None = None
    nomad_headers: Mapping[str, str] = field(default_factory=dict, metadata={"secret": True})
    policy: Policy = field(default_factory=Policy)
    credential_mode: CredentialMode = "jit"
    runner_group_id: int = 1
    organization: str | None = None
    server: ServerSettings = field(default_factory=ServerSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    listen: ListenSettings = field(default_factory=ListenSettings)

    @property
    def github_auth(self) -> Literal["token", "app"]:
        """Which GitHub credential is configured."""
        return "token" if self.github_token else "app"

    def __repr__(self) -> str:
        parts = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.metadata.get("secret") and value:
                shown = (
                    {k: "<redacted>" for k in value} if isinstance(value, Mapping) else "<redacted>"
                )
                parts.append(f"{spec.name}={shown!r}")
            else:
                parts.append(f"{spec.name}={value!r}")
        return f"Settings({', '.join(parts)})"


# Top-level keys of the config file; the tables are read by tables.py into their dataclasses.
_KEYS = (
    "trigger_label",
    "allow",
    "organization",
    "credential_mode",
    "runner_group_id",
    "nomad",
    "pools",
)
_TABLES = {"server": ServerSettings, "reconcile": ReconcileSettings, "listen": ListenSettings}


def load_settings(
    environ: Mapping[str, str],
    toml_text: str | None = None,
    *,
    read_file: Callable[[str], str] | None = None,
    webhook: bool = True,  # False for `rod listen`, which needs no webhook secret
) -> Settings:
    """Settings from `environ` and the TOML text; `ConfigError` lists every problem found."""
    problems: list[str] = []
    env = {name: value.strip() for name, value in environ.items() if value.strip()}
    values: dict[str, Any] = {}
    if webhook:
        _webhook_secrets(environ, env, values, problems)
    _github(env, values, problems, read_file)
    _nomad(env, values, problems, read_file)
    document: dict[str, Any] = {}
    if toml_text is not None:
        try:
            document = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as error:
            problems.append(f"config file is not valid TOML: {error}")
    _toml(document, env, values, problems)
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


def _webhook_secrets(
    environ: Mapping[str, str], env: dict[str, str], values: dict[str, Any], problems: list[str]
) -> None:
    """GITHUB_WEBHOOK_SECRET, and GITHUB_WEBHOOK_SECRET_PREVIOUS during a rotation."""
    if "GITHUB_WEBHOOK_SECRET" not in env:
        problems.append("GITHUB_WEBHOOK_SECRET is not set; refusing to accept unsigned webhooks")
    # GitHub signs with the one secret its hook holds, from the moment it is saved, so rod takes
    # the old one too until every hook has the new one (README, "Rotating the webhook secret").
    name = "GITHUB_WEBHOOK_SECRET_PREVIOUS"
    if name not in environ:
        return
    previous = env.get(name, "")
    if not previous:
        problems.append(f"{name} is set but empty; unset it outside a rotation")
    elif previous == env.get("GITHUB_WEBHOOK_SECRET"):
        problems.append(
            f"{name} equals GITHUB_WEBHOOK_SECRET; set it to the old secret, or unset it"
        )
    else:
        values["webhook_secret_previous"] = previous


def _github(
    env: dict[str, str],
    values: dict[str, Any],
    problems: list[str],
    read_file: Callable[[str], str] | None,
) -> None:
    """The GitHub side: webhook secret, PAT or App, API URL."""
    if "GITHUB_WEBHOOK_SECRET" in env:
        values["webhook_secret"] = env["GITHUB_WEBHOOK_SECRET"]
    token, app_id = env.get("GITHUB_TOKEN"), env.get("GITHUB_APP_ID")
    key_file = env.get("GITHUB_APP_PRIVATE_KEY_FILE")
    if token and (app_id or key_file):
        problems.append(
            "set either GITHUB_TOKEN or GITHUB_APP_ID/GITHUB_APP_PRIVATE_KEY_FILE, not both"
        )
    elif token:
        values["github_token"] = token
    elif app_id or key_file:
        if not app_id:
            problems.append("GITHUB_APP_PRIVATE_KEY_FILE is set but GITHUB_APP_ID is not")
        elif not re.fullmatch(r"[0-9]+|Iv[0-9A-Za-z.]+", app_id):
            problems.append("GITHUB_APP_ID must be the App's numeric id or its client id (Iv...)")
        else:
            values["github_app_id"] = app_id
        if not key_file:
            problems.append("GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY_FILE is not")
        else:
            key = _read(read_file, key_file, "GITHUB_APP_PRIVATE_KEY_FILE", problems)
            if key is not None:
                if _is_rsa_private_key(key):
                    values["github_app_private_key"] = key
                else:
                    problems.append(
                        f"GITHUB_APP_PRIVATE_KEY_FILE {key_file}: not a PEM RSA private key"
                    )
    else:
        problems.append(
            "no GitHub credential: set GITHUB_TOKEN, or GITHUB_APP_ID and "
            "GITHUB_APP_PRIVATE_KEY_FILE"
        )
    if "GITHUB_API_URL" in env:
        values["github_api_url"] = _url(env["GITHUB_API_URL"], "GITHUB_API_URL", problems)


def _nomad(
    env: dict[str, str],
    values: dict[str, Any],
    problems: list[str],
    read_file: Callable[[str], str] | None,
) -> None:
    """The Nomad side, with the names and defaults of the nomad CLI."""
    # https://developer.hashicorp.com/nomad/docs/commands#environment-variables
    if "NOMAD_ADDR" in env:
        values["nomad_addr"] = _url(env["NOMAD_ADDR"], "NOMAD_ADDR", problems)
    for name in ("NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        if name in env:
            values[name.lower()] = env[name]
    for name in ("NOMAD_CACERT", "NOMAD_CLIENT_CERT", "NOMAD_CLIENT_KEY"):
        if name in env and _read(read_file, env[name], name, problems) is not None:
            values[name.lower()] = env[name]
    if ("NOMAD_CLIENT_CERT" in env) != ("NOMAD_CLIENT_KEY" in env):
        problems.append("NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY must be set together")


def _toml(
    document: dict[str, Any], env: dict[str, str], values: dict[str, Any], problems: list[str]
) -> None:
    """Policy, limits and extra Nomad headers from the TOML document."""
    top = {*_KEYS, *_TABLES}
    _unknown(document, top, "", problems)
    trigger = _get(document, "trigger_label", str, "trigger_label", problems)
    if trigger is not None and (not trigger.strip() or "," in trigger):
        problems.append("trigger_label must be a non-empty label without commas")
        trigger = None
    allow = _string_list(document, "allow", "allow", problems)
    for entry in allow or []:
        if not (is_valid_owner(entry) or is_valid_full_name(entry)):
            problems.append(f"allow: {entry!r} is not an owner or owner/repo")
    mode = _get(document, "credential_mode", str, "credential_mode", problems)
    if mode is not None:
        if mode in _CREDENTIAL_MODES:
            values["credential_mode"] = mode
        else:
            problems.append(f"credential_mode must be one of {', '.join(_CREDENTIAL_MODES)}")
    _int(document, "runner_group_id", "runner_group_id", 1, 2**31 - 1, values, problems)
    organization = _get(document, "organization", str, "organization", problems)
    if organization is not None and not is_valid_owner(organization):
        problems.append(f"organization: {organization!r} is not a GitHub organization login")
        organization = None
    values["organization"] = organization
    pools = read_pools(document, organization, problems)
    policy: dict[str, Any] = {}
    if trigger is not None:
        policy["trigger_label"] = trigger
    if allow:
        policy["allow"] = tuple(allow)
    if pools:
        policy["pools"] = pools
    values["policy"] = Policy(**policy)
    for name, cls in _TABLES.items():
        table = _get(document, name, dict, f"[{name}]", problems) or {}
        values[name] = read_table(cls, table, f"{name}.", problems)
    if values["server"].http not in HTTP_PARSERS:
        problems.append(f"server.http must be one of {', '.join(HTTP_PARSERS)}")
    nomad = _get(document, "nomad", dict, "[nomad]", problems) or {}
    _unknown(nomad, {"headers"}, "nomad.", problems)
    headers = _get(nomad, "headers", dict, "[nomad.headers]", problems) or {}
    values["nomad_headers"] = _headers(headers, env, problems)


def _headers(table: dict[str, Any], env: dict[str, str], problems: list[str]) -> dict[str, str]:
    """Extra Nomad headers; a value `{ env = "NAME" }` is read from the environment."""
    headers: dict[str, str] = {}
    for name, value in table.items():
        where = f"nomad.headers.{name}"
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
            problems.append(f"{where}: not an allowed header name")
            continue
        if isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str):
            if value["env"] not in env:
                problems.append(f"{where}: environment variable {value['env']} is not set")
                continue
            value = env[value["env"]]
        if not isinstance(value, str) or not value or re.search(r"[\r\n\x00]", value):
            problems.append(f'{where} must be a one-line string or {{ env = "NAME" }}')
            continue
        headers[name] = value
    return headers


def _url(value: str, name: str, problems: list[str]) -> str:
    """An http(s) base URL without its trailing slash."""
    parts = urlsplit(value)
    if "@" in parts.netloc:  # a password in it would be logged with the URL
        problems.append(f"{name} must not carry a user or password (user:password@host)")
        return value
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        problems.append(f"{name} must be an http(s) URL like https://host[:port][/path]")
        return value
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        problems.append(f"{name} has an invalid port")
    return value.rstrip("/")


def _read(
    read_file: Callable[[str], str] | None, path: str, name: str, problems: list[str]
) -> str | None:
    """The text of `path` through the injected reader, or None with a problem noted."""
    if "\n" in path or "-----BEGIN" in path:  # the file's content itself: never echoed
        problems.append(f"{name} holds PEM text; it must be the path of a file holding it")
        return None
    if read_file is None:
        problems.append(f"{name} is set but no file reader was provided")
        return None
    try:
        return read_file(path)
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        problems.append(f"{name} {path}: cannot read ({reason})")
        return None


def _is_rsa_private_key(pem: str) -> bool:
    """Whether `pem` is an unencrypted PEM RSA private key (GitHub App keys are)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    return isinstance(key, RSAPrivateKey)


def _int(
    table: dict[str, Any],
    key: str,
    where: str,
    low: int,
    high: int,
    values: dict[str, Any],
    problems: list[str],
) -> None:
    """Copy `table[key]` into `values` if it is an integer in [low, high]."""
    value = table.get(key)
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        values[key] = value
    else:
        problems.append(f"{where} must be an integer from {low} to {high}")
