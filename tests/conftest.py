"""The root conftest: load the harness plugins for every test under tests/.

See tests/harness/__init__.py for what each plugin does, spec/harness.md for their rules.
"""

import pytest

pytest_plugins = [
    "tests.harness.spec_plugin",
    "tests.harness.engine",
    "tests.harness.leaks",
    # pytest's own plugin for testing plugins: tests/harness_selftest runs inner sessions with it.
    # It is here because pytest only reads pytest_plugins from the root conftest.
    "pytester",
]


# Modules whose tests must all run in one worker: they share one expensive module fixture
# (tests/swarm/test_cluster.py: a five-host cluster, ~20 s to make; two workers would make two).
# xdist's own answer (xdist_group + --dist loadgroup) renames node IDs, which pytest 9 no
# longer lets it do; so the controller's scheduler groups these modules itself.
ONE_WORKER_MODULES = {"tests/swarm/test_cluster.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`-n N`: load distribution, test by test, except ONE_WORKER_MODULES, each kept whole."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return OneWorkerModules(config, log)
