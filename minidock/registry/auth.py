"""Who may do what: no auth, Basic with an htpasswd file, or Bearer tokens with scopes.

Implements: spec/registry.md REG-021 .. REG-024
Explained:  chapters/09-registry.md#authentication
Modelled on: distribution's auth/htpasswd and auth/token (registry side) and Docker's
             token authentication spec (docs/spec/auth/token.md: the challenge, the
             token endpoint, scopes "repository:<name>:pull,push")

    check_password(htpasswd, user, password)   bcrypt ($2y$, $2b$) or sha-crypt ($5$, $6$)
    parse_scope("repository:team/app:pull,push") -> Scope("repository", "team/app", {"pull", "push"})
    Acl(rules).allowed(account, scope) -> actions   the token server's policy
    TokenIssuer(key, service).issue(account, scopes) / .verify(token) -> access list
    challenge(realm, service, scope) -> the WWW-Authenticate header's value

    anonymous ──GET──▶ registry ──401 WWW-Authenticate: Bearer realm,service,scope──▶ client
    client ──GET realm?service&scope (Basic user:password)──▶ token endpoint ──{"token"}──▶
    client ──GET + Authorization: Bearer <token>──▶ registry (checks signature, expiry, scope)

Rules: a token is a JWT signed with HMAC-SHA256 by the registry's own key, so only this
registry can mint one; it names the actions granted per repository, never more than the
ACL allows, and a request needing an action its token lacks is DENIED (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from minidock.registry.errors import RegistryError

TOKEN_LIFETIME = 300  # seconds, as Docker Hub's


# -- passwords ------------------------------------------------------------------------------

def read_htpasswd(path: str) -> dict[str, str]:
    """``user:hash`` lines (Apache's htpasswd -B, or sha-crypt) as {user: hash}."""
    users = {}
    with open(path) as file:
        for line in file:
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                user, _, hashed = line.partition(":")
                users[user] = hashed
    return users


def hash_password(password: str) -> str:
    """A bcrypt hash for an htpasswd line (what `htpasswd -B` writes)."""
    import bcrypt  # lazy: only a registry with Basic auth needs it

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def check_password(users: dict[str, str], user: str, password: str) -> bool:
    """Does ``password`` match ``user``'s hash? Unknown users and unknown hashes: no."""
    hashed = users.get(user)
    if hashed is None:
        return False
    if hashed.startswith(("$2y$", "$2b$", "$2a$")):
        import bcrypt

        # Apache writes $2y$; the bcrypt package reads it as $2b$ (the same algorithm)
        return bcrypt.checkpw(password.encode(), ("$2b$" + hashed[4:]).encode())
    if hashed.startswith(("$5$", "$6$")):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                import crypt  # glibc's crypt(3): sha-crypt; gone from Python 3.13
            except ImportError:
                from passlib.hash import sha256_crypt, sha512_crypt  # the fallback, if installed

                return (sha256_crypt if hashed.startswith("$5$") else sha512_crypt).verify(password, hashed)
        return hmac.compare_digest(crypt.crypt(password, hashed), hashed)
    return False


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``Basic base64(user:password)`` -> (user, password), or None."""
    kind, _, value = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


# -- scopes and the ACL ---------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """``repository:<name>:<actions>``: what a client asks for, or what a route needs."""

    type: str
    name: str
    actions: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scope(text: str) -> Scope:
    """Parse one scope; the name may hold a port (``registry:5000/x`` is not a name, but colons split right)."""
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        raise ValueError(f"invalid scope {text!r}")
    return Scope(kind, name, frozenset(action for action in actions.split(",") if action))


@dataclass(frozen=True)
class Rule:
    """One line of the ACL: ``account`` (or ``*``, or ``anonymous``) may do ``actions`` on ``name`` (a glob)."""

    account: str
    name: str
    actions: frozenset[str]


class Acl:
    """The token server's policy: the first rule that matches account and name decides."""

    def __init__(self, rules: list[Rule] | None = None) -> None:
        # the default: anyone who logged in may pull and push everything, anonymous nothing
        self.rules = rules if rules is not None else [Rule("*", "*", frozenset({"pull", "push", "delete"}))]

    @classmethod
    def from_file(cls, path: str) -> "Acl":
        """A JSON list of {"account", "name", "actions"}."""
        with open(path) as file:
            document = json.load(file)
        return cls([Rule(item["account"], item["name"], frozenset(item["actions"])) for item in document])

    def allowed(self, account: str | None, scope: Scope) -> frozenset[str]:
        """The actions of ``scope`` that ``account`` (None: anonymous) may have."""
        if scope.type not in ("repository", "registry"):
            return frozenset()
        for rule in self.rules:
            who = rule.account == (account or "anonymous") or (rule.account == "*" and account)
            if who and fnmatchcase(scope.name, rule.name):
                # [REG-024] never more than the rule grants, whatever was asked
                return scope.actions & (rule.actions | ({"*"} if "*" in rule.actions else set()))
        return frozenset()


# -- tokens -----------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Mints and checks the registry's bearer tokens (JWTs signed with HS256)."""

    def __init__(self, key: bytes, service: str, issuer: str = "minidock-registry") -> None:
        self.key = key
        self.service = service
        self.issuer = issuer

    def _sign(self, message: bytes) -> str:
        return _b64(hmac.new(self.key, message, hashlib.sha256).digest())

    def issue(self, account: str | None, access: list[Scope], now: float | None = None) -> str:
        """A token saying ``account`` may do ``access``; the caller has checked the ACL."""
        now = int(now if now is not None else time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"iss": self.issuer, "sub": account or "", "aud": self.service, "iat": now,
                  "nbf": now - 1, "exp": now + TOKEN_LIFETIME,
                  "access": [{"type": s.type, "name": s.name, "actions": sorted(s.actions)} for s in access]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        return f"{signing_input}.{self._sign(signing_input.encode())}"

    def verify(self, token: str, now: float | None = None) -> dict:
        """The claims of a token this issuer signed and that is still valid; else UNAUTHORIZED."""
        try:
            header, claims, signature = token.split(".")
            if not hmac.compare_digest(self._sign(f"{header}.{claims}".encode()), signature):
                raise ValueError("bad signature")
            document = json.loads(_unb64(claims))
        except (ValueError, UnicodeDecodeError):
            # [REG-023] a forged or damaged token is no token
            raise RegistryError("UNAUTHORIZED", "invalid token") from None
        now = now if now is not None else time.time()
        if document.get("aud") != self.service or not (document.get("nbf", 0) <= now < document.get("exp", 0)):
            raise RegistryError("UNAUTHORIZED", "token expired or not for this service")
        return document


def granted(claims: dict, scope: Scope) -> bool:
    """Does the token's access list hold every action ``scope`` needs?"""
    # lab 09: begin: find the access entry of the scope's type and name; True if its actions hold every action the scope needs ("*": all)
    for entry in claims.get("access") or []:
        if entry.get("type") == scope.type and entry.get("name") == scope.name:
            have = set(entry.get("actions") or [])
            if "*" in have or scope.actions <= have:
                return True
    return False
    # lab 09: end


def challenge(realm: str, service: str, scope: Scope | None, error: str | None = None) -> str:
    """The value of WWW-Authenticate for a Bearer challenge."""
    parts = [f'realm="{realm}"', f'service="{service}"']
    if scope is not None:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    import re

    kind, _, rest = header.strip().partition(" ")
    params = {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', rest)}
    return kind.lower(), params
