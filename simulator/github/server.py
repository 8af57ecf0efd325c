"""`GitHubEmulator`: a backend, its app, and (optionally) a real server on a loopback port."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from starlette.applications import Starlette

from simulator.control import ControlPlane
from simulator.github.models import GitHubBackend
from simulator.github.routes import create_app
from simulator.serving import ServerThread


class GitHubEmulator:
    """The GitHub emulator for tests and the demo: in-process `app`, or `start()` a server."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **backend_args: Any) -> None:
        self.control = ControlPlane()
        self.backend = GitHubBackend(**backend_args)
        self.app: Starlette = create_app(self.backend, self.control)
        # The edge sends `Date` by the backend's clock, as x-ratelimit-reset is.
        self._server = ServerThread(self.app, host=host, port=port, date_header=False)
        self.backend.base_url = self._server.url
        self._started = False

    @property
    def url(self) -> str:
        """Base URL of the emulator (valid before `start()`; reachable after it)."""
        return self._server.url

    def start(self) -> GitHubEmulator:
        """Serve on the loopback port."""
        self._server.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server and the webhook deliverer."""
        if self._started:
            self._server.stop()
            self._started = False
        self.backend.close()

    def __enter__(self) -> GitHubEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
