"""Helpers the deploy tests share: the job specs as python-hcl2 reads them, the Dockerfile's
user and entrypoints, and the TLS items of the dispatcher's Variable."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2

from runners_on_demand.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "nomad"
# TLS to Nomad: Variable items holding PEM text, which rod reads from the files they name.
TLS = ("NOMAD_CACERT", "NOMAD_CLIENT_CERT", "NOMAD_CLIENT_KEY")


def read_text(path: str) -> str:
    """A file's text: the `read_file` `load_settings` is given."""
    return Path(path).read_text()


def load(name: str) -> dict[str, Any]:
    """A job spec as python-hcl2 reads it (HCL's own syntax, before variables are applied)."""
    with (DEPLOY / name).open() as handle:
        spec: dict[str, Any] = hcl2.load(handle)
    return spec


def job_body(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (job,) = spec["job"]
    ((name, body),) = job.items()
    return name, body


def dockerfile_entrypoint(stage: str) -> list[str]:
    """The exec-form ENTRYPOINT of the Dockerfile's stage `stage`."""
    dockerfile = (DEPLOY.parents[1] / "Dockerfile").read_text()
    body = dockerfile.split(f" AS {stage}\n", 1)[1].split("\nFROM ", 1)[0]
    (line,) = [line for line in body.splitlines() if line.startswith("ENTRYPOINT ")]
    words: list[str] = json.loads(line.removeprefix("ENTRYPOINT "))
    return words


def pem_templates_are_the_images_users(job: dict[str, Any]) -> None:
    """Every PEM the task gets is 0400 and owned by the Dockerfile's USER of stage `rod`."""
    (task,) = job["TaskGroups"][0]["Tasks"]
    pems = {t["DestPath"]: t for t in task["Templates"] if t["DestPath"].endswith(".pem")}
    assert set(pems) == {"secrets/github-app.pem", *(f"secrets/{k.lower()}.pem" for k in TLS)}
    user = re.search(
        r"FROM base AS rod\n(?:.*\n)*?USER (\d+):(\d+)", (ROOT / "Dockerfile").read_text()
    )
    assert user is not None
    for pem in pems.values():
        assert (pem["Uid"], pem["Gid"]) == (int(user.group(1)), int(user.group(2)))
        assert pem["Perms"] == "0400"


def tls_items() -> dict[str, str]:
    return {key: f"-----BEGIN {key}-----\n{key.lower()}\n-----END-----\n" for key in TLS}


def assert_tls_files(env: dict[str, str], settings: Settings) -> None:
    """Each TLS variable names a file in the task's secrets/ holding its item, never the PEM."""
    for key, pem in tls_items().items():
        path = Path(getattr(settings, key.lower()))
        assert path.parent == Path(env["NOMAD_SECRETS_DIR"])
        assert path.read_text() == pem
        assert pem not in env.values()
