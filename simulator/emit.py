"""`rod sim emit`: send ONE signed webhook delivery to any URL, e.g. to replay a scenario.

Payloads and the wire format are the GitHub emulator's own (`simulator.github.representations`
for the JSON shapes, `simulator.github.webhooks.encode` for headers, body and signatures), so a
delivery sent by hand is byte-for-byte what the emulator's hooks would send.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import click
import httpx

from simulator.github import representations as rep
from simulator.github.actions import CONCLUSIONS, Job, JobSpec
from simulator.github.hooks import ZEN
from simulator.github.runner_groups import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME
from simulator.github.webhooks import DELIVERY_TIMEOUT, Event, Hook, encode

ACTIONS = ("queued", "waiting", "in_progress", "completed")
EVENTS = ("workflow_job", "ping")
SENDER = rep.Account(login="octocat", id=1, type="User")


class EmitError(click.ClickException):
    """A delivery that cannot be built or sent; click prints it as one line, exit 1."""


@dataclass(frozen=True)
class Target:
    """Where the delivery claims to come from: the hook, the repository and GitHub's URLs."""

    repo: str
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"

    def repository(self, created_at: float) -> rep.Repo:
        """The repository, with a stable id derived from its name."""
        owner, name = self.repo.split("/", 1)
        return rep.Repo(
            id=zlib.crc32(self.repo.encode()) or 1,
            owner=rep.Account(login=owner, id=zlib.crc32(owner.encode()) or 1, type="User"),
            name=name,
            private=False,
            fork=False,
            created_at=created_at,
        )

    @property
    def urls(self) -> rep.Urls:
        """API and HTML bases for the payload's links."""
        return rep.Urls(api=self.api_url.rstrip("/"), html=self.github_url.rstrip("/"))


def _envelope(payload: dict[str, Any], repo: rep.Repo, target: Target) -> dict[str, Any]:
    payload["repository"] = rep.repository(repo, target.urls, with_permissions=False)
    payload["sender"] = rep.user(SENDER, target.urls)
    return payload


def workflow_job_payload(
    target: Target,
    *,
    action: str,
    labels: list[str],
    job_id: int,
    run_id: int,
    run_attempt: int = 1,
    job_name: str = "build",
    conclusion: str = "success",
    now: float,
) -> dict[str, Any]:
    """A `workflow_job` payload; runner fields are null while queued or waiting, as on GitHub."""
    # https://docs.github.com/webhooks/webhook-events-and-payloads#workflow_job
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    repo = target.repository(now)
    ran = action in ("in_progress", "completed")
    group_id, group_name = DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME
    job = Job(
        id=job_id,
        run_id=run_id,
        repo=target.repo,
        spec=JobSpec(name=job_name, labels=list(labels)),
        workflow_name="CI",
        head_sha="0" * 40,
        head_branch="main",
        created_at=now,
        status=action,
        run_attempt=run_attempt,
        conclusion=conclusion if action == "completed" else None,
        started_at=now,
        completed_at=now if action == "completed" else None,
        runner_id=1 if ran else None,
        runner_name=f"rod-{job_id}-{run_attempt}" if ran else None,
        runner_group_id=group_id if ran else None,
        runner_group_name=group_name if ran else None,
    )
    payload = {"action": action, "workflow_job": rep.job(job, repo, target.urls, for_webhook=True)}
    return _envelope(payload, repo, target)


def ping_payload(target: Target, *, hook: Hook, now: float) -> dict[str, Any]:
    """A `ping` payload for `hook`, as sent when a hook is created."""
    repo = target.repository(now)
    payload = {"zen": ZEN, "hook_id": hook.id, "hook": hook.to_json(target.urls.api)}
    return _envelope(payload, repo, target)


def read_recorded(text: str) -> tuple[str | None, dict[str, Any]]:
    """(event from recorded headers or None, payload) from a recorded delivery file.

    Accepted: a JSON body; `{"headers", "body"}` (body as JSON, or its raw JSON or form text);
    or a hook delivery as `GET /repos/{o}/{r}/hooks/{id}/deliveries/{delivery_id}` returns it
    (`request.headers`, `request.payload`).
    """
    try:
        document = json.loads(text)
    except ValueError:
        raise EmitError("the file is not JSON") from None
    if not isinstance(document, dict):
        raise EmitError("the file is not a JSON object")
    request = document.get("request")
    if isinstance(request, dict) and {"headers", "payload"} <= set(request):
        headers, body = request["headers"], request["payload"]
    elif set(document) == {"headers", "body"}:
        headers, body = document["headers"], document["body"]
    else:
        return None, document
    if not isinstance(headers, dict):
        raise EmitError("the recorded headers are not a JSON object")
    if isinstance(body, str):  # the raw body text: JSON, or form `payload=<urlencoded JSON>`
        form = parse_qs(body).get("payload") if body.startswith("payload=") else None
        try:
            body = json.loads(form[0] if form else body)
        except ValueError:
            raise EmitError("the recorded body is neither JSON nor payload=<JSON>") from None
    if not isinstance(body, dict):
        raise EmitError("the recorded body is not a JSON object")
    event = {str(k).lower(): str(v) for k, v in headers.items()}.get("x-github-event")
    return event, body


def build_delivery(
    hook: Hook, event: str, payload: dict[str, Any], *, delivery_id: str
) -> tuple[dict[str, str], bytes]:
    """Headers (signed when the hook has a secret) and body, exactly as the emulator sends them."""
    action = payload.get("action")
    record = Event(
        event, action if isinstance(action, str) else None, payload, hook.target_id, None,
        guid=delivery_id,
    )  # fmt: skip
    return encode(hook, record)


@click.command()
@click.option(
    "--url", required=True, help="Where to POST the delivery, e.g. http://127.0.0.1:8080/webhook."
)
@click.option(
    "--secret",
    envvar="GITHUB_WEBHOOK_SECRET",
    show_envvar=True,
    default="",
    help="Webhook secret; without one the delivery is unsigned, as GitHub sends it.",
)
@click.option("--event", type=click.Choice(EVENTS), help="Default: workflow_job, or the file's.")
@click.option("--action", type=click.Choice(ACTIONS), default="queued", show_default=True)
@click.option("--labels", default="self-hosted", show_default=True, help="Comma-separated.")
@click.option("--repo", default="octo-org/hello-world", show_default=True, help="OWNER/NAME.")
@click.option("--job-id", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--run-id", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--run-attempt", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--job-name", default="build", show_default=True)
@click.option(
    "--conclusion",
    type=click.Choice(CONCLUSIONS),
    default="success",
    show_default=True,
    help="For --action completed.",
)
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A recorded delivery: a JSON body, or JSON {headers, body}.",
)
@click.option(
    "--content-type",
    type=click.Choice(("json", "form")),
    default="json",
    show_default=True,
    help="json body, or form payload=<urlencoded JSON>.",
)
@click.option("--hook-id", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--delivery-id", help="X-GitHub-Delivery. Default: a random GUID.")
@click.option(
    "--github-url",
    default="https://github.com",
    show_default=True,
    help="Base of the payload's html_url links.",
)
def command(
    url: str,
    secret: str,
    event: str | None,
    action: str,
    labels: str,
    repo: str,
    job_id: int,
    run_id: int,
    run_attempt: int,
    job_name: str,
    conclusion: str,
    from_file: Path | None,
    content_type: str,
    hook_id: int,
    delivery_id: str | None,
    github_url: str,
) -> None:
    """Send ONE signed GitHub webhook delivery to --url and print the response."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise click.BadParameter("must be OWNER/NAME", param_hint="--repo")
    target = Target(repo=repo, github_url=github_url)
    now = time.time()
    config = {"url": url, "content_type": content_type, "insecure_ssl": "0"}
    if secret:
        config["secret"] = secret
    hook = Hook(hook_id, repo, target.repository(now).id, ["workflow_job"], True, config, now, now)
    if from_file is not None:
        recorded_event, payload = read_recorded(from_file.read_text(encoding="utf-8"))
        event = event or recorded_event or ("ping" if "zen" in payload else "workflow_job")
        repository = payload.get("repository")
        if isinstance(repository, dict) and isinstance(repository.get("id"), int):
            hook.target_id = repository["id"]  # X-GitHub-Hook-Installation-Target-ID
    elif (event or "workflow_job") == "ping":
        event, payload = "ping", ping_payload(target, hook=hook, now=now)
    else:
        event = "workflow_job"
        wanted = [label.strip() for label in labels.split(",") if label.strip()]
        payload = workflow_job_payload(
            target, action=action, labels=wanted, job_id=job_id, run_id=run_id,
            run_attempt=run_attempt, job_name=job_name, conclusion=conclusion, now=now,
        )  # fmt: skip
    guid = delivery_id or str(uuid.uuid4())
    headers, body = build_delivery(hook, event, payload, delivery_id=guid)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT)
    except httpx.HTTPError as exc:
        raise EmitError(f"cannot deliver to {url}: {type(exc).__name__}") from None
    click.echo(f"{response.status_code} {response.reason_phrase}")
    click.echo(response.text)
    if not response.is_success:
        raise SystemExit(1)
