"""Authentication of minidock's registry: Basic with an htpasswd file, and bearer tokens
from its token endpoint with per-repository scopes."""

from __future__ import annotations

import base64
import json
import secrets
import time
import warnings

import pytest

from minidock.registry import auth
from tests.registry.conftest import error_code, free_port


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def sha_crypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        crypt = pytest.importorskip("crypt")  # Python < 3.13

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


@pytest.fixture
def htpasswd(scratch):
    path = scratch / "htpasswd"
    path.write_text(f"alice:{auth.hash_password('wonderland')}\n"
                    f"bob:{sha_crypt('builder')}\n"
                    "carol:$2y$" + auth.hash_password("apache")[4:] + "\n")
    return path


@pytest.mark.spec("REG-021", "REG-020")
def test_basic_auth(start_registry, htpasswd):
    server = start_registry("--htpasswd", str(htpasswd))
    status, headers, body = server.request("GET", "/v2/")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
    assert error_code(body) == "UNAUTHORIZED"
    assert server.request("GET", "/v2/", headers=basic("alice", "wrong"))[0] == 401
    assert server.request("GET", "/v2/", headers=basic("nobody", "wonderland"))[0] == 401
    # bcrypt ($2b$ as the bcrypt package writes, $2y$ as Apache's htpasswd -B), and sha-crypt ($6$)
    for user, password in (("alice", "wonderland"), ("bob", "builder"), ("carol", "apache")):
        assert server.request("GET", "/v2/", headers=basic(user, password))[0] == 200, user


@pytest.fixture
def token_registry(start_registry, htpasswd, scratch):
    """A registry with its own token endpoint: alice may do everything, bob only pull, anonymous nothing."""
    key = scratch / "token.key"
    key.write_bytes(secrets.token_bytes(32))
    acl = scratch / "acl.json"
    acl.write_text(json.dumps([{"account": "alice", "name": "*", "actions": ["pull", "push", "delete"]},
                               {"account": "bob", "name": "*", "actions": ["pull"]}]))
    port = free_port()
    server = start_registry("--htpasswd", str(htpasswd), "--token-realm", f"http://127.0.0.1:{port}/token",
                            "--token-service", "test-registry", "--token-key", str(key), "--acl", str(acl),
                            port=port)
    server.key = key.read_bytes()
    return server


def token_for(server, user: str | None, password: str, *scopes: str) -> str:
    query = "&".join(["service=test-registry"] + [f"scope={scope}" for scope in scopes])
    status, _, body = server.request("GET", f"/token?{query}", headers=basic(user, password) if user else {})
    assert status == 200, body
    return json.loads(body)["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.spec("REG-022")
def test_the_bearer_challenge_and_the_token_endpoint(token_registry):
    server = token_registry
    status, headers, _ = server.request("GET", "/v2/team/app/tags/list")
    assert status == 401
    kind, params = auth.parse_challenge(headers["WWW-Authenticate"])
    assert kind == "bearer" and params == {"realm": f"http://{server.address}/token",
                                           "service": "test-registry", "scope": "repository:team/app:pull"}
    status, _, body = server.request("GET", "/token?service=test-registry&scope=repository:team/app:pull",
                                     headers=basic("alice", "wrong"))
    assert status == 401
    token = token_for(server, "alice", "wonderland", "repository:team/app:pull,push")
    assert server.request("GET", "/v2/", headers=bearer(token))[0] == 200
    pushed_status, headers, _ = server.request("POST", "/v2/team/app/blobs/uploads/", headers=bearer(token))
    assert pushed_status == 202


@pytest.mark.spec("REG-023")
def test_forged_expired_and_foreign_tokens(token_registry):
    server = token_registry
    good = token_for(server, "alice", "wonderland", "repository:team/app:pull")
    header, claims, signature = good.split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(claims + "=="))
    forged_claims["access"][0]["actions"] = ["pull", "push"]
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode(),
                       signature])
    key = server.key
    expired = auth.TokenIssuer(key, "test-registry").issue(
        "alice", [auth.parse_scope("repository:team/app:pull")], now=time.time() - 3600)
    foreign = auth.TokenIssuer(key, "another-service").issue("alice", [auth.parse_scope("repository:team/app:pull")])
    other_key = auth.TokenIssuer(b"not the registry's key", "test-registry").issue(
        "alice", [auth.parse_scope("repository:team/app:pull")])
    for token in (forged, expired, foreign, other_key, "not-a-token"):
        status, headers, body = server.request("GET", "/v2/team/app/tags/list", headers=bearer(token))
        assert status == 401 and error_code(body) == "UNAUTHORIZED", token
        assert 'error="invalid_token"' in headers["WWW-Authenticate"]


@pytest.mark.spec("REG-024")
def test_a_push_without_push_scope_is_denied(token_registry):
    server = token_registry
    token = token_for(server, "bob", "builder", "repository:team/app:pull,push")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    status, headers, body = server.request("POST", "/v2/team/app/blobs/uploads/", headers=bearer(token))
    assert status == 403 and error_code(body) == "DENIED"
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    # anonymous: a token with nothing in it
    anonymous = token_for(server, None, "", "repository:team/app:pull")
    assert server.request("GET", "/v2/team/app/tags/list", headers=bearer(anonymous))[0] == 403


@pytest.mark.spec("REG-024")
def test_the_acl_grants_no_more_than_its_rule():
    acl = auth.Acl([auth.Rule("bob", "public/*", frozenset({"pull"})),
                    auth.Rule("*", "*", frozenset({"pull", "push"}))])
    assert acl.allowed("bob", auth.parse_scope("repository:public/x:pull,push")) == {"pull"}
    assert acl.allowed("alice", auth.parse_scope("repository:any/x:pull,push,delete")) == {"pull", "push"}
    assert acl.allowed(None, auth.parse_scope("repository:any/x:pull")) == set()


@pytest.mark.spec("REG-024")
def test_a_token_grants_only_the_actions_it_names():
    claims = {"access": [{"type": "repository", "name": "team/app", "actions": ["pull"]},
                         {"type": "repository", "name": "team/all", "actions": ["*"]},
                         {"type": "registry", "name": "catalog", "actions": ["*"]}]}
    assert auth.granted(claims, auth.parse_scope("repository:team/app:pull"))
    assert not auth.granted(claims, auth.parse_scope("repository:team/app:pull,push"))
    assert not auth.granted(claims, auth.parse_scope("repository:team/other:pull"))
    assert not auth.granted(claims, auth.parse_scope("registry:team/app:pull"))
    assert auth.granted(claims, auth.parse_scope("repository:team/all:pull,push,delete"))
    assert auth.granted(claims, auth.Scope("registry", "catalog", frozenset({"*"})))
    assert not auth.granted({}, auth.parse_scope("repository:team/app:pull"))
