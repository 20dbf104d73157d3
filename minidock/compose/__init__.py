"""Compose: multi-container applications from YAML, through the Engine API only.

Implements: spec/compose.md
Explained:  chapters/10-compose.md
Modelled on: docker-compose 1.29 and compose v2 (clients of the Engine API, nothing more)

    loader.py    files -> the resolved document (YAML, .env, ${VAR}, -f merging, extends, schema)
    model.py     Project: services in dependency order, names, labels, create bodies, config hash
    project.py   plan(project, observed) -> actions (pure); Engine(client).up / down
    schema/      the Compose Specification's JSON schema (data)

The command line is minidock/cli/compose.py. compose never imports the engine's internals: it talks to minidockd (or dockerd)
through minidock.engine.client, as docker-compose talks through the docker SDK.
"""
