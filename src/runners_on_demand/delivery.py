"""Sans-I/O webhook intake: raw bytes and headers in, a verified typed delivery (or an error) out.

A `workflow_job` delivery becomes the pipeline's `WorkflowJobEvent` (events.py), keyed by hook id
and delivery GUID.

No network, clock or environment here (gidgethub `sansio.Event.from_http` is the model). The
edge caps the body size before calling `parse_delivery`; the rest of the checks happen here.
A valid payload is read by `payload.read` (only the fields needed, by msgspec); anything it does
not take goes through the standard path below (json.loads, then field by field), whose checks
and error texts are the only ones.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from sys import intern
from typing import Any, ClassVar, TypeVar, overload
from urllib.parse import parse_qs

from runners_on_demand.errors import ConfigError, MalformedDelivery, SignatureMismatch
from runners_on_demand.events import Intake, Origin, WorkflowJobEvent
from runners_on_demand.names import MAX_ATTEMPT, MAX_ID, is_valid_full_name

try:
    from runners_on_demand import payload
except ImportError:  # no msgspec wheel for this platform: every delivery takes the standard path
    payload = None  # type: ignore[assignment]

__all__ = [
    "Delivery",
    "DeliveryHeaders",
    "OtherEvent",
    "Ping",
    "parse_delivery",
    "verify_signature",
]

T = TypeVar("T")


def verify_signature(body: bytes, signature_256: str | None, *, secret: str) -> None:
    """Raise `SignatureMismatch` unless `signature_256` is `sha256=` + HMAC-SHA256(secret, body)."""
    # https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
    if not secret:
        raise ConfigError(["the webhook secret is empty; refusing every delivery"])
    if not signature_256:
        raise SignatureMismatch("missing X-Hub-Signature-256 header")
    algorithm, sep, provided = signature_256.strip().partition("=")
    if sep != "=" or algorithm.lower() != "sha256":
        raise SignatureMismatch("X-Hub-Signature-256 must look like sha256=<hex>")
    expected = hmac.digest(secret.encode(), body, "sha256").hex()  # the one-shot C path
    if not provided.isascii() or not hmac.compare_digest(expected, provided.lower()):
        raise SignatureMismatch("X-Hub-Signature-256 does not match the body")


@dataclass(frozen=True)
class Ping:
    """A `ping` delivery: sent when a hook is created or pinged; answer 2xx."""

    event: ClassVar[str] = "ping"
    delivery_id: str
    hook_id: str | None


@dataclass(frozen=True)
class OtherEvent:
    """A signed delivery of an event we do not act on; answer 2xx and ignore it."""

    event: str
    delivery_id: str
    hook_id: str | None


Delivery = Ping | OtherEvent | WorkflowJobEvent


def parse_delivery(
    headers: Mapping[str, str] | DeliveryHeaders, body: bytes, *, secret: str
) -> Delivery:
    """Verify the signature, then turn a delivery into a `Delivery`; raise a `BadDelivery`.

    `headers.items()` may repeat a name (Starlette's `Headers` does): a header read here that
    comes twice is refused, since one copy would be checked and another believed.
    """
    # https://docs.github.com/webhooks/webhook-events-and-payloads#delivery-headers
    if not isinstance(headers, DeliveryHeaders):
        headers = DeliveryHeaders(headers.items())
    lowered = headers.checked("x-hub-")
    signature = lowered.get("x-hub-signature-256")
    if not signature and lowered.get("x-hub-signature"):
        raise SignatureMismatch("only a SHA-1 X-Hub-Signature was sent; X-Hub-Signature-256 needed")
    verify_signature(body, signature, secret=secret)
    headers.checked()  # the other repeats, once signed: the edge then trusts X-GitHub-Event
    event = lowered.get("x-github-event", "").strip()
    if not event:
        raise MalformedDelivery("missing X-GitHub-Event header")
    delivery_id = lowered.get("x-github-delivery", "").strip()
    if not delivery_id:
        raise MalformedDelivery("missing X-GitHub-Delivery header")
    hook_id = lowered.get("x-github-hook-id", "").strip() or None
    if event == "ping":
        return Ping(delivery_id=delivery_id, hook_id=hook_id)
    if event != "workflow_job":
        return OtherEvent(event=event, delivery_id=delivery_id, hook_id=hook_id)
    origin = Origin(Intake.WEBHOOK, f"{hook_id or '-'}/{delivery_id}")
    text = _json_text(lowered.get("content-type"), body)
    fields = payload.read(text) if payload is not None else None
    if fields is not None:
        return _event(fields, origin)
    return _workflow_job(_json_object(text), origin)


# The delivery headers read here; GitHub sends each once.
_READ = ("x-hub-signature-256", "x-hub-signature", "x-github-event", "x-github-delivery",
         "x-github-hook-id", "content-type")  # fmt: skip
# Those, and the one the edge reads before the body (its first copy counts, as h11's).
_KEPT = frozenset((*_READ, "content-length"))
_KEPT_RAW = {name.encode(): name for name in _KEPT}


class DeliveryHeaders:
    """The headers read here (and Content-Length) by lower-case name, and any sent twice."""

    __slots__ = ("_repeated", "_values")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        self._repeated: tuple[str, ...] = ()
        for name, value in pairs:
            key = name.lower()
            if key in _KEPT:
                self._keep(key, value)

    @classmethod
    def of(cls, raw: Iterable[tuple[bytes, bytes]]) -> DeliveryHeaders:
        """From an ASGI scope's `headers` (lower-case names, as the ASGI spec requires)."""
        headers = cls(())
        for name, value in raw:
            key = _KEPT_RAW.get(name)
            if key is not None:
                headers._keep(key, value.decode("latin-1"))
        return headers

    def _keep(self, key: str, value: str) -> None:
        if key not in self._values:
            self._values[key] = value
        elif key in _READ and key not in self._repeated:
            self._repeated += (key,)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name` (lower case), or `default`."""
        return self._values.get(name, default)

    def checked(self, prefix: str = "") -> dict[str, str]:
        """Lower-case name -> value; a header read here (named `prefix`...) that came twice is
        refused."""
        for key in self._repeated:
            if key.startswith(prefix):
                shown = "-".join(part.capitalize() for part in key.split("-"))
                error = SignatureMismatch if key.startswith("x-hub-") else MalformedDelivery
                raise error(f"{shown} header sent more than once")
        return self._values


def _json_text(content_type: str | None, body: bytes) -> str:
    """The JSON text of a `json` or `form` (`payload=<json>`) delivery body."""
    # https://docs.github.com/webhooks/using-webhooks/creating-webhooks (content type)
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedDelivery("body is not UTF-8") from None
    if media_type == "application/x-www-form-urlencoded":
        try:
            values = parse_qs(text, keep_blank_values=True, strict_parsing=True).get("payload", [])
        except ValueError:
            raise MalformedDelivery(
                "form body is not valid application/x-www-form-urlencoded"
            ) from None
        if len(values) != 1:
            raise MalformedDelivery("form body must carry exactly one payload field")
        text = values[0]
    elif media_type != "application/json":
        shown = media_type or "none"
        raise MalformedDelivery(f"unsupported Content-Type {shown!r}; use application/json")
    return text


def _json_object(text: str) -> dict[str, Any]:
    """The JSON object in `text`."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise MalformedDelivery(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise MalformedDelivery("body is nested too deeply") from None
    if not isinstance(document, dict):
        raise MalformedDelivery("body must be a JSON object")
    return document


def _event(fields: payload.Fields, origin: Origin) -> WorkflowJobEvent:
    """The event from fields `payload.read` decoded and checked as `_workflow_job` does.

    The jobs of a burst share their repository, workflow, labels and states, and each queued
    runner keeps its event until it is dispatched: with those strings interned (`sys.intern`,
    freed with their last user), a waiting runner holds about 1,100 bytes instead of 1,700
    (README, Performance).
    """
    job, repository = fields.workflow_job, fields.repository
    full_name = intern(repository.full_name)
    owner, _, name = full_name.partition("/")
    installation = fields.installation
    return WorkflowJobEvent(
        origin=origin,
        action=intern(fields.action),
        job_id=job.id,
        run_id=job.run_id,
        run_attempt=job.run_attempt,
        job_name=intern(job.name),
        workflow_name=_interned(job.workflow_name),
        labels=tuple(map(intern, job.labels)),
        status=intern(job.status),
        conclusion=job.conclusion,
        runner_id=job.runner_id or None,
        runner_name=job.runner_name or None,
        repo_full_name=full_name,
        repo_owner=intern(owner),
        repo_name=intern(name),
        repo_html_url=intern(repository.html_url),
        fork=repository.fork,
        installation_id=installation.id if installation is not None else None,
        repo_private=repository.private,
    )


def _workflow_job(document: dict[str, Any], origin: Origin) -> WorkflowJobEvent:
    """Extract and check the fields of a `workflow_job` payload."""
    repository = _field(document, "repository", dict, "repository")
    full_name = intern(_field(repository, "full_name", str, "repository.full_name"))
    if not is_valid_full_name(full_name):
        raise MalformedDelivery("repository.full_name is not a valid owner/name")
    owner, _, name = full_name.partition("/")
    html_url = _field(repository, "html_url", str, "repository.html_url")
    if not html_url.startswith(("https://", "http://")):
        raise MalformedDelivery("repository.html_url is not an http(s) URL")
    job = _field(document, "workflow_job", dict, "workflow_job")
    labels = _field(job, "labels", list, "workflow_job.labels")
    if not all(isinstance(label, str) for label in labels):
        raise MalformedDelivery("workflow_job.labels must be a list of strings")
    installation = document.get("installation")
    installation_id = None
    if isinstance(installation, dict):
        installation_id = _optional_int(installation, "id", "installation.id")
    return WorkflowJobEvent(  # with the strings interned, as `_event` has them
        origin=origin,
        action=intern(_field(document, "action", str, "action")),
        job_id=_positive_int(job, "id", "workflow_job.id"),
        run_id=_positive_int(job, "run_id", "workflow_job.run_id"),
        run_attempt=_positive_int(job, "run_attempt", "workflow_job.run_attempt", MAX_ATTEMPT),
        job_name=intern(_field(job, "name", str, "workflow_job.name")),
        workflow_name=_interned(_optional(job, "workflow_name", str, "workflow_job.workflow_name")),
        labels=tuple(map(intern, labels)),
        status=intern(_field(job, "status", str, "workflow_job.status")),
        conclusion=_optional(job, "conclusion", str, "workflow_job.conclusion"),
        # A job no runner took has null runner fields; REST has shown 0 (actions/runner#4684).
        runner_id=_optional_int(job, "runner_id", "workflow_job.runner_id") or None,
        runner_name=_optional(job, "runner_name", str, "workflow_job.runner_name") or None,
        repo_full_name=full_name,
        repo_owner=intern(owner),
        repo_name=intern(name),
        repo_html_url=intern(html_url),
        fork=_field(repository, "fork", bool, "repository.fork"),
        installation_id=installation_id,
        repo_private=_optional(repository, "private", bool, "repository.private"),
    )


def _interned(value: str | None) -> str | None:
    """`value` interned; None as it is."""
    return None if value is None else intern(value)


def _field(parent: dict[str, Any], key: str, kind: type[T], path: str) -> T:
    """`parent[key]`, which must be present and of type `kind`."""
    if key not in parent:
        raise MalformedDelivery(f"{path} is missing")
    value = parent[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise MalformedDelivery(f"{path} must be {_KIND_NAMES.get(kind, kind.__name__)}")
    return value


def _optional(parent: dict[str, Any], key: str, kind: type[T], path: str) -> T | None:
    """`parent[key]` of type `kind`, or None when absent or null."""
    if parent.get(key) is None:
        return None
    return _field(parent, key, kind, path)


def _positive_int(parent: dict[str, Any], key: str, path: str, most: int = MAX_ID) -> int:
    """`parent[key]`, an integer from 1 to `most` (GitHub's own range)."""
    value = _field(parent, key, int, path)
    if not 1 <= value <= most:
        raise MalformedDelivery(f"{path} must be an integer from 1 to {most}")
    return value


def _optional_int(parent: dict[str, Any], key: str, path: str) -> int | None:
    """`parent[key]` as an integer up to GitHub's 64 bits; None for absent, null or ""."""
    if parent.get(key) in (None, ""):
        return None
    value = _field(parent, key, int, path)
    if not 0 <= value <= MAX_ID:
        raise MalformedDelivery(f"{path} must be an integer from 0 to {MAX_ID}")
    return value


_KIND_NAMES: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    bool: "true or false",
}
