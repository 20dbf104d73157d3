"""The server's side of authentication: checking each request, and the token endpoint.

Implements: spec/registry.md REG-021 .. REG-024
Explained:  chapters/09-registry.md#authentication
Modelled on: distribution's auth.AccessController (htpasswd and token) and Docker's
             token authentication spec (the challenge, the endpoint's JSON answer)

    Access(mode="none" | "basic" | "token", users, issuer, realm, acl)
      .check(request, scope)    let it through, or UNAUTHORIZED (+ a challenge) or DENIED
      .token(request)           GET /token?service=&scope=: Basic credentials in, a token out

Rules: the pure parts (passwords, scopes, the ACL, signing) are in auth.py; this file
only reads the request's headers and answers with the spec's errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from minidock.registry import auth
from minidock.registry.errors import RegistryError


@dataclass
class Access:
    """How this registry checks requests: mode "none", "basic" or "token"."""

    mode: str = "none"
    users: dict[str, str] | None = None          # htpasswd: user -> hash
    issuer: auth.TokenIssuer | None = None       # token mode
    realm: str = ""
    acl: auth.Acl | None = None

    def check(self, request: web.Request, scope: auth.Scope | None) -> None:
        """Let the request through, or raise UNAUTHORIZED (with a challenge) or DENIED."""
        header = request.headers.get("Authorization", "")
        if self.mode == "basic":
            credentials = auth.basic_credentials(header)
            if credentials is None or not auth.check_password(self.users or {}, *credentials):
                # [REG-021] no or wrong credentials: 401 and how to authenticate
                raise _with_challenge(RegistryError("UNAUTHORIZED"), 'Basic realm="minidock-registry"')
            return
        if self.mode == "token":
            assert self.issuer is not None
            kind, _, token = header.partition(" ")
            wanted = auth.challenge(self.realm, self.issuer.service, scope)
            if kind.lower() != "bearer" or not token:
                raise _with_challenge(RegistryError("UNAUTHORIZED"), wanted)
            try:
                claims = self.issuer.verify(token.strip())
            except RegistryError as error:
                raise _with_challenge(error, auth.challenge(self.realm, self.issuer.service, scope,
                                                            "invalid_token"))
            if scope is not None and not auth.granted(claims, scope):
                # [REG-024] a valid token without the action: denied, not a new login
                raise _with_challenge(RegistryError("DENIED", detail=[{"Type": scope.type, "Name": scope.name,
                                                                       "Action": a} for a in sorted(scope.actions)]),
                                      auth.challenge(self.realm, self.issuer.service, scope, "insufficient_scope"))

    def token(self, request: web.Request) -> web.Response:
        """The token endpoint: Basic credentials (or none) and scopes in, a signed token out."""
        assert self.issuer is not None and self.acl is not None
        account = None
        header = request.headers.get("Authorization", "")
        if header:
            credentials = auth.basic_credentials(header)
            if credentials is None or not auth.check_password(self.users or {}, *credentials):
                # [REG-022] wrong credentials get no token at all
                raise _with_challenge(RegistryError("UNAUTHORIZED", "invalid username or password"),
                                      'Basic realm="minidock-registry token"')
            account = credentials[0]
        access = []
        for text in request.query.getall("scope", []):
            for one in text.split(" "):
                try:
                    asked = auth.parse_scope(one)
                except ValueError:
                    continue
                actions = self.acl.allowed(account, asked)
                access.append(auth.Scope(asked.type, asked.name, actions))
        token = self.issuer.issue(account, access)
        return web.json_response({"token": token, "access_token": token,
                                  "expires_in": auth.TOKEN_LIFETIME})


def _with_challenge(error: RegistryError, value: str) -> RegistryError:
    error.headers = {"WWW-Authenticate": value}  # type: ignore[attr-defined]
    return error
