"""The dispatcher's two outbound ports: GitHub's runner API and Nomad's dispatch API."""

from runners_on_demand.ports.github import AppAuth, GitHubRunners, PatAuth, RunnerExists
from runners_on_demand.ports.nomad import DispatchResult, NomadJobs

__all__ = [
    "AppAuth",
    "DispatchResult",
    "GitHubRunners",
    "NomadJobs",
    "PatAuth",
    "RunnerExists",
]
