"""The test harness: pytest plugins every test of minidock runs under.

    specs         parse spec/*.md into requirements (pure)
    spec_plugin   @pytest.mark.spec, unknown IDs, --conformance-report
    report        the report's document (with its host) and page, runs side by side
    engine        --engine=minidock|docker and the `engine` fixture
    leaks         the leak check (mounts, cgroups, links, netns, iptables, nft, processes)

tests/conftest.py loads the plugins; tests/harness_selftest proves that each one fails when it should.
"""
