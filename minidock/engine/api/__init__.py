"""The Engine API: a subset of Docker's REST API v1.41 over a unix socket.

Implements: spec/engine.md ENGINE-API-*
Explained:  chapters/05-engine.md#the-api

    server   make_app(), the middlewares (versions, JSON errors, headers)
    system   /_ping, /version, /info and the SystemBackend it needs

Each router module declares the backend Protocol its handlers call; only the
daemon's start-up code (minidock.engine.daemon) wires a backend to it.
"""
