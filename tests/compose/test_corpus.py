"""A corpus of compose files, valid and not: our loader's verdict, and docker-compose 1.29's beside it.

Written here in the style of the Compose Specification's examples (services with build,
ports, volumes, networks, healthchecks, depends_on conditions, deploy, extends, profiles,
anchors); none needs a registry. docker-compose 1.29 validates with the same
specification's schema (its own copy, older), so where both know the keys they must agree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

VALID = {
    "minimal": "services:\n  web:\n    image: busybox\n",
    "build-and-ports": """
        services:
          frontend:
            build:
              context: .
              dockerfile: Dockerfile
              args: {MODE: prod}
              target: runtime
            ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp", {target: 443, published: "8443", protocol: tcp}]
            expose: ["3000"]
        """,
    "volumes-long-and-short": """
        services:
          db:
            image: busybox
            volumes:
              - db-data:/var/lib/db
              - ./conf:/etc/conf:ro
              - type: tmpfs
                target: /cache
                tmpfs: {size: 1000000}
              - type: bind
                source: ./static
                target: /static
                read_only: true
        volumes:
          db-data:
            driver: local
            labels: {backup: "daily"}
        """,
    "networks-aliases-ipam": """
        services:
          app:
            image: busybox
            networks:
              front: {aliases: [api]}
              back: {ipv4_address: 172.30.5.10}
        networks:
          front: {}
          back:
            internal: true
            ipam:
              config: [{subnet: 172.30.5.0/24, gateway: 172.30.5.1}]
        """,
    "healthcheck-and-conditions": """
        services:
          db:
            image: busybox
            healthcheck: {test: ["CMD", "true"], interval: 10s, timeout: 5s, retries: 3, start_period: 30s}
          migrate:
            image: busybox
            command: ["echo", "migrated"]
          web:
            image: busybox
            depends_on:
              db: {condition: service_healthy}
              migrate: {condition: service_completed_successfully}
        """,
    "deploy-and-limits": """
        services:
          worker:
            image: busybox
            deploy:
              replicas: 3
              resources:
                limits: {cpus: "0.50", memory: 50M, pids: 100}
            restart: unless-stopped
            mem_limit: 64m
            init: true
            cap_drop: [ALL]
            cap_add: [NET_BIND_SERVICE]
        """,
    "environment-forms": """
        services:
          a:
            image: busybox
            environment: [A=1, B]
            env_file: [.env.example]
            labels: [com.example.one=1]
          b:
            image: busybox
            environment: {C: "3", D: null}
            labels: {com.example.two: "2"}
        """,
    "extends-profiles-anchors": """
        x-common: &common
          image: busybox
          restart: "no"
        services:
          base:
            <<: *common
            command: sleep 1
          debug:
            extends: {service: base}
            profiles: [debug]
        """,
    "top-level-name": "name: myproject\nservices:\n  web:\n    image: busybox\n    container_name: my-web\n",
}

# keys docker-compose 1.29's older copy of the schema does not know yet: only our verdict counts
NEWER_THAN_1_29 = {"deploy-and-limits": "deploy.resources.limits.pids", "top-level-name": "the top-level name"}

INVALID = {
    "unknown-service-key": ("services:\n  web:\n    image: busybox\n    imag: x\n", "additional properties 'imag'"),
    "ports-not-a-list": ("services:\n  web:\n    image: busybox\n    ports: 80\n", "services.web.ports"),
    "bad-restart-type": ("services:\n  web:\n    image: busybox\n    restart: [always]\n", "services.web.restart"),
    "unknown-top-level": ("services:\n  web:\n    image: busybox\nsecret: {}\n", "additional properties 'secret'"),
    "networks-wrong-type": ("services:\n  web:\n    image: busybox\n    networks: front\n", "services.web.networks"),
    "depends-on-bad-condition": ("services:\n  a:\n    image: busybox\n    depends_on:\n      b: {condition: whenever}\n"
                                 "  b:\n    image: busybox\n", "services.a.depends_on"),
    "healthcheck-unknown-key": ("services:\n  web:\n    image: busybox\n    healthcheck: {tset: [CMD, 'true']}\n",
                                "additional properties 'tset'"),
    "yaml-syntax": ("services:\n  web:\n    image: [busybox\n", "line"),
}


def _write(tmp_path, text: str) -> str:
    (tmp_path / ".env.example").write_text("X=1\n")
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def _ours(path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "minidock.cli.main", "compose", "-f", path, "-p", "corpus",
                           "config", "-q"], capture_output=True, text=True, timeout=60)


def _docker_compose(path: str) -> subprocess.CompletedProcess | None:
    if shutil.which("docker-compose") is None:
        return None
    return subprocess.run(["docker-compose", "-f", path, "-p", "corpus", "config", "-q"], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.spec("COMPOSE-001")
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_files_are_accepted(tmp_path, name):
    path = _write(tmp_path, VALID[name])
    ours = _ours(path)
    assert ours.returncode == 0, ours.stderr
    theirs = _docker_compose(path) if name not in NEWER_THAN_1_29 else None
    if theirs is not None:
        assert theirs.returncode == 0, theirs.stderr


@pytest.mark.spec("COMPOSE-001", "COMPOSE-002")
@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_files_are_refused_by_both(tmp_path, name):
    text, words = INVALID[name]
    path = _write(tmp_path, text)
    ours = _ours(path)
    assert ours.returncode == 1 and words in ours.stderr, ours.stderr
    theirs = _docker_compose(path)
    if theirs is not None:
        assert theirs.returncode != 0
