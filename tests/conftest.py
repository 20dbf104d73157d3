"""The root conftest: load the harness plugins for every test under tests/.

See tests/harness/__init__.py for what each plugin does, spec/harness.md for their rules.
"""

pytest_plugins = [
    "tests.harness.spec_plugin",
    "tests.harness.engine",
    "tests.harness.leaks",
    # pytest's own plugin for testing plugins: tests/harness_selftest runs inner sessions with it.
    # It is here because pytest only reads pytest_plugins from the root conftest.
    "pytester",
]
