"""Harness settings, gathered once from behave userdata (or the demo's options) and typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from simulator.harness.errors import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackSettings:
    """What to start and how long to wait; every field can be set with `-D name=value`."""

    backend: str = "sim"
    # How jobs reach the dispatcher: "webhook" (`rod serve`) or "listen" (`rod listen`).
    intake: str = "webhook"
    repo: str = "octo-org/hello-world"
    runner_job: str = "github-runner"
    timeout: float = 20.0
    log_dir: Path = field(default=REPO_ROOT / "build" / "acceptance")
    # Seconds a scripted job "runs" on its runner: long enough to watch it busy.
    job_seconds: float = 1.0

    @classmethod
    def from_userdata(cls, userdata: Mapping[str, str]) -> StackSettings:
        """From `-D key=value` pairs; unknown keys are ignored, bad values refused in one line."""
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = userdata.get(spec.name)
            if raw is None:
                continue
            default = getattr(cls(), spec.name)
            try:
                values[spec.name] = type(default)(raw)
            except ValueError:
                raise HarnessError(f"-D {spec.name}={raw!r}: not a valid value") from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work."""
        owner, _, name = self.repo.partition("/")
        if not owner or not name or "/" in name:
            raise HarnessError(f"-D repo={self.repo}: expected owner/name")
        if self.intake not in ("webhook", "listen"):
            raise HarnessError(f"-D intake={self.intake}: choose webhook or listen")
        if self.timeout <= 0 or self.job_seconds < 0:
            raise HarnessError("-D timeout must be positive and -D job_seconds not negative")
