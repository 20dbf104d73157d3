"""The agent: on every node, makes the local engine run the tasks the managers gave this node.

Implements: spec/swarm.md SWARM-002, SWARM-011, SWARM-025, SWARM-028, SWARM-041, SWARM-051
Explained:  chapters/11-swarm.md#the-agent
Modelled on: swarmkit's agent and its container executor (docker/swarmkit agent/exec/dockerapi)

    Agent(store, node_id, engine).run()    on every change under tasks/ (and every second):
        a task assigned here    -> create and start its container, report preparing .. running
        a health check          -> starting until its container is healthy; unhealthy: stopped, failed
        its container exited    -> report complete or failed (with the exit code)
        desired shutdown/remove -> stop (and remove) its container, report shutdown
        a container whose task is gone from the store -> removed

    container_config(task) -> the body of POST /containers/create      pure

Rules: the agent talks to its engine only through the Engine API (the engine's Client),
writes only the status/ keys of its own tasks, and every state it writes goes through
model.transition(), so that a task's state never goes backwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import urllib.parse

from minidock.engine.client import Client
from minidock.errors import MinidockError, NotFound
from minidock.swarm import objects, secrets
from minidock.swarm.networks import NetworkAgent, report_addresses
from minidock.swarm.model import SECOND, TaskState, TaskStateError, transition
from minidock.swarm.store import Store

log = logging.getLogger("minidock.swarm.agent")
TASK_LABEL = "com.docker.swarm.task.id"
UNHEALTHY = "dockerexec: unhealthy container"  # moby's executor: ErrContainerUnhealthy
HEALTH_POLL = 0.25  # seconds between two looks at a starting container's health


def container_name(task: dict) -> str:
    """Docker's task container name: SERVICE.SLOT.TASKID (a global task: SERVICE.NODEID.TASKID)."""
    return f"{task['_service_name']}.{task['Slot'] or task['NodeID']}.{task['ID']}"


def container_config(task: dict) -> dict:
    """The container a task runs: its ContainerSpec and Resources in the engine's create body."""
    spec = task["Spec"].get("ContainerSpec") or {}
    limits = (task["Spec"].get("Resources") or {}).get("Limits") or {}
    labels = {**(spec.get("Labels") or {}),
              "com.docker.swarm.service.id": task["ServiceID"], "com.docker.swarm.service.name": task["_service_name"],
              "com.docker.swarm.task": "", "com.docker.swarm.task.id": task["ID"],
              "com.docker.swarm.task.name": container_name(task).rsplit(".", 1)[0] + "." + task["ID"],
              "com.docker.swarm.node.id": task["NodeID"]}
    host = {"Memory": limits.get("MemoryBytes", 0), "NanoCpus": limits.get("NanoCPUs", 0),
            "RestartPolicy": {"Name": "no"},  # restarts are the managers' decision, not the engine's
            "Mounts": spec.get("Mounts") or []}  # the Engine API's Mount objects, as the service gave them
    ports = [p for p in (task.get("_ports") or []) if p.get("PublishMode") == "host" and p.get("PublishedPort")]
    if ports:
        host["PortBindings"] = {f"{p['TargetPort']}/{p.get('Protocol', 'tcp')}": [{"HostPort": str(p["PublishedPort"])}]
                                for p in ports}
    config = {"Image": spec["Image"], "Env": spec.get("Env") or [], "Labels": labels, "HostConfig": host,
              "Hostname": spec.get("Hostname") or "", "WorkingDir": spec.get("Dir") or "",
              "User": spec.get("User") or "", "Tty": bool(spec.get("TTY"))}
    if spec.get("Healthcheck"):
        config["Healthcheck"] = spec["Healthcheck"]  # [SWARM-051] the engine runs it; the agent reads its verdict
    if spec.get("Command"):
        config["Entrypoint"] = spec["Command"]
    if spec.get("Args"):
        config["Cmd"] = spec["Args"]
    return config


def has_healthcheck(config: dict) -> bool:
    """Whether a container's config (its own or its image's) has a health check (Test ["NONE"] has none)."""
    test = (config.get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def endpoint(attachment: dict, task: dict) -> dict:
    """The EndpointConfig of a task on one of its networks: the address the managers chose."""
    return {"IPAMConfig": {"IPv4Address": attachment["Addresses"][0].split("/")[0]},
            "Aliases": []}  # the service name answers with the VIP, not with each task


class Agent:
    """Runs this node's tasks on the local engine and reports their states."""

    def __init__(self, store: Store, node_id: str, engine: Client, address: str = "") -> None:
        self.store, self.node_id, self.engine = store, node_id, engine
        self.busy: set[str] = set()      # tasks with an engine call in flight
        self.jobs: set[asyncio.Task] = set()
        self.networks = NetworkAgent(store, node_id, address, self._engine)

    async def run(self) -> None:
        wake = asyncio.Event()
        watcher = asyncio.create_task(self.store.wake_on_change("tasks/", wake))
        try:
            while True:
                try:
                    await self.pass_once()
                except MinidockError as error:
                    log.warning("agent: %s", error.message)
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            watcher.cancel()


    async def _engine(self, method: str, path: str, body=None):
        return await asyncio.to_thread(self.engine.json, method, path, body)

    async def pass_once(self) -> None:
        """Compare this node's tasks with the engine's containers and start what must change."""
        # A job that ends while the reads below await has changed what they read: a start
        # read as "starting" may be running by the time its container is listed, and would
        # be taken for one the agent abandoned (and killed). Its task waits for the next pass.
        busy_while_reading = set(self.busy)
        everything = [e.value for e in await self.store.prefix("tasks/")]
        tasks = {task["ID"]: task for task in everything if task.get("NodeID") == self.node_id}
        statuses = {e.key.rsplit("/", 1)[1]: e.value for e in await self.store.prefix("status/")}
        wanted = urllib.parse.quote(json.dumps({"label": [f"com.docker.swarm.node.id={self.node_id}"]}))
        containers = {c["Labels"].get(TASK_LABEL): c
                      for c in await self._engine("GET", f"/containers/json?all=1&filters={wanted}")}
        for task_id, task in tasks.items():
            if task_id in self.busy or task_id in busy_while_reading:
                continue
            status = statuses.get(task_id) or {"State": "new"}
            job = self._decide(task, status, containers.get(task_id))
            if job is not None:
                self._spawn(task_id, job)
        for task_id, container in containers.items():
            if task_id not in tasks and task_id not in self.busy and task_id not in busy_while_reading:
                # the managers forgot this task (service removed, history trimmed): its container goes too
                self._spawn(task_id, self._engine("DELETE", f"/containers/{container['Id']}?force=1"))
        services = [e.value for e in await self.store.prefix("services/")]
        nodes = {e.key.rsplit("/", 1)[1]: e.value for e in await self.store.prefix("nodes/")}
        await self.networks.sync(everything, statuses, services, nodes)

    def _spawn(self, task_id: str, job) -> None:
        async def guarded() -> None:
            try:
                await job
            except MinidockError as error:
                log.warning("task %s: %s", task_id, error.message)
            finally:
                self.busy.discard(task_id)
        self.busy.add(task_id)
        handle = asyncio.create_task(guarded())
        self.jobs.add(handle)
        handle.add_done_callback(self.jobs.discard)

    def _decide(self, task: dict, status: dict, container: dict | None):
        """The job a task needs now, or None."""
        state = TaskState(status["State"])
        if task["DesiredState"] != "running":
            if container is not None and container["State"] in ("running", "restarting", "paused"):
                return self._stop(task, status, container)
            if task["DesiredState"] == "remove" and container is not None:
                return self._engine("DELETE", f"/containers/{container['Id']}?force=1")
            if not state.terminal:
                return self._report(task, status, TaskState.SHUTDOWN, "shutdown")
            return None
        if state == TaskState.ASSIGNED and container is None:
            return self._start(task, status)
        if state in (TaskState.PREPARING, TaskState.STARTING):
            # no job of ours holds it (the task is not busy): this process died while starting it
            return self._abandoned(task, status, container)
        if state == TaskState.RUNNING and container is not None and container["State"] == "running" \
                and container.get("Status", "").endswith("(unhealthy)"):
            return self._unhealthy(task, status, container["Id"])
        if state == TaskState.RUNNING and (container is None or container["State"] in ("exited", "dead")):
            return self._ended(task, status, container)
        return None

    async def _report(self, task: dict, status: dict, state: TaskState, message: str, **more) -> dict:
        """Write the task's new observed state, if the state machine allows it."""
        try:
            transition(TaskState(status["State"]), state)
        except TaskStateError as error:
            log.warning("task %s: %s", task["ID"], error.message)
            return status
        now = time.time()
        status = {**{k: v for k, v in status.items() if k not in ("Err",)}, "State": state.value,
                  "Message": message, "Timestamp": objects.timestamp(now), "_changed": now, **more}
        await self.store.put(f"status/{task['ID']}", status)
        return status

    async def _start(self, task: dict, status: dict) -> None:
        status = await self._report(task, status, TaskState.PREPARING, "preparing")
        spec = task["Spec"].get("ContainerSpec") or {}
        references = [(kind, r) for kind in secrets.KINDS for r in spec.get(kind.field) or []]
        try:
            config = container_config(task)
            if references:
                image = await self._engine("GET", f"/images/{urllib.parse.quote(config['Image'], safe='')}/json")
                files = await self._files(spec, references)
                config = secrets.with_files(config, image.get("Config") or {}, files)
            joined = [a["Network"]["Spec"]["Name"] for a in task.get("NetworksAttachments") or []]
            for attachment in task.get("NetworksAttachments") or []:
                record = (await self.store.get(f"networks/{attachment['Network']['Spec']['Name']}")).value
                await self.networks.ensure(record)  # [SWARM-004] the cluster's overlay, made here on first use
            if joined:  # the create body takes one network; the others are connected before the start
                first = task["NetworksAttachments"][0]
                config["HostConfig"]["NetworkMode"] = joined[0]
                config["NetworkingConfig"] = {"EndpointsConfig": {joined[0]: endpoint(first, task)}}
            created = await self._engine("POST", f"/containers/create?name={container_name(task)}", config)
            for attachment in (task.get("NetworksAttachments") or [])[1:]:
                await self._engine("POST", f"/networks/{attachment['Network']['Spec']['Name']}/connect",
                                   {"Container": created["Id"], "EndpointConfig": endpoint(attachment, task)})
        except MinidockError as error:
            # [SWARM-025] an image this engine does not have: the task is rejected, with the engine's words
            await self._report(task, status, TaskState.REJECTED, "rejected", Err=error.message)
            return
        status = await self._report(task, status, TaskState.STARTING, "starting",
                                    ContainerStatus={"ContainerID": created["Id"], "PID": 0, "ExitCode": 0})
        try:
            await self._engine("POST", f"/containers/{created['Id']}/start")
            if references:
                # [SWARM-028] [SWARM-041] the secrets and configs go into the container's tmpfs, from memory
                await asyncio.to_thread(secrets.deliver, self.engine, created["Id"], files)
            inspected = await self._engine("GET", f"/containers/{created['Id']}/json")
        except (MinidockError, OSError) as error:
            await self._report(task, status, TaskState.FAILED, "starting", Err=getattr(error, "message", str(error)))
            return
        if has_healthcheck(inspected["Config"]):
            verdict = await self._wait_healthy(task, created["Id"])
            if verdict == "unwanted":
                return  # stopped while starting (service removed, slot updated): the next pass stops it
            if verdict != "healthy":
                await self._report(task, status, TaskState.FAILED, "starting", Err=verdict)
                return
        addresses = await report_addresses(self._engine, created["Id"], joined) if joined else {}
        await self._report(task, status, TaskState.RUNNING, "started",
                           ContainerStatus={"ContainerID": created["Id"], "PID": inspected["State"]["Pid"],
                                            "ExitCode": 0}, _attachments=addresses)

    async def _files(self, spec: dict, references: list) -> list:
        """The files of a task's secrets and configs, their data read from the store."""
        data = {}
        for kind, reference in references:
            entry = await self.store.get(f"{kind.word}s/{reference[kind.id_field]}")
            if entry is None:
                raise NotFound(f"{kind.word} {reference.get(kind.name_field) or reference[kind.id_field]} not found")
            data[reference[kind.id_field]] = base64.b64decode(entry.value["_data"])
        return secrets.plan_files(spec, data)

    async def _wait_healthy(self, task: dict, container_id: str) -> str:
        """[SWARM-051] A container with a health check is `starting` until its first verdict, as
        swarmkit's executor waits for `health_status: healthy`: "healthy", "unwanted" (the task's
        desired state changed meanwhile), or the task's error once an unhealthy container is stopped."""
        while True:
            state = (await self._engine("GET", f"/containers/{container_id}/json"))["State"]
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                return "healthy"
            entry = await self.store.get(f"tasks/{task['ID']}")
            if entry is None or entry.value["DesiredState"] != "running":
                # asked first: a container stopped because its task is no longer wanted (an update
                # or a rollback replacing it) has not failed, though it is not running any more
                return "unwanted"
            if not state["Running"]:
                return f"task: non-zero exit ({state['ExitCode']})"
            if health == "unhealthy":
                return await self._stop_unhealthy(task, container_id)
            await asyncio.sleep(HEALTH_POLL)

    async def _stop_unhealthy(self, task: dict, container_id: str) -> str:
        """Stop an unhealthy container; the task's error, in the words of moby's executor."""
        grace = (task["Spec"].get("ContainerSpec") or {}).get("StopGracePeriod", 10 * SECOND) // SECOND
        await self._engine("POST", f"/containers/{container_id}/stop?t={grace}")
        code = (await self._engine("GET", f"/containers/{container_id}/json"))["State"]["ExitCode"]
        return f"task: non-zero exit ({code}): {UNHEALTHY}"

    async def _unhealthy(self, task: dict, status: dict, container_id: str) -> None:
        """[SWARM-051] A running task whose check failed: its container stops, the task fails (and is replaced)."""
        error = await self._stop_unhealthy(task, container_id)
        await self._report(task, status, TaskState.FAILED, "started", Err=error)

    async def _abandoned(self, task: dict, status: dict, container: dict | None) -> None:
        """A start cut short by a restart: its container goes, the task fails, the managers replace it."""
        if container is not None:
            await self._engine("DELETE", f"/containers/{container['Id']}?force=1")
        state = TaskState.REJECTED if status["State"] == TaskState.PREPARING.value else TaskState.FAILED
        await self._report(task, status, state, "restarted", Err="the node restarted while the task was starting")

    async def _ended(self, task: dict, status: dict, container: dict | None) -> None:
        if container is None:
            await self._report(task, status, TaskState.FAILED, "started", Err="container not found")
            return
        try:
            inspected = await self._engine("GET", f"/containers/{container['Id']}/json")
            code = inspected["State"]["ExitCode"]
        except NotFound:
            code = -1
        ids = {"ContainerID": container["Id"], "PID": 0, "ExitCode": code}
        if code == 0:
            await self._report(task, status, TaskState.COMPLETE, "finished", ContainerStatus=ids)
        else:
            await self._report(task, status, TaskState.FAILED, "started", ContainerStatus=ids,
                               Err=f"task: non-zero exit ({code})")

    async def _stop(self, task: dict, status: dict, container: dict) -> None:
        grace = (task["Spec"].get("ContainerSpec") or {}).get("StopGracePeriod", 10 * SECOND) // SECOND
        await self._engine("POST", f"/containers/{container['Id']}/stop?t={grace}")
        if task["DesiredState"] == "remove":
            await self._engine("DELETE", f"/containers/{container['Id']}?force=1")
        if not TaskState(status["State"]).terminal:
            await self._report(task, status, TaskState.SHUTDOWN, "shutdown")

    async def remove_all(self) -> None:
        """Leaving the swarm: every task container of this node goes."""
        for job in list(self.jobs):
            job.cancel()
        wanted = urllib.parse.quote(json.dumps({"label": [TASK_LABEL]}))
        for container in await self._engine("GET", f"/containers/json?all=1&filters={wanted}"):
            try:
                await self._engine("DELETE", f"/containers/{container['Id']}?force=1")
            except MinidockError:
                pass
