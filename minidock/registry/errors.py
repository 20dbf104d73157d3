"""The distribution spec's error codes, and the one exception that carries them.

Implements: spec/registry.md REG-020
Explained:  chapters/09-registry.md#errors
Modelled on: the OCI distribution spec's "Error Codes" table (code-1 .. code-14)
             and distribution's registry/api/errcode

    RegistryError(code, message, detail) -> status from CODES, body from body()
    body() -> {"errors": [{"code": "BLOB_UNKNOWN", "message": "...", "detail": ...}]}

Rules: every refusal of the server is one of these codes, with the status the
spec (or distribution, where the spec leaves it open) gives it.
"""

from __future__ import annotations

import json
from typing import Any

# code -> (HTTP status, the spec's message); the table is the spec's, in its order
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    # not in the spec's table; distribution's answer to a Content-Range that does not follow on
    "RANGE_INVALID": (416, "invalid content range"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
}


class RegistryError(Exception):
    """A refusal in the distribution spec's words: a code, a message, maybe a detail."""

    def __init__(self, code: str, message: str | None = None, detail: Any = None) -> None:
        status, default = CODES[code]
        super().__init__(message or default)
        self.code = code
        self.status = status
        self.message = message or default
        self.detail = detail

    def body(self) -> bytes:
        """The JSON error document the spec defines."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return json.dumps({"errors": [error]}).encode()
