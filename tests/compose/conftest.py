"""The engine's busybox for the compose tests (tests/engine/conftest.py makes it)."""

from tests.engine.conftest import busybox  # noqa: F401 - a fixture, used by name
