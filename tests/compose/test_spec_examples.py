"""The Compose Specification's own documentation examples (tests/compose/spec_examples/): `config -q` on each.

Every ```yaml example of the compose-spec documentation (05-services.md, 06-networks.md, 07-volumes.md,
08-configs.md, 09-secrets.md, 10-fragments.md, 11-extension.md, 12-interpolation.md, 13-merge.md,
15-profiles.md, build.md, deploy.md) that is a whole compose file, or one service's attributes wrapped as
`services.example`; each file's first comment names its source. None needs a registry: config never pulls.
README.md in that folder lists what was left out and docker-compose 1.29's verdict.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

HERE = pathlib.Path(__file__).parent / "spec_examples"
ROOT = HERE.parent.parent.parent
FILES = sorted(path.name for path in HERE.glob("*.yaml"))

# The examples that are not valid as written: config must refuse them (exit 1), as the schema does.
REFUSED = {
    "deploy-005.yaml": "deploy.md shows placement.constraints as a map; the schema allows only a list of strings",
    "deploy-006.yaml": "deploy.md shows placement.preferences as strings; the schema wants objects ({spread: ...})",
    "deploy-007.yaml": "deploy.md shows placement.preferences as a map; the schema wants a list of objects",
    "extension-002.yaml": "the top-level key is `service:` (a typo for services), which the schema refuses",
    "extension-004.yaml": "an excerpt: depends_on names `gateway`, a service the example does not define",
    "merge-005.yaml": "`app:` is not indented under `services:` (a typo), so it is an unknown top-level key",
    "networks-008.yaml": "`driver`/`config`/`options` are not indented under `ipam:`, so they land on the network",
    "services-053.yaml": "an excerpt: links names db and redis, services the example does not define",
    "services-074.yaml": "`command: true` is a YAML boolean, and command must be a string or a list",
    "services-036.yaml": "an excerpt: its named volumes are not declared under the top-level volumes",
    "services-056.yaml": "an excerpt: its networks are not declared under the top-level networks",
    "services-059.yaml": "an excerpt: its networks are not declared under the top-level networks",
    "services-061.yaml": "an excerpt: its network is not declared under the top-level networks",
    "services-064.yaml": "an excerpt: its network is not declared under the top-level networks",
    "merge-003.yaml": "an excerpt (one of a pair to merge): its volume is not declared at the top level",
    "merge-004.yaml": "an excerpt (one of a pair to merge): its volume is not declared at the top level",
}

# The variables an example presumes set (12-interpolation.md's label key comes from one).
ENVIRONMENT = {"VAR_INTERPOLATED_BY_COMPOSE": "com.example.interpolated"}


def _config(*files: str, quiet: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "minidock.cli.main", "compose"]
    for name in files:
        command += ["-f", str(HERE / name)]
    command += ["-p", "examples", "config"] + (["-q"] if quiet else [])
    env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


@pytest.mark.spec("COMPOSE-001")
@pytest.mark.parametrize("name", FILES)
def test_spec_example(name):
    result = _config(name)
    if name in REFUSED:
        assert result.returncode == 1, f"{name} should be refused: {REFUSED[name]}"
    else:
        assert result.returncode == 0, result.stderr


def test_every_refused_example_exists():
    assert set(REFUSED) <= set(FILES)


# 13-merge.md's pairs of files, with the results the spec gives.
@pytest.mark.spec("COMPOSE-001")
@pytest.mark.parametrize("files, service", [
    (("merge-001.yaml", "merge-002.yaml"), {"command": ["echo", "bar"]}),
    (("merge-003.yaml", "merge-004.yaml"), {"volumes": ["bar:/work"]}),
])
def test_spec_merge_examples(files, service, tmp_path):
    # the spec's pairs are excerpts: the volumes they name are declared by a third file here
    declared = tmp_path / "declared.yaml"
    declared.write_text("volumes:\n  foo: {}\n  bar: {}\n")
    result = _config(*files, str(declared), quiet=False)
    assert result.returncode == 0, result.stderr
    got = yaml.safe_load(result.stdout)["services"]["foo"]
    for key, value in service.items():
        assert [item if isinstance(item, str) else f"{item['source']}:{item['target']}" for item in got[key]] == value


@pytest.mark.spec("COMPOSE-001")
@pytest.mark.parametrize("override, expected", [
    ("merge-006.yaml", {"image": "myapp"}),                           # !reset: ports and FOO gone
    ("merge-008.yaml", {"image": "myapp", "ports": ["8443:443"],      # !override: only the new port
                        "environment": {"FOO": "BAR"}}),              # (the spec's base here has no environment)
])
def test_spec_reset_and_override(tmp_path, override, expected):
    # 13-merge.md's base compose.yaml, indented as the text intends (as printed, app is not under services)
    base = tmp_path / "compose.yaml"
    base.write_text('services:\n  app:\n    image: myapp\n    ports:\n      - "8080:80"\n    environment:\n      FOO: BAR\n')
    command = [sys.executable, "-m", "minidock.cli.main", "compose", "-f", str(base), "-f", str(HERE / override),
               "-p", "examples", "config"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    app = yaml.safe_load(result.stdout)["services"]["app"]
    assert {key: value for key, value in app.items() if value not in ({}, [], None)} == expected
