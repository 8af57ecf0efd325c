"""The dispatcher's two outbound ports (protocols) and the results they share.

The httpx adapters live in `ports.github` (`GitHubHttp`) and `ports.nomad` (`NomadHttp`).
"""

from runners_on_demand.ports.protocols import (
    DispatchResult,
    GitHubPort,
    NomadPort,
    Removal,
    RunnerExists,
    Variable,
    VariableConflict,
    VariableMeta,
)

__all__ = [
    "DispatchResult",
    "GitHubPort",
    "NomadPort",
    "Removal",
    "RunnerExists",
    "Variable",
    "VariableConflict",
    "VariableMeta",
]
