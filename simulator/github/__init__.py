"""GitHub emulator: REST API, Actions job queue, signed webhook deliveries."""

from simulator.github.models import GitHubBackend
from simulator.github.routes import create_app
from simulator.github.server import GitHubEmulator

__all__ = ["GitHubBackend", "GitHubEmulator", "create_app"]
