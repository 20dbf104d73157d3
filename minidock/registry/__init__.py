"""Registry: the OCI distribution protocol, server and client.

Implements: spec/registry.md (planned, issue 10)
Explained:  chapters/09-registry.md
Modelled on: distribution/distribution (the registry:2 server) and its client

GET/HEAD/PUT manifests and blobs by digest, chunked uploads, tags/list;
every byte checked against its digest on the way in and on the way out.

Nothing is public yet: this package is a place reserved for issue 10.
"""
