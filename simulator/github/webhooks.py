"""Webhooks: repository and organization hooks, signing, and asynchronous delivery with a
deliveries log and redelivery.

Facts relied on (github/docs content/webhooks/...):
- `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` and the legacy SHA-1
  `X-Hub-Signature`, both only when a secret is set (validating-webhook-deliveries.md);
- one `X-GitHub-Delivery` GUID per event, shared by every hook and every redelivery;
- `content_type` `form` (the API default) posts `payload=<urlencoded JSON>`;
- a 2xx within 10 s is success; anything else fails, and GitHub never retries by itself
  (handling-failed-webhook-deliveries.md).
Deliveries run on one background thread with its own asyncio loop, in order per hook, unless a
fault (drop, duplicate, delay, reorder) says otherwise. Unlike GitHub, loopback URLs are allowed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from simulator.github.representations import iso

DELIVERY_TIMEOUT = 10.0
USER_AGENT = "GitHub-Hookshot/5e1ba6c"
FAULT_MODES = ("drop", "duplicate", "delay", "reorder")


def sign(secret: str, body: bytes) -> tuple[str, str]:
    """(`X-Hub-Signature-256`, `X-Hub-Signature`) values for `body`."""
    key = secret.encode()
    sha256 = hmac.new(key, body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(key, body, hashlib.sha1).hexdigest()
    return f"sha256={sha256}", f"sha1={sha1}"


@dataclass
class Hook:
    """A repository webhook (`scope` owner/name) or an organization webhook (`scope` the org)."""

    id: int
    scope: str
    target_id: int  # X-GitHub-Hook-Installation-Target-ID: the repository's or the org's id
    events: list[str]
    active: bool
    config: dict[str, str]
    created_at: float
    updated_at: float
    target_type: str = "repository"  # or "organization"
    last_response: dict[str, Any] = field(
        default_factory=lambda: {"code": None, "status": "unused", "message": None}
    )

    def wants(self, event: str) -> bool:
        """True when this active hook subscribes to `event` (or to `*`)."""
        return self.active and (event in self.events or "*" in self.events)

    def covers(self, full_name: str) -> bool:
        """True when events of repository `full_name` reach this hook (an org's: all of them)."""
        if self.target_type == "organization":
            return full_name.partition("/")[0] == self.scope
        return full_name == self.scope

    def to_json(self, api: str) -> dict[str, Any]:
        """hook or org-hook, with the secret masked as GitHub masks it."""
        org = self.target_type == "organization"
        url = f"{api}/{'orgs' if org else 'repos'}/{self.scope}/hooks/{self.id}"
        config = {k: v for k, v in self.config.items() if k != "secret"}
        if self.config.get("secret"):
            config["secret"] = "********"
        body: dict[str, Any] = {
            "type": "Organization" if org else "Repository",
            "id": self.id,
            "name": "web",
            "active": self.active,
            "events": list(self.events),
            "config": config,
            "updated_at": iso(self.updated_at),
            "created_at": iso(self.created_at),
            "url": url,
            "ping_url": f"{url}/pings",
            "deliveries_url": f"{url}/deliveries",
        }
        if not org:  # org-hook has neither (OpenAPI `org-hook`)
            body["test_url"] = f"{url}/test"
            body["last_response"] = dict(self.last_response)
        return body


@dataclass
class Event:
    """One event: its GUID is shared by every hook and every redelivery."""

    name: str
    action: str | None
    payload: dict[str, Any]
    repository_id: int | None
    installation_id: int | None
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Delivery:
    """One attempt to deliver an event to a hook, as the deliveries log shows it."""

    id: int
    hook_id: int
    event: Event
    redelivery: bool
    delivered_at: float
    url: str = ""
    status: str = "pending"
    status_code: int = 0
    duration: float = 0.0
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    sent_at: float | None = None  # wall-clock time the POST began (control plane only)

    def item(self) -> dict[str, Any]:
        """hook-delivery-item."""
        return {
            "id": self.id,
            "guid": self.event.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event.name,
            "action": self.event.action,
            "installation_id": self.event.installation_id,
            "repository_id": self.event.repository_id,
            "throttled_at": None,
        }

    def state(self) -> dict[str, Any]:
        """(control plane) The item plus its hook, URL, the job it is about, when it was logged
        (emulated clock) and sent (wall clock)."""
        job = self.event.payload.get("workflow_job") or {}
        return {
            **self.item(),
            "hook_id": self.hook_id,
            "url": self.url,
            "job_id": job.get("id"),
            "logged_at": self.delivered_at,
            "sent_at": self.sent_at,
        }

    def detail(self) -> dict[str, Any]:
        """hook-delivery: the item plus the request and response."""
        return {
            **self.item(),
            "url": self.url,
            "request": {"headers": self.request_headers, "payload": self.event.payload},
            "response": {"headers": self.response_headers, "payload": self.response_body},
        }


@dataclass
class WebhookFault:
    """The next `count` deliveries are dropped, duplicated, delayed or reordered.

    A duplicated delivery is sent `copies` times in all (2: the original and one duplicate).
    """

    mode: str
    count: int = 1
    delay_seconds: float = 1.0
    copies: int = 2


def encode(hook: Hook, event: Event) -> tuple[dict[str, str], bytes]:
    """Headers and body of one delivery of `event` to `hook`."""
    raw = json.dumps(event.payload, separators=(",", ":"))
    if hook.config.get("content_type") == "json":
        body, content_type = raw.encode(), "application/json"
    else:
        body, content_type = (
            urlencode({"payload": raw}).encode(),
            "application/x-www-form-urlencoded",
        )
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": content_type,
        "X-GitHub-Event": event.name,
        "X-GitHub-Delivery": event.guid,
        "X-GitHub-Hook-ID": str(hook.id),
        "X-GitHub-Hook-Installation-Target-Type": hook.target_type,
        "X-GitHub-Hook-Installation-Target-ID": str(hook.target_id),
    }
    secret = hook.config.get("secret")
    if secret:
        headers["X-Hub-Signature-256"], headers["X-Hub-Signature"] = sign(secret, body)
    return headers, body


class Deliverer:
    """Sends deliveries from a background thread; keeps the log; applies webhook faults."""

    def __init__(
        self,
        now: Callable[[], float],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DELIVERY_TIMEOUT,
    ) -> None:
        self.now = now
        self.transport = transport
        self.timeout = timeout
        self.log: list[Delivery] = []
        self.faults: list[WebhookFault] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._held: dict[int, tuple[Hook, Delivery]] = {}
        self._queues: dict[int, asyncio.Queue[tuple[Hook, Delivery]]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hookshot", daemon=True)
        self._thread.start()
        self._client: httpx.AsyncClient | None = None

    # --- called from the backend, any thread ----------------------------------------------

    def add_fault(self, fault: WebhookFault) -> None:
        """Queue a webhook fault; faults apply in order to the next deliveries."""
        if fault.mode not in FAULT_MODES or fault.count < 1 or fault.delay_seconds < 0:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}; count >= 1")
        if not 2 <= fault.copies <= 10:
            raise ValueError("copies must be from 2 to 10")
        with self._lock:
            self.faults.append(fault)

    def deliver(self, hook: Hook, event: Event, *, redelivery: bool = False) -> Delivery:
        """Log and send one delivery (asynchronously); returns its log record."""
        with self._lock:
            fault = self._take_fault()
            delivery = self._record(hook, event, redelivery)
            if fault is not None and fault.mode == "drop":
                delivery.status = "Dropped by simulator fault"
                return delivery
            copies = [delivery]
            if fault is not None and fault.mode == "duplicate":
                copies += [self._record(hook, event, redelivery) for _ in range(fault.copies - 1)]
            self._pending += len(copies)
        for copy in copies:
            self._loop.call_soon_threadsafe(self._schedule, hook, copy, fault)
        return delivery

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every scheduled delivery has finished; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Cancel what is still pending and stop the delivery thread."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def clear(self) -> None:
        """Forget the log and every pending fault (deliveries in flight still finish)."""
        with self._lock:
            self.log.clear()
            self.faults.clear()

    def find(self, delivery_id: int) -> Delivery | None:
        """One logged delivery."""
        with self._lock:
            return next((d for d in self.log if d.id == delivery_id), None)

    def for_hook(self, hook_id: int) -> list[Delivery]:
        """A hook's deliveries, newest first, as GitHub lists them."""
        with self._lock:
            return [d for d in reversed(self.log) if d.hook_id == hook_id]

    def _take_fault(self) -> WebhookFault | None:
        for fault in self.faults:
            if fault.count > 0:
                fault.count -= 1
                return fault
        return None

    def _record(self, hook: Hook, event: Event, redelivery: bool) -> Delivery:
        """Log a delivery, encoded with the hook's config as it is now."""
        delivery = Delivery(len(self.log) + 1, hook.id, event, redelivery, self.now())
        delivery.url = hook.config["url"]
        headers, body = encode(hook, event)
        delivery.request_headers, delivery.request_body = headers, body.decode()
        self.log.append(delivery)
        return delivery

    # --- on the delivery loop ---------------------------------------------------------------

    def _schedule(self, hook: Hook, delivery: Delivery, fault: WebhookFault | None) -> None:
        mode = fault.mode if fault else None
        if mode == "delay":
            assert fault is not None
            self._loop.create_task(self._later(hook, delivery, fault.delay_seconds))
        elif mode == "reorder":
            assert fault is not None
            self._held[hook.id] = (hook, delivery)
            self._loop.call_later(fault.delay_seconds, self._release, hook.id, delivery)
        else:
            self._queue(hook).put_nowait((hook, delivery))
            self._release(hook.id, None)  # a held delivery goes after the one that overtook it

    def _release(self, hook_id: int, only: Delivery | None) -> None:
        held = self._held.get(hook_id)
        if held is not None and only in (None, held[1]):
            del self._held[hook_id]
            self._queue(held[0]).put_nowait(held)

    def _queue(self, hook: Hook) -> asyncio.Queue[tuple[Hook, Delivery]]:
        queue = self._queues.get(hook.id)
        if queue is None:
            queue = self._queues[hook.id] = asyncio.Queue()
            self._loop.create_task(self._worker(queue))
        return queue

    async def _later(self, hook: Hook, delivery: Delivery, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._send(hook, delivery)

    async def _worker(self, queue: asyncio.Queue[tuple[Hook, Delivery]]) -> None:
        while True:
            hook, delivery = await queue.get()
            await self._send(hook, delivery)

    async def _send(self, hook: Hook, delivery: Delivery) -> None:
        try:
            await self._post(hook, delivery)
        except Exception as exc:  # one broken delivery must not stop the hook's queue
            delivery.status = f"simulator error: {type(exc).__name__}"
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    async def _post(self, hook: Hook, delivery: Delivery) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout)
        started = time.monotonic()
        delivery.sent_at = time.time()
        try:
            response = await self._client.post(
                delivery.url,
                content=delivery.request_body.encode(),
                headers=delivery.request_headers,
            )
        except httpx.TimeoutException:
            delivery.status, delivery.status_code = "timed out", 0
        except (httpx.HTTPError, httpx.InvalidURL, ValueError):
            delivery.status, delivery.status_code = "failed to connect to host", 0
        else:
            delivery.status_code = response.status_code
            delivery.response_headers = dict(response.headers)
            delivery.response_body = response.text
            ok = 200 <= response.status_code < 300
            delivery.status = "OK" if ok else f"Invalid HTTP Response: {response.status_code}"
        delivery.duration = time.monotonic() - started
        hook.last_response = {
            "code": delivery.status_code or None,
            "status": "active" if delivery.status == "OK" else "failed",
            "message": delivery.status,
        }
