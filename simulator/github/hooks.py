"""Webhook operations of the backend (create_hook ... redeliver), as a mixin.

Every operation takes `(owner, repo)` for a repository hook (`/repos/{owner}/{repo}/hooks`) or
`(org, None)` for an organization hook (`/orgs/{org}/hooks`), as the runner operations do.
Facts relied on (github/docs content/rest/webhooks/repos.md, content/rest/orgs/webhooks.md and
the OpenAPI description): `events` defaults to ["push"], `content_type` to `form`,
`insecure_ssl` to "0"; `name` ("web") is required for an org hook only; a ping is sent on
creation; PATCH with a `config` that omits `secret` removes the secret; at most 20 hooks per
event; redelivery reuses the event's GUID and answers 202. An org hook gets the events of every
repository of the org, with target type `organization` and the org's id.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from simulator.github import representations as rep
from simulator.github.errors import NotFound, ValidationFailed
from simulator.github.webhooks import Deliverer, Delivery, Event, Hook

if TYPE_CHECKING:
    from simulator.clock import Clock
    from simulator.github.representations import Account, Repo, Urls

MAX_HOOKS_PER_EVENT = 20
CONTENT_TYPES = ("json", "form")
ZEN = "Keep it logically awesome."


def _hook_error(message: str) -> ValidationFailed:
    return ValidationFailed(errors=[{"resource": "Hook", "code": "custom", "message": message}])


class HookOperations:
    """create_hook, list_hooks, get_hook, update_hook, delete_hook, ping_hook, deliveries."""

    lock: threading.RLock
    clock: Clock
    hooks: dict[int, Hook]
    repos: dict[str, Repo]
    accounts: dict[str, Account]
    deliverer: Deliverer
    user: Account
    _hook_ids: int

    if TYPE_CHECKING:

        @property
        def urls(self) -> Urls: ...
        def get_repo(self, owner: str, repo: str) -> Repo: ...
        def get_org(self, org: str) -> Account: ...
        def _envelope(self, payload: dict[str, Any], repo: Repo) -> dict[str, Any]: ...
        def _installation_of(self, account: Account) -> int | None: ...

    @staticmethod
    def _config(config: Any) -> dict[str, str]:
        if not isinstance(config, dict) or not isinstance(config.get("url"), str):
            raise _hook_error("Config must contain URL")
        url = urlsplit(config["url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            raise _hook_error("Config url is not a valid http or https URL")
        content_type = str(config.get("content_type") or "form")
        if content_type not in CONTENT_TYPES:
            raise _hook_error(f"Config content_type must be json or form, not {content_type}")
        clean = {
            "url": config["url"],
            "content_type": content_type,
            "insecure_ssl": str(config.get("insecure_ssl", "0")),
        }
        if config.get("secret"):
            clean["secret"] = str(config["secret"])
        return clean

    def _hook_target(self, owner: str, repo: str | None) -> tuple[str, str, int]:
        """(scope, target type, target id) of a repository, or of an org when `repo` is None."""
        if repo is None:
            org = self.get_org(owner)
            return org.login, "organization", org.id
        found = self.get_repo(owner, repo)
        return found.full_name, "repository", found.id

    def create_hook(
        self,
        owner: str,
        repo: str | None,
        *,
        config: Any,
        events: list[str] | None = None,
        active: bool = True,
        name: str | None = None,
    ) -> Hook:
        """A new hook (201), pinged at once."""
        with self.lock:
            scope, kind, target_id = self._hook_target(owner, repo)
            if name is None and kind == "organization":
                raise ValidationFailed('Invalid request.\n\n"name" wasn\'t supplied.')
            if (name or "web") != "web":
                raise _hook_error("Name must be web")
            clean = self._config(config)
            wanted = list(events) if events is not None else ["push"]
            mine = [h for h in self.hooks.values() if h.scope == scope]
            for hook in mine:
                if hook.config["url"] == clean["url"] and set(hook.events) & set(wanted):
                    raise _hook_error(f"Hook already exists on this {kind}")
            for event in wanted:
                if sum(event in h.events for h in mine) >= MAX_HOOKS_PER_EVENT:
                    raise _hook_error(f'The "{event}" event cannot have more than 20 hooks')
            self._hook_ids += 1
            now = self.clock.now()
            hook = Hook(self._hook_ids, scope, target_id, wanted, active, clean, now, now, kind)
            self.hooks[hook.id] = hook
            self._ping(hook)
            return hook

    def _ping(self, hook: Hook) -> None:
        payload: dict[str, Any] = {
            "zen": ZEN,
            "hook_id": hook.id,
            "hook": hook.to_json(self.urls.api),
        }
        if hook.target_type == "repository":
            repo = self.repos[hook.scope]
            payload, repo_id, account = self._envelope(payload, repo), repo.id, repo.owner
        else:  # an org hook's ping carries the organization and no repository
            account, repo_id = self.accounts[hook.scope], None
            payload["organization"] = rep.organization(account, self.urls)
            payload["sender"] = rep.user(self.user, self.urls)
        event = Event("ping", None, payload, repo_id, self._installation_of(account))
        self.deliverer.deliver(hook, event)

    def list_hooks(self, owner: str, repo: str | None) -> list[Hook]:
        """Hooks of a repository or an organization."""
        with self.lock:
            scope = self._hook_target(owner, repo)[0]
            return [h for h in self.hooks.values() if h.scope == scope]

    def get_hook(self, owner: str, repo: str | None, hook_id: int) -> Hook:
        """One hook; 404 if unknown."""
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None or hook.scope != self._hook_target(owner, repo)[0]:
                raise NotFound()
            return hook

    def update_hook(
        self,
        owner: str,
        repo: str | None,
        hook_id: int,
        *,
        config: Any = None,
        events: list[str] | None = None,
        add_events: list[str] | None = None,
        remove_events: list[str] | None = None,
        active: bool | None = None,
    ) -> Hook:
        """PATCH: a given `config` replaces the old one, so an omitted secret is removed."""
        with self.lock:
            hook = self.get_hook(owner, repo, hook_id)
            clean = self._config(config) if config is not None else hook.config
            new_events = list(events) if events is not None else list(hook.events)
            new_events += [e for e in add_events or [] if e not in new_events]
            new_events = [e for e in new_events if e not in (remove_events or [])]
            hook.config, hook.events = clean, new_events
            if active is not None:
                hook.active = active
            hook.updated_at = self.clock.now()
            return hook

    def delete_hook(self, owner: str, repo: str | None, hook_id: int) -> None:
        """Remove a hook."""
        with self.lock:
            del self.hooks[self.get_hook(owner, repo, hook_id).id]

    def ping_hook(self, owner: str, repo: str | None, hook_id: int) -> None:
        """Send a ping delivery."""
        with self.lock:
            self._ping(self.get_hook(owner, repo, hook_id))

    def list_deliveries(
        self, owner: str, repo: str | None, hook_id: int, *, status: str | None = None
    ) -> list[Delivery]:
        """A hook's deliveries, newest first; `status` is success or failure."""
        with self.lock:
            hook = self.get_hook(owner, repo, hook_id)
        deliveries = self.deliverer.for_hook(hook.id)
        if status == "success":
            return [d for d in deliveries if d.status == "OK"]
        if status == "failure":
            return [d for d in deliveries if d.status not in ("OK", "pending")]
        return deliveries

    def get_delivery(
        self, owner: str, repo: str | None, hook_id: int, delivery_id: int
    ) -> Delivery:
        """One delivery with its request and response."""
        with self.lock:
            hook = self.get_hook(owner, repo, hook_id)
        delivery = self.deliverer.find(delivery_id)
        if delivery is None or delivery.hook_id != hook.id:
            raise NotFound()
        return delivery

    def redeliver(self, owner: str, repo: str | None, hook_id: int, delivery_id: int) -> Delivery:
        """Send a delivery's event again, with the same GUID and `redelivery: true`."""
        original = self.get_delivery(owner, repo, hook_id, delivery_id)
        with self.lock:
            hook = self.get_hook(owner, repo, hook_id)
            return self.deliverer.deliver(hook, original.event, redelivery=True)
