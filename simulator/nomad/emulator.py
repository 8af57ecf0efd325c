"""`NomadEmulator`: a backend, its ASGI app and, optionally, a uvicorn server thread."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
from starlette.applications import Starlette

from simulator.control import ControlPlane
from simulator.nomad.drivers import Driver, make_driver
from simulator.nomad.models import NomadBackend
from simulator.nomad.routes import create_app
from simulator.serving import ServerThread


class NomadEmulator:
    """Embedded (`.app`, `.client()`) or served on loopback (`.start()`, `.url`)."""

    def __init__(
        self,
        *,
        driver: str | Driver = "inprocess",
        acl_token: str | None = None,
        acl_enabled: bool = False,
        cpu: int = 4000,
        memory: int = 8192,
        host: str = "127.0.0.1",
        port: int = 0,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.backend = NomadBackend(
            driver=make_driver(driver) if isinstance(driver, str) else driver,
            cpu=cpu,
            memory=memory,
            acl_enabled=acl_enabled,
            acl_token=acl_token,
            base_env=base_env,  # what raw_exec-like tasks inherit (default: this process's)
        )
        self.control = ControlPlane()
        self.app: Starlette = create_app(self.backend, control=self.control)
        self._host, self._port = host, port
        self._server: ServerThread | None = None

    @property
    def url(self) -> str:
        """Base URL of the started server."""
        if self._server is None:
            raise RuntimeError("the emulator is not started; call start() first")
        return self._server.url

    def start(self) -> NomadEmulator:
        """Serve the app with uvicorn in a daemon thread."""
        self._server = ServerThread(self.app, host=self._host, port=self._port).start()
        return self

    def stop(self) -> None:
        """Stop the server (if any) and kill every task."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.backend.shutdown()

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An AsyncClient on the server when started, else in-process through ASGITransport."""
        if self._server is not None:
            return httpx.AsyncClient(base_url=self.url, **kwargs)
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://nomad.sim", **kwargs)

    def __enter__(self) -> NomadEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
