"""compose's `devices` and `device_cgroup_rules` on a service: the engine's --device and
--device-cgroup-rule (COMPOSE-017), through our compose and through docker-compose 1.29.

The rule is told apart as in tests/engine/test_devices.py: a block device 8:0 made with
mknod fails to open with EPERM while the devices cgroup refuses it, with ENXIO once a
rule lets it through (no such disk here).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from urllib.parse import quote

import pytest

CLI = [sys.executable, "-P", "-m", "minidock.cli.main"]
SCRIPT = ("head -c 3 /dev/myzero | wc -c; rm -f /tmp/sda; mknod /tmp/sda b 8 0 && echo MADE; "
          "head -c 1 /tmp/sda >/dev/null")


def project(engine, name: str) -> dict[str, list]:
    """The project's containers and networks, by the compose label."""
    filters = quote(json.dumps({"label": [f"com.docker.compose.project={name}"]}))
    return {kind: json.loads(engine.api("GET", f"/v1.41/{path}filters={filters}")[2])
            for kind, path in (("containers", "containers/json?all=1&"), ("networks", "networks?"))}


@pytest.mark.spec("COMPOSE-017")
@pytest.mark.parametrize("tool", ["minidock", "docker-compose"])
def test_devices_and_device_cgroup_rules_reach_the_container(engine, busybox, tmp_path, tool):
    if tool == "docker-compose" and shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (make setup installs Debian's 1.29)")
    # the long syntax is compose v2's; docker-compose 1.29's schema takes strings only
    long = "\n              - {source: /dev/null, target: /dev/mynull, permissions: rw}" if tool == "minidock" else ""
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(f"""
        services:
          dev:
            image: {busybox}
            command: ["sh", "-c", "{SCRIPT}; test -c /dev/mynull && echo NULL"]
            devices:
              - /dev/zero:/dev/myzero:r{long}
            device_cgroup_rules: ["b 8:0 r"]
        """).lstrip())
    name = f"mdcdev{secrets.token_hex(3)}"
    base = ([*CLI, "-H", engine.host, "compose"] if tool == "minidock" else ["docker-compose", "-H", engine.host])
    base += ["-f", str(tmp_path / "compose.yaml"), "-p", name]
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr
        (container,) = project(engine, name)["containers"]
        deadline = time.monotonic() + 30
        while engine.cli("inspect", "-f", "{{.State.Status}}", container["Id"]).stdout.strip() != "exited":
            assert time.monotonic() < deadline, "the container never finished"
            time.sleep(0.2)
        logs = engine.cli("logs", container["Id"])
        assert logs.stdout.split() == ["3", "MADE"] + (["NULL"] if long else []), logs.stderr
        assert "Operation not permitted" not in logs.stderr, logs.stderr  # the rule let the open through
    finally:
        subprocess.run([*base, "down"], capture_output=True, text=True, timeout=120)


@pytest.mark.spec("COMPOSE-017")
@pytest.mark.parametrize("key, value, words", [
    ("devices", "[dev/zero]", "services.dev.devices[0]: dev/zero is not an absolute path"),
    ("devices", "[/dev/zero:/dev/z:rwx]", "services.dev.devices[0]: bad mode specified: rwx"),
    ("devices", "[{source: /dev/zero, target: z}]", "services.dev.devices[0]: z is not an absolute path"),
    ("device_cgroup_rules", "['c 1:3 rwm', 'x 1:3 r']",
     "services.dev.device_cgroup_rules[1]: invalid device cgroup format 'x 1:3 r'"),
], ids=["relative", "bad-mode", "long-relative", "bad-rule"])
def test_a_bad_device_or_rule_is_refused_and_creates_nothing(engine, busybox, tmp_path, key, value, words):
    (tmp_path / "compose.yaml").write_text(f"services:\n  dev:\n    image: {busybox}\n    command: 'true'\n"
                                           f"    {key}: {value}\n")
    name = f"mdcdev{secrets.token_hex(3)}"
    result = subprocess.run([*CLI, "-H", engine.host, "compose", "-f", str(tmp_path / "compose.yaml"), "-p", name,
                             "up", "-d"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert project(engine, name) == {"containers": [], "networks": []}
