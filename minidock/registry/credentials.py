"""Credentials for registries, kept as Docker keeps them: ~/.minidock/config.json, mode 0600.

Implements: spec/registry.md REG-032
Explained:  chapters/09-registry.md#logging-in
Modelled on: docker/cli's cli/config/configfile ("auths": {server: {"auth": base64(user:password)}})

    key(domain)                    docker.io -> "https://index.docker.io/v1/", else the domain
    load(domain) -> {"username", "password", "serveraddress"} | {}
    store(domain, username, password)   erase(domain) -> bool
    header(credentials) -> str     X-Registry-Auth: base64url(JSON)

Rules: the file is written whole to a temporary file of mode 0600 and renamed, so a
password is never readable by others, not even for a moment; MINIDOCK_CONFIG moves it.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def path() -> str:
    folder = os.environ.get("MINIDOCK_CONFIG") or os.path.join(os.path.expanduser("~"), ".minidock")
    return os.path.join(folder, "config.json")


def key(domain: str) -> str:
    """The config's key for a registry (Docker Hub's historical one for docker.io)."""
    return DOCKER_HUB_KEY if domain in ("docker.io", "index.docker.io", "registry-1.docker.io", "") else domain


def _read() -> dict:
    try:
        with open(path()) as file:
            return json.load(file)
    except FileNotFoundError:
        return {}


def _write(document: dict) -> None:
    folder = os.path.dirname(path())
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".config-")  # mkstemp: mode 0600
    with os.fdopen(fd, "w") as file:
        json.dump(document, file, indent="\t")
    os.rename(temporary, path())


def load(domain: str) -> dict:
    """The stored credentials for ``domain``, or {}."""
    entry = (_read().get("auths") or {}).get(key(domain)) or {}
    if not entry.get("auth"):
        return {}
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return {"username": user, "password": password, "serveraddress": key(domain)}


def store(domain: str, username: str, password: str) -> None:
    """Remember ``username``:``password`` for ``domain`` (`login`)."""
    document = _read()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    document.setdefault("auths", {})[key(domain)] = {"auth": token}
    # [REG-032] mode 0600 from the first byte
    _write(document)


def erase(domain: str) -> bool:
    """Forget ``domain`` (`logout`); False when nothing was stored."""
    document = _read()
    if key(domain) not in (document.get("auths") or {}):
        return False
    del document["auths"][key(domain)]
    _write(document)
    return True


def header(credentials: dict) -> str:
    """The X-Registry-Auth header's value: base64url of the JSON credentials."""
    return base64.urlsafe_b64encode(json.dumps(credentials).encode()).decode()


def from_header(value: str) -> dict:
    """Decode X-Registry-Auth (padded or not, as clients differ); {} when absent or bad."""
    if not value:
        return {}
    try:
        document = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}
