"""A project brought to its declared state, and taken down, through the Engine API only.

Implements: spec/compose.md COMPOSE-010 .. COMPOSE-014
Explained:  chapters/10-compose.md#up-and-down
Modelled on: docker-compose 1.29's compose/project.py (up: networks, volumes, then services
             in dependency order; convergence by config hash) and its down

    plan(project, observed, scale, force) -> [Action]          pure: what up would do
    Engine(client, out).up(project, ...) / .down(project, ...)  the actions, sent to the API

    up:   networks ─▶ volumes ─▶ images built if asked ─▶ for each service in dependency
          order: wait for what it depends on (started, healthy, completed) ─▶ each of its
          containers kept, started, recreated (config hash changed) or created; extras removed
    down: the project's containers stopped and removed ─▶ its networks ─▶ (-v) its volumes

Rules: compose is a client: it sees the engine through minidock.engine.client only.
Resources are found by their labels (com.docker.compose.project=NAME), never by name
alone, so another tool's containers are never touched.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from urllib.parse import quote, urlencode

from minidock.compose import model
from minidock.compose.loader import ComposeError
from minidock.errors import MinidockError, NotFound


@dataclasses.dataclass(frozen=True)
class Action:
    """One thing up does: "create", "recreate", "start", "keep" or "remove" a container."""

    kind: str
    service: str
    number: int
    container: str | None = None  # the existing container's ID, when there is one


def plan(project: model.Project, observed: list[dict], scale: dict[str, int] | None = None,
         force: bool = False, no_recreate: bool = False) -> list[Action]:
    """[COMPOSE-011] what up does to each service's containers; pure, from the listing of them."""
    actions: list[Action] = []
    # lab 10: begin: per service, in order: remove the extras; keep, start or recreate (hash changed) the rest; create the missing
    for service in project.order:
        wanted = project.scale(service, scale)
        current_hash = model.config_hash(project.services[service])
        mine = sorted((c for c in observed if c["Labels"].get(model.SERVICE) == service
                       and c["Labels"].get(model.ONEOFF, "False") != "True"),
                      key=lambda c: int(c["Labels"].get(model.NUMBER, "0")))
        for container in mine[wanted:]:
            actions.append(Action("remove", service, int(container["Labels"][model.NUMBER]), container["Id"]))
        for container in mine[:wanted]:
            number = int(container["Labels"][model.NUMBER])
            changed = container["Labels"].get(model.CONFIG_HASH) != current_hash
            if (changed or force) and not no_recreate:
                actions.append(Action("recreate", service, number, container["Id"]))
            elif container["State"] != "running":
                actions.append(Action("start", service, number, container["Id"]))
            else:
                actions.append(Action("keep", service, number, container["Id"]))
        taken = {int(c["Labels"][model.NUMBER]) for c in mine[:wanted]}
        number = 1
        for _ in range(wanted - len(mine[:wanted])):
            while number in taken:
                number += 1
            taken.add(number)
            actions.append(Action("create", service, number))
    # lab 10: end
    return actions


class Engine:
    """The API calls of compose's verbs, against one daemon (a minidock.engine.client.Client)."""

    def __init__(self, client, out=sys.stderr, pack=None) -> None:
        self.api = client
        self.out = out
        self.made: list[tuple[str, str, str]] = []  # what this up created: undone if it fails
        self.pack = pack  # pack(folder, dockerfile, out): a build context as a tar (the CLI's)

    def say(self, kind: str, name: str, what: str) -> None:
        print(f" {kind} {name}  {what}", file=self.out, flush=True)

    def containers(self, project: model.Project, all: bool = True, services: list[str] | None = None,
                   oneoff: bool = False) -> list[dict]:
        filters = {"label": [f"{model.PROJECT}={project.name}"]}
        listed = self.api.json("GET", "/containers/json?" + urlencode({"all": int(all), "filters": json.dumps(filters)}))
        return [c for c in listed if (not services or c["Labels"].get(model.SERVICE) in services)
                and (oneoff or c["Labels"].get(model.ONEOFF, "False") != "True")]

    # -- up -----------------------------------------------------------------------------------

    def ensure_networks(self, project: model.Project) -> None:
        for key, spec in project.networks.items():
            name = project.network_name(key)
            try:
                self.api.json("GET", f"/networks/{quote(name, safe='')}")
                continue
            except NotFound:
                if spec.get("external"):
                    raise ComposeError(f"network {name} declared as external, but could not be found") from None
            body = {"Name": name, "Driver": spec.get("driver") or "bridge", "CheckDuplicate": True,
                    "Internal": bool(spec.get("internal")), "Attachable": bool(spec.get("attachable")),
                    "Options": spec.get("driver_opts") or {},
                    "Labels": {**model._mapping(spec.get("labels")), model.PROJECT: project.name, model.NETWORK_LABEL: key}}
            ipam = spec.get("ipam") or {}
            if ipam:
                body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                                "Config": [{"Subnet": c.get("subnet"), "Gateway": c.get("gateway"), "IPRange": c.get("ip_range")}
                                           for c in ipam.get("config") or []]}
            self.api.json("POST", "/networks/create", body)
            self.made.append(("Network", "/networks/", name))
            self.say("Network", name, "Created")

    def ensure_volumes(self, project: model.Project) -> None:
        for key, spec in project.volumes.items():
            name = project.volume_name(key)
            try:
                self.api.json("GET", f"/volumes/{quote(name, safe='')}")
                continue
            except NotFound:
                if spec.get("external"):
                    raise ComposeError(f"volume {name} declared as external, but could not be found") from None
            self.api.json("POST", "/volumes/create", {
                "Name": name, "Driver": spec.get("driver") or "local", "DriverOpts": spec.get("driver_opts") or {},
                "Labels": {**model._mapping(spec.get("labels")), model.PROJECT: project.name, model.VOLUME_LABEL: key}})
            self.made.append(("Volume", "/volumes/", name))
            self.say("Volume", name, "Created")

    def build(self, project: model.Project, services: list[str] | None = None, always: bool = True,
              no_cache: bool = False) -> None:
        """Build the services that have `build:` (only those without an image yet unless ``always``)."""
        import tempfile

        for name in services or project.order:
            spec = project.services[name].get("build")
            if not spec:
                continue
            image = project.image_name(name)
            if not always:
                try:
                    self.api.json("GET", f"/images/{quote(image, safe='')}/json")
                    continue
                except NotFound:
                    pass
            spec = {"context": spec} if isinstance(spec, str) else spec
            folder = model.os.path.join(project.folder, spec.get("context") or ".")
            dockerfile = spec.get("dockerfile") or "Dockerfile"
            query = [("t", image), ("dockerfile", dockerfile), ("rm", "1"),
                     ("buildargs", json.dumps({k: v for k, v in model._mapping(spec.get("args")).items()})),
                     ("labels", json.dumps(model._mapping(spec.get("labels"))))]
            if spec.get("target"):
                query.append(("target", spec["target"]))
            if no_cache:
                query.append(("nocache", "1"))
            with tempfile.TemporaryFile() as context:
                if self.pack is None:
                    raise ComposeError(f"service {name!r} needs a build, and no context packer was given")
                self.pack(folder, dockerfile, context)
                context.seek(0)
                response = self.api.stream("POST", "/build?" + urlencode(query), context,
                                           {"Content-Type": "application/x-tar"})
            with response:
                for line in response:
                    message = json.loads(line) if line.strip() else {}
                    if "error" in message:
                        raise ComposeError(f"failed to build {name}: {message['error']}")
            self.say("Image", image, "Built")

    def up(self, project: model.Project, services: list[str] | None = None, build: bool = False,
           scale: dict[str, int] | None = None, remove_orphans: bool = False, force_recreate: bool = False,
           no_recreate: bool = False, start: bool = True) -> list[str]:
        """Converge; return the IDs of the project's containers that run now.

        [COMPOSE-013] If a step fails (a port taken, an image missing), what this call
        created is removed again before the error is raised: nothing half-created is left.
        """
        self.made = []
        try:
            return self._up(project, services, build, scale, remove_orphans, force_recreate, no_recreate, start)
        except (MinidockError, ComposeError):
            for kind, collection, name in reversed(self.made):
                if kind == "Container":
                    self._remove(name, name)
                else:
                    self._delete(kind, collection, name, MinidockError)
            raise

    def _up(self, project, services, build, scale, remove_orphans, force_recreate, no_recreate, start) -> list[str]:
        self.ensure_networks(project)
        self.ensure_volumes(project)
        self.build(project, always=build)
        observed = self.containers(project)
        orphans = [c for c in observed if c["Labels"].get(model.SERVICE) not in project.services]
        for container in orphans:
            name = container["Names"][0].lstrip("/")
            if remove_orphans:
                self._remove(container["Id"], name)
            else:
                print(f"WARN Found orphan containers ([{name}]) for this project. If you removed or renamed this "
                      "service in your compose file, you can run this command with the --remove-orphans flag to "
                      "clean it up.", file=self.out)
        wanted = set(services or project.order)
        for service in services or []:
            wanted |= _needed(project, service)
        started: list[str] = []
        for action in plan(project, observed, scale, force_recreate, no_recreate):
            if action.service not in wanted:
                continue
            self._wait_for(project, action.service)
            name = project.container_name(action.service, action.number)
            if action.kind == "remove":
                self._remove(action.container, name)
                continue
            if action.kind == "recreate":
                self.say("Container", name, "Recreate")
                self._remove(action.container, name, quiet=True)
            if action.kind in ("create", "recreate"):
                container_id = self._create(project, action.service, action.number)
                self.made.append(("Container", "/containers/", container_id))
                self.say("Container", name, "Created" if action.kind == "create" else "Recreated")
            else:
                container_id = action.container
            if start and action.kind != "keep":
                self.api.json("POST", f"/containers/{container_id}/start")
                self.say("Container", name, "Started")
            elif action.kind == "keep":
                self.say("Container", name, "Running")
            started.append(container_id)
        return started

    def _create(self, project: model.Project, service: str, number: int) -> str:
        name, body = project.create_body(service, number)
        try:
            created = self.api.json("POST", f"/containers/create?name={quote(name, safe='')}", body)
        except NotFound as error:
            if "image" not in error.message.lower():
                raise
            self._pull(body["Image"])
            created = self.api.json("POST", f"/containers/create?name={quote(name, safe='')}", body)
        container_id = created["Id"]
        for key in list(project.service_networks(service))[1:]:
            self.api.json("POST", f"/networks/{quote(project.network_name(key), safe='')}/connect",
                          {"Container": container_id, "EndpointConfig": project.endpoint(service, key)})
        return container_id

    def _pull(self, image: str) -> None:
        name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        response = self.api.stream("POST", "/images/create?" + urlencode({"fromImage": name, "tag": tag or "latest"}))
        with response:
            for line in response:
                message = json.loads(line) if line.strip() else {}
                if "error" in message:
                    raise ComposeError(f"pull access denied for {image}: {message['error']}")

    def _remove(self, container_id: str, name: str, quiet: bool = False) -> None:
        try:
            self.api.json("POST", f"/containers/{container_id}/stop?t=10")
        except MinidockError:
            pass  # not running: removed below all the same
        self.api.json("DELETE", f"/containers/{container_id}?force=1")
        if not quiet:
            self.say("Container", name, "Removed")

    def _wait_for(self, project: model.Project, service: str) -> None:
        """[COMPOSE-012] what ``service`` depends on: started, healthy, or completed successfully."""
        for other, condition in model.conditions(project.services[service]).items():
            if condition == "service_started":
                continue
            deadline = time.monotonic() + 300
            while True:
                containers = self.containers(project, services=[other])
                if not containers:
                    raise ComposeError(f"service {service!r} depends on {other!r}, which has no container")
                states = [self.api.json("GET", f"/containers/{c['Id']}/json")["State"] for c in containers]
                if condition == "service_healthy":
                    if any((s.get("Health") or {}).get("Status") == "unhealthy" for s in states):
                        raise ComposeError(f"dependency failed to start: container for service {other!r} is unhealthy")
                    if all((s.get("Health") or {}).get("Status") == "healthy" for s in states):
                        break
                elif condition == "service_completed_successfully":
                    if all(s["Status"] == "exited" for s in states):
                        failed = [s["ExitCode"] for s in states if s["ExitCode"] != 0]
                        if failed:
                            raise ComposeError(f"service {other!r} didn't complete successfully: exit {failed[0]}")
                        break
                if time.monotonic() > deadline:
                    raise ComposeError(f"timed out waiting for {other!r} to be {condition.split('_', 1)[1]}")
                time.sleep(0.2)

    # -- down -----------------------------------------------------------------------------------

    def down(self, project: model.Project, volumes: bool = False, rmi: str | None = None,
             remove_orphans: bool = False, timeout: int = 10) -> None:
        for container in self.containers(project, oneoff=True):
            service = container["Labels"].get(model.SERVICE)
            if service not in project.services and not remove_orphans:
                continue
            name = container["Names"][0].lstrip("/")
            if container["State"] == "running":
                self.api.json("POST", f"/containers/{container['Id']}/stop?t={timeout}")
                self.say("Container", name, "Stopped")
            self.api.json("DELETE", f"/containers/{container['Id']}?v=1&force=1")
            self.say("Container", name, "Removed")
        for key, spec in project.networks.items():
            if not spec.get("external"):
                self._delete("Network", "/networks/", project.network_name(key))
        for key, spec in project.volumes.items():
            if volumes and not spec.get("external"):
                self._delete("Volume", "/volumes/", project.volume_name(key))
        for service_name, service in project.services.items():
            if rmi == "all" or (rmi == "local" and not service.get("image")):
                self._delete("Image", "/images/", project.image_name(service_name), MinidockError)

    def _delete(self, kind: str, collection: str, name: str, ignore: type = NotFound) -> None:
        """DELETE one network, volume or image by name; gone already is fine."""
        try:
            self.api.json("DELETE", collection + quote(name, safe=""))
            self.say(kind, name, "Removed")
        except ignore:
            pass


def _needed(project: model.Project, service: str) -> set[str]:
    """A service and everything it depends on, transitively (up SERVICE starts them too)."""
    found, todo = set(), [service]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        if name not in project.services:
            raise ComposeError(f"no such service: {name}")
        found.add(name)
        todo.extend(model.conditions(project.services[name]))
    return found
