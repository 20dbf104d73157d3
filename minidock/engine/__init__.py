"""The engine: the daemon `minidockd`, its REST API, and the client the CLI uses.

Implements: spec/engine.md
Explained:  chapters/05-engine.md
Modelled on: dockerd (moby): daemon, api/server, client

    config   DaemonConfig and dockerd's flags
    daemon   main(): the composition root
    api      the HTTP API (server, system routes)
    system   version and info
    client   Client: the Engine API over a unix socket (stdlib only)

Containers, state and events arrive with issue 5.
"""
