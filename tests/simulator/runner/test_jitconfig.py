"""Tests for simulator.runner.jitconfig."""

from __future__ import annotations

import base64
import json

import pytest

from simulator.runner.errors import BadInput
from simulator.runner.jitconfig import decode_jit_config, encode_jit_config


def _b64(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


class TestDecodeJitConfig:
    def test_round_trip(self) -> None:
        encoded = encode_jit_config(
            agent_id=7, agent_name="rod-1-1", server_url="http://127.0.0.1:9/_actions/", secret="s3"
        )
        settings = decode_jit_config(encoded)
        assert (settings.agent_id, settings.agent_name) == (7, "rod-1-1")
        assert settings.server_url == "http://127.0.0.1:9/_actions"
        assert settings.secret == "s3"
        assert "s3" not in repr(settings)

    def test_the_architecture_shape(self) -> None:
        files = json.loads(
            base64.b64decode(
                encode_jit_config(
                    agent_id=1, agent_name="n", server_url="http://h/_actions", secret="t"
                )
            )
        )
        runner = json.loads(base64.b64decode(files[".runner"]))
        credentials = json.loads(base64.b64decode(files[".credentials"]))
        assert set(runner) == {
            "AgentId",
            "AgentName",
            "PoolId",
            "ServerUrl",
            "GitHubUrl",
            "WorkFolder",
            "Ephemeral",
        }
        assert credentials == {"Scheme": "OAuth", "Data": {"token": "t"}}

    @pytest.mark.parametrize(
        ("encoded", "problem"),
        [
            ("not base64!", "the config is not base64"),
            (base64.b64encode(b"[1]").decode(), "not a JSON object"),
            (_b64({".runner": "%%%"}), ".runner is not base64"),
            (_b64({".credentials": _b64({})}), "config has no .runner"),
            (
                _b64({".runner": _b64({"AgentId": "x"}), ".credentials": _b64({"Data": {}})}),
                "AgentId is not an integer",
            ),
            (
                _b64(
                    {
                        ".runner": _b64({"AgentId": 1, "AgentName": "n", "ServerUrl": "ftp://x"}),
                        ".credentials": _b64({"Data": {"token": "t"}}),
                    }
                ),
                "ServerUrl is not an http(s) URL",
            ),
            (
                _b64(
                    {
                        ".runner": _b64({"AgentId": 1, "AgentName": "n", "ServerUrl": "http://x"}),
                        ".credentials": _b64({"Scheme": "OAuth"}),
                    }
                ),
                "no Data object",
            ),
        ],
    )
    def test_malformed(self, encoded: str, problem: str) -> None:
        with pytest.raises(BadInput, match=problem.replace("(", r"\(").replace(")", r"\)")):
            decode_jit_config(encoded)
