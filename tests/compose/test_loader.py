"""Loading compose files: YAML, interpolation, merging, extends, the schema, the name. Pure."""

from __future__ import annotations

import textwrap

import pytest

from minidock.compose.loader import ComposeError, interpolate, load
from minidock.compose.model import Project, config_hash, dependency_order, parse_port


def write(folder, name: str, text: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


@pytest.mark.spec("COMPOSE-001")
@pytest.mark.parametrize("text, words", [
    ("services:\n  web:\n    image: x\n    imagee: y\n", "services.web additional properties 'imagee' not allowed"),
    ("services:\n  web:\n    image: x\n    ports: 80\n", "services.web.ports: must be a array"),
    ("services:\n  web:\n    image: x\n    ports: [true]\n", "services.web.ports[0]"),
    ("version: '3'\nservicez: {}\n", "additional properties 'servicez' not allowed"),
])
def test_the_schema_names_the_place(tmp_path, text, words):
    with pytest.raises(ComposeError) as caught:
        load([write(tmp_path, "compose.yaml", text)], environ={})
    assert words in caught.value.message and "compose.yaml" in caught.value.message


@pytest.mark.spec("COMPOSE-002")
def test_yaml_errors_name_line_and_column(tmp_path):
    with pytest.raises(ComposeError) as caught:
        load([write(tmp_path, "compose.yaml", "services:\n  web:\n    image: [x\n")], environ={})
    assert "line 4" in caught.value.message or "line 3" in caught.value.message
    assert "column" in caught.value.message


@pytest.mark.spec("COMPOSE-004")
def test_interpolation_from_the_environment_over_dotenv(tmp_path):
    write(tmp_path, ".env", "TAG=from-dotenv\nPORT=8080\n# comment\nQUOTED=\"a b\"\n")
    path = write(tmp_path, "compose.yaml", """
        services:
          web:
            image: "busybox:${TAG}"
            ports: ["${PORT:-80}:80"]
            environment:
              Q: $QUOTED
              UNSET: "${NOPE-fallback}"
              EMPTY: "${EMPTYVAR:-was-empty}"
              ALT: "${TAG:+alt}"
              DOLLAR: "$$HOME"
        """)
    document = load([path], environ={"TAG": "from-env", "EMPTYVAR": ""})
    web = document["services"]["web"]
    assert web["image"] == "busybox:from-env" and web["ports"] == ["8080:80"]
    assert web["environment"] == {"Q": "a b", "UNSET": "fallback", "EMPTY": "was-empty", "ALT": "alt", "DOLLAR": "$HOME"}


@pytest.mark.spec("COMPOSE-004")
def test_a_required_variable_stops_the_load(tmp_path):
    path = write(tmp_path, "compose.yaml", "services:\n  web:\n    image: ${IMAGE:?set IMAGE first}\n")
    with pytest.raises(ComposeError) as caught:
        load([path], environ={})
    assert "required variable IMAGE is missing a value: set IMAGE first" in caught.value.message
    with pytest.raises(ComposeError):
        interpolate("${bad name}", {}, "x")


@pytest.mark.spec("COMPOSE-003")
def test_files_merge_in_order_and_extends_resolves(tmp_path):
    base = write(tmp_path, "compose.yaml", """
        services:
          web:
            image: busybox
            command: ["echo", "base"]
            environment: [A=1, B=2]
            ports: ["80:80"]
            volumes: ["data:/data", "./x:/x"]
          child:
            extends: web
            environment: {C: "3"}
        volumes:
          data: {}
        """)
    override = write(tmp_path, "compose.override.yaml", """
        services:
          web:
            command: echo override
            environment: {B: "two"}
            ports: ["443:443"]
            volumes: ["other:/data"]
        volumes:
          other: {}
        """)
    document = load([base, override], environ={})
    web, child = document["services"]["web"], document["services"]["child"]
    assert web["command"] == "echo override"
    assert web["environment"] == {"A": "1", "B": "two"}
    assert web["ports"] == ["80:80", "443:443"]
    assert sorted(web["volumes"]) == ["./x:/x", "other:/data"]
    # extends is resolved on the merged files: the child sees the override's B
    assert child["image"] == "busybox" and child["environment"] == {"A": "1", "B": "two", "C": "3"}
    loop = write(tmp_path, "loop.yaml", "services:\n  a: {extends: b}\n  b: {extends: a}\n")
    with pytest.raises(ComposeError, match="circular reference with extends"):
        load([loop], environ={})


@pytest.mark.spec("COMPOSE-005")
def test_the_project_name(tmp_path):
    folder = tmp_path / "My App!"
    folder.mkdir()
    path = write(folder, "compose.yaml", "services:\n  web: {image: busybox}\n")
    assert load([path], environ={})["name"] == "myapp"
    assert load([path], environ={"COMPOSE_PROJECT_NAME": "fromenv"})["name"] == "fromenv"
    assert load([path], environ={}, name="explicit")["name"] == "explicit"
    named = write(folder, "named.yaml", "name: fromfile\nservices:\n  web: {image: busybox}\n")
    assert load([named], environ={})["name"] == "fromfile"
    with pytest.raises(ComposeError, match="invalid project name"):
        load([path], environ={}, name="Bad Name")


@pytest.mark.spec("COMPOSE-006")
def test_profiles(tmp_path):
    path = write(tmp_path, "compose.yaml", """
        services:
          web: {image: busybox}
          debug: {image: busybox, profiles: [dev]}
        """)
    assert list(load([path], environ={})["services"]) == ["web"]
    assert list(load([path], environ={}, profiles=("dev",))["services"]) == ["web", "debug"]
    assert list(load([path], environ={"COMPOSE_PROFILES": "dev"})["services"]) == ["web", "debug"]


@pytest.mark.spec("COMPOSE-008")
def test_dependency_order_and_cycles():
    services = {"web": {"depends_on": ["db", "cache"]}, "db": {}, "cache": {"depends_on": {"db": {"condition": "service_healthy"}}},
                "side": {"network_mode": "service:web"}}
    order = dependency_order(services)
    assert order.index("db") < order.index("cache") < order.index("web") < order.index("side")
    with pytest.raises(ComposeError, match="dependency cycle detected: a -> b -> a"):
        dependency_order({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}})
    with pytest.raises(ComposeError, match="undefined service 'nope'"):
        dependency_order({"a": {"depends_on": ["nope"]}})


@pytest.mark.spec("COMPOSE-007")
@pytest.mark.parametrize("entry, expected", [
    ("80", [{"target": 80, "published": "", "host_ip": "", "protocol": "tcp"}]),
    ("8080:80", [{"target": 80, "published": "8080", "host_ip": "", "protocol": "tcp"}]),
    ("127.0.0.1:53:53/udp", [{"target": 53, "published": "53", "host_ip": "127.0.0.1", "protocol": "udp"}]),
    ("9000-9001:90-91", [{"target": 90, "published": "9000", "host_ip": "", "protocol": "tcp"},
                         {"target": 91, "published": "9001", "host_ip": "", "protocol": "tcp"}]),
    ({"target": 80, "published": 8081, "protocol": "tcp"}, [{"target": 80, "published": "8081", "host_ip": "", "protocol": "tcp"}]),
])
def test_ports(entry, expected):
    assert parse_port(entry, "services.web.ports[0]") == expected


@pytest.mark.spec("COMPOSE-007", "COMPOSE-009")
def test_a_service_as_a_create_body(tmp_path):
    path = write(tmp_path, "compose.yaml", """
        name: shop
        services:
          web:
            build: ./web
            command: sh -c 'echo hi'
            ports: ["127.0.0.1:8080:80"]
            expose: [9000]
            environment: {A: "1"}
            volumes: ["data:/data", "./html:/html:ro", {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}]
            networks: {front: {aliases: [www]}, back: {}}
            healthcheck: {test: "true", interval: 1m30s, retries: 2}
            deploy: {resources: {limits: {memory: 64M, cpus: "0.5"}}}
            restart: on-failure:3
            labels: {team: a}
        networks: {front: {}, back: {}}
        volumes: {data: {}}
        """)
    project = Project(load([path], environ={}))
    name, body = project.create_body("web", 1)
    assert name == "shop-web-1" and body["Image"] == "shop-web"
    assert body["Cmd"] == ["sh", "-c", "echo hi"] and body["Env"] == ["A=1"]
    assert body["ExposedPorts"] == {"80/tcp": {}, "9000/tcp": {}}
    host = body["HostConfig"]
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert host["Binds"] == ["shop_data:/data", f"{tmp_path}/html:/html:ro"]
    assert host["Mounts"] == [{"Type": "tmpfs", "Target": "/tmp", "ReadOnly": False, "TmpfsOptions": {"SizeBytes": 1048576}}]
    assert host["Memory"] == 64 * 1024 * 1024 and host["NanoCpus"] == 500_000_000
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["NetworkMode"] == "shop_front"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"shop_front": {"Aliases": ["web", "www"]}}}
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000, "Retries": 2}
    labels = body["Labels"]
    assert labels["team"] == "a" and labels["com.docker.compose.project"] == "shop"
    assert labels["com.docker.compose.service"] == "web" and labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.config-hash"] == config_hash(project.services["web"])
    changed = dict(project.services["web"], environment={"A": "2"})
    assert config_hash(changed) != config_hash(project.services["web"])


@pytest.mark.spec("COMPOSE-001")
@pytest.mark.parametrize("text, words", [
    ("services:\n  web:\n    image: busybox\n    networks: [front]\n", "refers to undefined network front"),
    ("services:\n  web:\n    image: busybox\n    volumes: ['data:/data']\n", "refers to undefined volume data"),
    ("services:\n  web:\n    image: busybox\n    volumes: [{type: volume, source: d2, target: /d}]\n",
     "refers to undefined volume d2"),
])
def test_undeclared_networks_and_volumes_are_refused(tmp_path, text, words):
    with pytest.raises(ComposeError) as caught:
        load([write(tmp_path, "compose.yaml", text)], environ={})
    assert words in caught.value.message and "invalid compose project" in caught.value.message
    # a bind mount, an anonymous volume and the default network need no declaration
    ok = "services:\n  web:\n    image: busybox\n    volumes: ['./x:/x', '/anon']\n    networks: [default]\n"
    assert load([write(tmp_path, "ok.yaml", ok)], environ={})["services"]["web"]


@pytest.mark.spec("COMPOSE-003", "COMPOSE-005")
def test_include_and_the_project_name_in_interpolation(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    write(other, ".env", "TAG=from-its-env\n")
    write(other, "compose.yaml", "services:\n  serviceB:\n    image: busybox:${TAG}\nvolumes:\n  shared: {}\n")
    path = write(tmp_path, "compose.yaml", """
        name: proj
        include:
          - other/compose.yaml
        services:
          serviceA:
            image: busybox
            depends_on: [serviceB]
            volumes: ["shared:/s"]
            command: echo "I'm running ${COMPOSE_PROJECT_NAME}"
        """)
    document = load([path], environ={})
    assert document["services"]["serviceB"]["image"] == "busybox:from-its-env"
    assert document["services"]["serviceA"]["command"] == "echo \"I'm running proj\""
    assert "shared" in document["volumes"]
    long = write(tmp_path, "long.yaml", "include:\n  - path: [other/compose.yaml]\n    env_file: other/.env\n"
                 "services:\n  serviceB:\n    image: busybox:different\n")
    with pytest.raises(ComposeError, match="defines conflicting service serviceB"):
        load([long], environ={})
