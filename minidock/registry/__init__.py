"""Registry: the OCI distribution protocol, server and client.

Implements: spec/registry.md
Explained:  chapters/09-registry.md
Modelled on: distribution/distribution (the registry:2 server) and the docker daemon's
             distribution client

    errors       RegistryError: the spec's error codes (BLOB_UNKNOWN, DIGEST_INVALID, ...)
    storage      Storage: blobs (a content store), uploads, per-repository links, tags
    auth         htpasswd passwords, scopes, the ACL, HS256 bearer tokens, challenges
    access       Access: each request checked (none, Basic, Bearer); the token endpoint
    server       make_app(storage, access): the /v2/ API on aiohttp; serve()
    gc           collect(storage, dry_run): mark from every manifest, sweep the rest
    client       RegistryClient: pull and push against any distribution-spec registry
    credentials  ~/.minidock/config.json: login, logout, X-Registry-Auth

Every byte is checked against its digest on the way in (server) and on the way
out (client). Nothing here imports aiohttp at import time but the server.
"""
