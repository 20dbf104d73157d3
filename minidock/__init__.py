"""minidock: Docker's architecture, re-implemented in readable Python.

Map of the package (one module per topic; imports only go downward, see
pyproject.toml's import-linter contracts and chapters/00-architecture.md):

    cli          the `minidock` command: docker's verbs, talks HTTP to the daemon
    lab          `minidock lab`: skeletons and graders for the labs
    compose      YAML applications, a client of the engine's API
    swarm        a cluster of engines, state in etcd, a client of the API
    engine       the daemon `minidockd`: REST API, containers, state, events
    build        Dockerfiles into images
    runtime      OCI bundles into isolated processes (`minidock-runtime`)
    images       content store, layers, overlay snapshots
    volumes      data that outlives containers
    networking   bridge, host, none, ports, DNS, overlay
    namespaces   the kernel's namespaces: create, join, describe
    cgroups      the kernel's control groups: limits, stats, freeze (v1 and v2)
    registry     the distribution protocol: server and client
    kernel       the raw syscalls Python lacks, through ctypes
    errors       one error tree for everything above
"""

__version__ = "0.1.0"

# What the daemon reports as its Engine API version (docker-cli-wire.md).
API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
