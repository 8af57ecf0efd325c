"""`rod sim github`: serve the GitHub emulator on a port."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from runners_on_demand.serve import can_listen
from simulator.github.errors import GitHubSimError
from simulator.github.scaleset_host import ScaleSetSettings
from simulator.github.secondary import SecondarySettings
from simulator.github.server import GitHubEmulator


def _public_key(path: Path) -> str:
    """The PEM public key of a private (or public) key file."""
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise click.BadParameter(f"{path}: not a PEM RSA key") from exc
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535))
@click.option("--repo", "repos", multiple=True, metavar="OWNER/NAME", help="Repeatable.")
@click.option("--org", "orgs", multiple=True, metavar="LOGIN", help="An organization (repeatable).")
@click.option("--token", envvar="GITHUB_TOKEN", required=True, help="Token the API accepts.")
@click.option("--webhook-url", help="Create a workflow_job hook (JSON) on every repo.")
@click.option("--webhook-secret", envvar="GITHUB_WEBHOOK_SECRET", help="Secret of that hook.")
@click.option("--app-id", type=int, help="GitHub App ID whose JWTs are accepted.")
@click.option(
    "--app-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The App's private (or public) key, PEM.",
)
@click.option(
    "--rate-limit",
    default=5000,
    show_default=True,
    type=click.IntRange(1),
    help="Requests per hour.",
)
@click.option(
    "--jit-timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Seconds before an unconnected JIT runner is removed.",
)
@click.option(
    "--scaleset-poll-hold",
    default=50.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Seconds a scale set's message poll is held before 202.",
)
@click.option(
    "--scaleset-session-timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Seconds after which a scale set session nobody polls is gone.",
)
@click.option(
    "--secondary-limits",
    is_flag=True,
    help="Enforce GitHub's secondary rate limits (900 points/min per endpoint, 100 at once).",
)
def command(
    host: str,
    port: int,
    repos: tuple[str, ...],
    orgs: tuple[str, ...],
    token: str,
    webhook_url: str | None,
    webhook_secret: str | None,
    app_id: int | None,
    app_key_file: Path | None,
    rate_limit: int,
    jit_timeout: float,
    scaleset_poll_hold: float,
    scaleset_session_timeout: float,
    secondary_limits: bool,
) -> None:
    """Serve the GitHub emulator (REST API, scale set service, runner API, webhooks, /_sim)."""
    if (app_id is None) != (app_key_file is None):
        raise click.UsageError("--app-id and --app-key-file go together")
    problem = can_listen(host, port)
    if problem:
        raise click.UsageError(f"cannot listen on {host}:{port} (--host/--port): {problem}")
    try:
        emulator = GitHubEmulator(
            host=host,
            port=port,
            repos=repos,
            orgs=orgs,
            tokens=[token],
            rate_limit=rate_limit,
            app_id=app_id,
            app_public_key=_public_key(app_key_file) if app_key_file else None,
            jit_connect_timeout=jit_timeout,
            scaleset=ScaleSetSettings(
                poll_hold=scaleset_poll_hold, session_timeout=scaleset_session_timeout
            ),
            secondary=SecondarySettings(enabled=secondary_limits),
        )
        if webhook_url:
            config = {"url": webhook_url, "content_type": "json", "secret": webhook_secret or ""}
            for full_name in repos:
                owner, name = full_name.split("/", 1)
                emulator.backend.create_hook(owner, name, config=config, events=["workflow_job"])
    except GitHubSimError as exc:
        raise click.UsageError(exc.message) from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator.start()
    click.echo(f"GitHub emulator on {emulator.url} for {', '.join(repos) or 'no repos yet'}")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
