"""Decode (and, for tests and emulators, encode) the runner's just-in-time configuration.

`encoded_jit_config` from generate-jitconfig is base64 of a JSON object whose values are base64
JSON files the runner would write to disk: `.runner` (AgentId, AgentName, ServerUrl, ...) and
`.credentials` (`{"Scheme": "OAuth", "Data": {...}}`). The simulator puts the runner secret in
`.credentials.Data.token` (docs/architecture.md); the real runner's is an RSA key, but the
protocol behind it is private.
https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-a-repository
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from simulator.runner.errors import BadInput


@dataclass(frozen=True)
class JitSettings:
    """What the fake runner needs from a JIT config; `secret` is hidden from repr."""

    agent_id: int
    agent_name: str
    server_url: str
    secret: str = field(repr=False)


def _b64_json(text: str, what: str) -> Any:
    try:
        return json.loads(base64.b64decode(text.encode("ascii"), validate=True))
    except (UnicodeError, binascii.Error, ValueError):
        raise BadInput(f"JIT config is malformed: {what} is not base64-encoded JSON") from None


def decode_jit_config(encoded: str) -> JitSettings:
    """Read an encoded JIT config; `BadInput` (naming the problem, not the value) if malformed."""
    files = _b64_json(encoded.strip(), "the config")
    if not isinstance(files, dict):
        raise BadInput("JIT config is malformed: not a JSON object")
    runner = _b64_json(_text(files, ".runner", "config"), ".runner")
    credentials = _b64_json(_text(files, ".credentials", "config"), ".credentials")
    if not isinstance(runner, dict) or not isinstance(credentials, dict):
        raise BadInput("JIT config is malformed: .runner and .credentials must be objects")
    data = credentials.get("Data")
    if not isinstance(data, dict):
        raise BadInput("JIT config is malformed: .credentials has no Data object")
    agent_id = runner.get("AgentId")
    if not isinstance(agent_id, int) or isinstance(agent_id, bool):
        raise BadInput("JIT config is malformed: .runner AgentId is not an integer")
    server_url = _text(runner, "ServerUrl", ".runner")
    if not server_url.startswith(("http://", "https://")):
        raise BadInput("JIT config is malformed: .runner ServerUrl is not an http(s) URL")
    return JitSettings(
        agent_id=agent_id,
        agent_name=_text(runner, "AgentName", ".runner"),
        server_url=server_url.rstrip("/"),
        secret=_text(data, "token", ".credentials Data"),
    )


def _text(document: dict[str, Any], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise BadInput(f"JIT config is malformed: {where} has no {key}")
    return value


def _b64(document: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode("ascii")


def encode_jit_config(
    *,
    agent_id: int,
    agent_name: str,
    server_url: str,
    secret: str,
    github_url: str = "",
    pool_id: int = 1,
) -> str:
    """An `encoded_jit_config` in the shape docs/architecture.md fixes (for emulators and tests)."""
    runner = {
        "AgentId": agent_id,
        "AgentName": agent_name,
        "PoolId": pool_id,
        "ServerUrl": server_url,
        "GitHubUrl": github_url,
        "WorkFolder": "_work",
        "Ephemeral": True,
    }
    credentials = {"Scheme": "OAuth", "Data": {"token": secret}}
    return _b64({".runner": _b64(runner), ".credentials": _b64(credentials)})
