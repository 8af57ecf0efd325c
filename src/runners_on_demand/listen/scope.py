"""The scope a listener serves, read from its config URL as [S] config.go reads it. Pure.

`https://github.com/ORG` is an organization, `https://github.com/OWNER/REPO` a repository. The
REST API is `https://api.github.com` for github.com (and `api.<host>` for `*.ghe.com` and
`github.localhost`), else `<scheme>://<host>/api/v3` (GHES, and the emulator). Enterprise URLs
(`/enterprises/ENT`) are refused: nothing here was tried against an enterprise scale set.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from runners_on_demand.names import is_valid_owner, is_valid_repo_name

__all__ = ["Scope", "parse_config_url"]

# [S] config.go isHostedGitHubURL
_HOSTED = ("github.com", "www.github.com", "github.localhost")


@dataclass(frozen=True)
class Scope:
    """An organization (`repo` None) or a repository, and where its REST API answers."""

    origin: str  # scheme://host[:port] of the config URL
    api_url: str
    owner: str
    repo: str | None = None

    @property
    def url(self) -> str:
        """The config URL, as the service's runner-registration wants it."""
        return self.html_url(self.owner, self.repo)

    @property
    def name(self) -> str:
        """`owner/repo` or `org`, as logs and the service's scope say it."""
        return f"{self.owner}/{self.repo}" if self.repo else self.owner

    @property
    def rest_path(self) -> str:
        """`/repos/{owner}/{repo}` or `/orgs/{org}`, escaped, for the REST calls on this scope."""
        owner = quote(self.owner, safe="")
        if self.repo is None:
            return f"/orgs/{owner}"
        return f"/repos/{owner}/{quote(self.repo, safe='')}"

    def html_url(self, owner: str, repo: str | None) -> str:
        """The web address of a repository (or organization) on this scope's GitHub."""
        return f"{self.origin}/{owner}/{repo}" if repo else f"{self.origin}/{owner}"


def parse_config_url(url: str) -> Scope:
    """The scope of a config URL; ValueError with a one-line reason when it is not one."""
    parts = urlsplit(url.strip().rstrip("/"))
    if "@" in parts.netloc:  # never echoed: a password in it would be logged
        raise ValueError("the config URL must not carry a user or password (user:password@host)")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError(f"{url!r} is not an http(s) URL like https://github.com/ORG[/REPO]")
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) == 2 and segments[0].lower() == "enterprises":
        raise ValueError("enterprise scale sets are not supported: use an org or repository URL")
    if len(segments) not in (1, 2):
        raise ValueError(f"{url!r} must name an organization or a repository (ORG or OWNER/REPO)")
    owner, repo = segments[0], (segments[1] if len(segments) == 2 else None)
    if not is_valid_owner(owner) or (repo is not None and not is_valid_repo_name(repo)):
        raise ValueError(f"{url!r} does not name a GitHub organization or repository")
    host = parts.netloc
    if parts.hostname.lower() in _HOSTED or parts.hostname.lower().endswith(".ghe.com"):
        api_host = "api.github.com" if parts.hostname.lower() == "www.github.com" else f"api.{host}"
        api_url = f"{parts.scheme}://{api_host}"
    else:
        api_url = f"{parts.scheme}://{host}/api/v3"
    return Scope(origin=f"{parts.scheme}://{host}", api_url=api_url, owner=owner, repo=repo)
