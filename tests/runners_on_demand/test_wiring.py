"""Tests for runners_on_demand.wiring's reading of the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from runners_on_demand.errors import ConfigError
from runners_on_demand.wiring import read_settings

ENV = {"GITHUB_TOKEN": "ghp_wiring", "GITHUB_WEBHOOK_SECRET": "s3cret"}


class TestReadSettings:
    def test_a_config_file_that_is_not_utf8_is_named_so(self, tmp_path: Path) -> None:
        config = tmp_path / "rod.toml"
        config.write_bytes(b"[server]\nport = 8080 # \xff\n")
        with pytest.raises(ConfigError) as refused:
            read_settings(str(config), ENV)
        assert str(refused.value) == f"cannot read config file {config}: not UTF-8 text (byte 23)"

    def test_a_missing_config_file_says_why(self, tmp_path: Path) -> None:
        config = tmp_path / "missing.toml"
        with pytest.raises(ConfigError) as refused:
            read_settings(str(config), ENV)
        assert str(refused.value) == f"cannot read config file {config}: No such file or directory"

    def test_a_readable_config_file_is_read(self, tmp_path: Path) -> None:
        config = tmp_path / "rod.toml"
        config.write_text("[server]\nport = 9090\n")
        assert read_settings(str(config), ENV).server.port == 9090
