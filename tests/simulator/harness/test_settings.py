"""StackSettings: typed from `-D` userdata, refused in one line when unusable."""

from __future__ import annotations

import pytest

from simulator.harness.errors import HarnessError
from simulator.harness.settings import StackSettings


class TestFromUserdata:
    def test_defaults_to_the_embedded_backend(self) -> None:
        settings = StackSettings.from_userdata({})
        assert (settings.backend, settings.intake) == ("sim", "webhook")
        assert settings.repo == "octo-org/hello-world"

    def test_converts_values_to_the_field_types(self) -> None:
        settings = StackSettings.from_userdata(
            {"backend": "compose", "timeout": "7.5", "repo": "me/mine", "unrelated": "x"}
        )
        assert (settings.backend, settings.timeout, settings.repo) == ("compose", 7.5, "me/mine")

    @pytest.mark.parametrize(
        ("userdata", "message"),
        [
            ({"repo": "no-slash"}, "-D repo=no-slash: expected owner/name"),
            ({"timeout": "soon"}, "-D timeout='soon': not a valid value"),
            ({"timeout": "0"}, "-D timeout must be positive"),
            ({"intake": "smoke-signals"}, "-D intake=smoke-signals: choose webhook or listen"),
        ],
    )
    def test_refuses_unusable_values(self, userdata: dict[str, str], message: str) -> None:
        with pytest.raises(HarnessError) as raised:
            StackSettings.from_userdata(userdata)
        assert str(raised.value).startswith(message)
        assert "\n" not in str(raised.value)
