"""One error tree for the whole of minidock, and how each branch maps to HTTP.

Implements: spec/engine.md ENGINE-ERR-001 .. ENGINE-ERR-003
Explained:  chapters/05-engine.md#errors
Modelled on: moby's errdefs package and its httpstatus mapping

    MinidockError
    ├── NotFound          404  "No such container: web"
    ├── Conflict          409  "Conflict. The container name "/web" is already in use"
    ├── InvalidArgument   400  a malformed name, reference, JSON body, flag
    ├── Unauthorized      401
    ├── Forbidden         403
    ├── Unavailable       503  the daemon or a peer cannot be reached
    ├── NotImplemented    501  a part of the Docker API minidock does not have
    └── SystemError       500  the kernel said no (see minidock.kernel.SyscallError)

Rules: every error a user can see is one of these; messages say what was
wrong and what to do, in Docker's words where Docker has words.
"""

from __future__ import annotations


class MinidockError(Exception):
    """The root of every error minidock raises on purpose."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(MinidockError):
    """The named object (container, image, volume, network, ...) does not exist."""

    status = 404


class Conflict(MinidockError):
    """The request clashes with the current state (name in use, container running)."""

    status = 409


class InvalidArgument(MinidockError):
    """The request itself is malformed: bad name, reference, JSON, flag value."""

    status = 400


class Unauthorized(MinidockError):
    """Credentials are missing or wrong (registries)."""

    status = 401


class Forbidden(MinidockError):
    """The request is understood and refused."""

    status = 403


class Unavailable(MinidockError):
    """A service minidock depends on cannot be reached right now."""

    status = 503


class NotImplemented(MinidockError):  # noqa: A001 - Docker's errdefs name
    """Part of the Docker API or CLI that minidock deliberately does not have."""

    status = 501


class SystemError(MinidockError):  # noqa: A001 - Docker's errdefs name
    """The operating system refused an operation (mount, clone, write to cgroupfs)."""

    status = 500


def http_status(error: BaseException) -> int:
    """Return the HTTP status code the API answers for ``error``.

    A MinidockError carries its own status; anything else is a bug in
    minidock and is answered with 500, as dockerd does.
    """
    # [ENGINE-ERR-002] an error that is not one of ours is a server error
    if isinstance(error, MinidockError):
        return error.status
    return 500
