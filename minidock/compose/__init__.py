"""Compose: multi-container applications from YAML.

Implements: spec/compose.md (planned, issue 11)
Explained:  chapters/10-compose.md
Modelled on: docker-compose 1.29 (a client of the Engine API, nothing more)

load(yaml) -> Project and plan(project, current) -> actions are pure; the thin
shell sends the actions to the engine through its HTTP API. compose never
imports the engine's internals (an import-linter contract enforces this).

Nothing is public yet: this package is a place reserved for issue 11.
"""
