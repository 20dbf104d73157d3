"""The compose benchmarks (compose-up, compose-down): what they declare, and the project they time.

Declaring them starts nothing and writes nothing; their times are not looked at here
(`python -m bench compose-up compose-down` runs them, as root, with minidockd and
docker-compose, and dockerd for the target).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

# bench/ is a folder of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import compose  # noqa: E402
from minidock.compose.model import Project  # noqa: E402


def test_declaring_the_compose_benchmarks_makes_nothing(tmp_path):
    declared = compose.benchmarks(tmp_path)
    assert {b.name: [c.name for c in b.contenders] for b in declared} == {
        "compose-up": ["minidock", "docker-compose -> minidockd", "docker-compose (dockerd)"],
        "compose-down": ["minidock", "docker-compose -> minidockd", "docker-compose (dockerd)"],
    }
    assert {(b.target, b.target_ratio) for b in declared} == {("docker-compose (dockerd)", 1.0)}
    assert all(b.finish is not None and all(c.reset is not None for c in b.contenders) for b in declared)
    assert list(tmp_path.iterdir()) == []  # the project file is written on first use


def test_the_project_has_five_services_one_network_one_volume_and_no_build():
    document = yaml.safe_load(compose.PROJECT)
    project = Project({"name": "p", **document})
    assert len(project.services) == compose.SERVICES == 5
    assert list(project.networks) == ["back"] and list(project.volumes) == ["data"]
    assert not any("build" in service for service in project.services.values())
    assert project.order.index("db") < project.order.index("api") < project.order.index("web")


def test_each_contender_has_a_project_of_its_own():
    names = {compose.project_name(c) for c in ("minidock", "docker-compose -> minidockd", compose.TARGET)}
    assert len(names) == 3
