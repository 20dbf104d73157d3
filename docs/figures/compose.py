"""Chapter 10's figure: a project's start order, and what a second `up` does after a change.

Explained:  chapters/10-compose.md#the-config-hash-and-convergence

    up_plan()   SAMPLE loaded by minidock.compose.loader.load (twice: GREETING unset, then
                GREETING=hi), its order from Project (dependency_order), and the actions of
                minidock.compose.project.plan for the second load against the containers
                the first one made (labelled as Engine.up labels them)

Rules: nothing here decides an order or an action; the loader, the model and plan() do,
so the figure shows what `minidock compose up -d` would really do.
"""

from __future__ import annotations

import os
import tempfile

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, quoted

# The chapter quotes this (`::: code docs.figures.compose:SAMPLE`): the figure is drawn from it.
SAMPLE = """\
name: shop
services:
  db:
    image: busybox
    command: sh -c 'echo ready > /data/state && exec httpd -f -p 5432 -h /data'
    stop_signal: SIGKILL  # httpd has no SIGTERM handler, and PID 1 ignores what it does not handle
    volumes: ["data:/data"]
    healthcheck:
      test: wget -q -O - http://localhost:5432/state
      interval: 1s
      retries: 10
  migrate:
    image: busybox
    command: wget -q -O - http://db:5432/state
    depends_on:
      db: {condition: service_healthy}
  api:
    image: busybox
    command: sh -c 'echo "${GREETING:-hello} from api" > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  web:
    image: busybox
    command: sh -c "trap 'exit 0' TERM; while true; do wget -q -O /tmp/last http://api:8080/; sleep 1; done"
    depends_on: [api]
volumes:
  data: {}
"""

CHANGE = {"GREETING": "hi"}  # the second `up`: GREETING=hi minidock compose up -d
EXITED = {"migrate"}  # after the first up: migrate has done its work and exited 0
COLOURS = {"keep": FILL, "start": HOST, "recreate": NEW, "create": NEW, "remove": "#ffcdd2"}
CONDITIONS = {"service_started": "started", "service_healthy": "healthy",
              "service_completed_successfully": "completed"}


def _projects():
    """The sample loaded as it is and with CHANGE in the environment: two Projects."""
    from minidock.compose.loader import load
    from minidock.compose.model import Project

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "compose.yaml")
        with open(path, "w", encoding="utf-8") as file:
            file.write(SAMPLE)
        return Project(load([path], environ={})), Project(load([path], environ=dict(CHANGE)))


def up_plan() -> str:
    """The sample project in the order `up` starts it (left to right: `Project.order`, from `dependency_order`), an arrow from each service to the ones that wait for it, labelled with the `depends_on` condition waited for. In each box, what `plan()` decides on a second `up` with `GREETING=hi`: only `api`'s configuration changed, so only its container is recreated; `db` and `web` are kept running, and `migrate`, which had exited, is started again."""
    from minidock.compose import model
    from minidock.compose.project import plan

    code_name("minidock.compose.project:plan")
    code_name("minidock.compose.model:dependency_order")
    before, after = _projects()
    observed = []  # what GET /containers/json lists after the first up, by its labels
    for number, service in enumerate(before.order, 1):
        observed.append({"Id": f"id{number}", "State": "exited" if service in EXITED else "running",
                         "Labels": before.labels(service, 1)})
    actions = {action.service: action for action in plan(after, observed)}
    lines = []
    for index, service in enumerate(after.order, 1):
        action = actions[service]
        name = after.container_name(service, action.number)
        label = f"{index}. {service}\n{name}\n{action.kind}"
        lines.append(f"{service} [label={quoted(label)}, fillcolor={quoted(COLOURS[action.kind])}];")
    for service in after.order:
        for other, condition in model.conditions(after.services[service]).items():
            lines.append(f"{other} -> {service} [label={quoted(' ' + CONDITIONS[condition])}];")
    return digraph(lines, rankdir="LR")
