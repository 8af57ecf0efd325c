"""One exception tree for the fake runner; each error carries its exit code and says whose fault.

    RunnerError              exit 1
    ├── BadInput             exit 2   the launcher's: no credential, malformed payload or JIT config
    ├── CredentialRejected   exit 3   the server refused the credential (unknown, used or expired)
    ├── ServerUnavailable    exit 4   the runner API could not be reached, or answered an error
    ├── NoJobOffered         exit 5   no job within the give-up time
    └── Terminated           exit 143 SIGTERM or SIGINT (128 + 15, as a shell reports it)

Messages are one line and never contain a credential.
"""

from __future__ import annotations


class RunnerError(Exception):
    """Base of every error the fake runner reports; `exit_code` is what the process returns."""

    exit_code = 1


class BadInput(RunnerError):
    """No usable credential: missing or malformed payload, JIT config or environment."""

    exit_code = 2


class CredentialRejected(RunnerError):
    """The runner API answered 401/403: the credential is unknown, used or expired."""

    exit_code = 3


class ServerUnavailable(RunnerError):
    """The runner API is unreachable, timed out, or answered an unexpected status."""

    exit_code = 4


class NoJobOffered(RunnerError):
    """No job was offered before the give-up time."""

    exit_code = 5


class Terminated(RunnerError):
    """Stopped by a signal; the current job, if any, was reported as cancelled."""

    exit_code = 143
