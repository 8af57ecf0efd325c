"""Where the fake runner's credential comes from: the same inputs as the production task's script.

deploy/nomad/github-runner.nomad.hcl's default script takes the credential from
`$NOMAD_SECRETS_DIR/credential` (one `name=value` line its template renders from the Nomad
Variable the dispatcher wrote) and removes that file before the runner starts; the dispatch
payload (`$NOMAD_TASK_DIR/payload.json`, which anyone with read-job can read) carries no
credential, only the repository `url` and, for an org runner, its `runner_group`. A non-empty
`jit_config` goes to `run.sh` through ACTIONS_RUNNER_INPUT_JITCONFIG; otherwise
`registration_token` and the payload's `url` go to `config.sh` with
`--name $NOMAD_META_RUNNER_NAME --labels $NOMAD_META_RUNNER_LABELS` (and `--runnergroup` from the
payload's `runner_group`), as here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from simulator.runner.errors import BadInput

# Used by config.sh when the optional RUNNER_LABELS meta is absent (the script's default too).
DEFAULT_LABELS = ("self-hosted",)


@dataclass(frozen=True)
class JitLaunch:
    """Start from an encoded JIT config, like `run.sh --jitconfig`."""

    encoded: str = field(repr=False)


@dataclass(frozen=True)
class RegistrationLaunch:
    """Register first with a registration token, like `config.sh --ephemeral`, then run."""

    url: str
    token: str = field(repr=False)
    name: str = ""
    labels: tuple[str, ...] = DEFAULT_LABELS
    runner_group: str = ""  # config.sh --runnergroup; empty: the default group


Launch = JitLaunch | RegistrationLaunch


def payload_path(env: Mapping[str, str], override: Path | None = None) -> Path:
    """`$NOMAD_TASK_DIR/payload.json`, or the explicit override."""
    if override is not None:
        return override
    task_dir = env.get("NOMAD_TASK_DIR")
    if not task_dir:
        raise BadInput("NOMAD_TASK_DIR is not set and no --payload was given")
    return Path(task_dir) / "payload.json"


def credential_path(env: Mapping[str, str]) -> Path | None:
    """`$NOMAD_SECRETS_DIR/credential`, the file the runner job's template renders."""
    secrets = env.get("NOMAD_SECRETS_DIR")
    return Path(secrets) / "credential" if secrets else None


def take_credential(path: Path | None) -> dict[str, str]:
    """The credential file's `name=value` lines, then the file is removed (as the script does).

    An absent or empty file is no credential (`launch_from` then says what is missing).
    """
    if path is None or not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        path.unlink()
    except (OSError, UnicodeError) as exc:
        raise BadInput(f"credential file {path} cannot be read: {type(exc).__name__}") from None
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, _, value in pairs}


def read_payload(path: Path) -> str:
    """The payload file's text; `BadInput` if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"payload file {path} does not exist") from None
    except (OSError, UnicodeError) as exc:
        raise BadInput(f"payload file {path} cannot be read: {type(exc).__name__}") from None


def launch_from(
    *,
    jitconfig: str | None,
    payload_text: str | None,
    env: Mapping[str, str],
    credential: Mapping[str, str] | None = None,
) -> Launch:
    """The credential from `--jitconfig`/env or the credential file; the rest from the payload."""
    if jitconfig:
        return JitLaunch(jitconfig.strip())
    secret = dict(credential or {})
    if secret.get("jit_config"):
        return JitLaunch(secret["jit_config"])
    token = secret.get("registration_token")
    if not token:
        raise BadInput(
            "no JIT config given and no jit_config or registration_token in the credential file"
        )
    if payload_text is None:
        raise BadInput("registration needs the payload's url, and there is no payload")
    try:
        payload = json.loads(payload_text)
    except ValueError:
        raise BadInput("payload.json is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadInput("payload.json is not a JSON object")
    url = payload.get("url")
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise BadInput("payload.json has no http(s) url to register with")
    name = env.get("NOMAD_META_RUNNER_NAME", "")
    if not name:
        raise BadInput("registration needs a runner name: NOMAD_META_RUNNER_NAME is not set")
    raw_labels = env.get("NOMAD_META_RUNNER_LABELS", "")
    labels = tuple(label.strip() for label in raw_labels.split(",") if label.strip())
    group = payload.get("runner_group", "")
    if not isinstance(group, str):
        raise BadInput("payload.json runner_group is not a string")
    return RegistrationLaunch(
        url=url, token=token, name=name, labels=labels or DEFAULT_LABELS, runner_group=group
    )
