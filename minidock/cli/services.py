"""`minidock service`: services of a swarm, with the docker CLI's verbs, flags and tables.

Implements: spec/swarm.md SWARM-013, SWARM-017, SWARM-027, SWARM-030
Explained:  chapters/11-swarm.md#the-api-and-the-cli
Modelled on: docker/cli's cli/command/service

    minidock service create | ls | ps | inspect | scale | update | rollback | rm | logs

Rules: a flag's bad value is refused here with cobra's words, before any request; `create`,
`update` and `scale` wait for the service to converge unless -d (docker's --detach).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from urllib.parse import quote

from minidock.cli.common import ago, client as _client, table
from minidock.cli.swarm import _capital, _each, _group, _inspect
from minidock.errors import InvalidArgument


# ---------------------------------------------------------------------------- service
def _duration_flag(value: str, flag: str) -> int:
    from minidock.cli.run_options import _flag_value, go_duration

    return _flag_value(go_duration, value, flag)


def _apply_flags(spec: dict, args: argparse.Namespace) -> dict:
    """The service flags shared by create and update, written into a ServiceSpec."""
    from minidock.cli.run_options import _flag_value, ram_in_bytes

    template = spec.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    if getattr(args, "image", None):
        container["Image"] = args.image
    if getattr(args, "limit_cpu", None):
        try:
            nano = int(float(args.limit_cpu) * 10**9)
        except ValueError:
            raise InvalidArgument(f"invalid argument \"{args.limit_cpu}\" for \"--limit-cpu\" flag: "
                                  "expected a number of CPUs") from None
        template.setdefault("Resources", {}).setdefault("Limits", {})["NanoCPUs"] = nano
    if getattr(args, "mount", None):
        container["Mounts"] = [_mount(text) for text in args.mount]
    if args.limit_memory:
        limits = template.setdefault("Resources", {}).setdefault("Limits", {})
        limits["MemoryBytes"] = _flag_value(ram_in_bytes, args.limit_memory, "--limit-memory")
    restart = template.setdefault("RestartPolicy", {})
    if args.restart_condition:
        restart["Condition"] = args.restart_condition
    if args.restart_delay:
        restart["Delay"] = _duration_flag(args.restart_delay, "--restart-delay")
    if args.restart_max_attempts is not None:
        restart["MaxAttempts"] = args.restart_max_attempts
    if args.stop_grace_period:
        container["StopGracePeriod"] = _duration_flag(args.stop_grace_period, "--stop-grace-period")
    _health(container, args)
    for prefix, key in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        config = spec.setdefault(key, {})
        for flag, field, convert in (("parallelism", "Parallelism", None), ("delay", "Delay", _duration_flag),
                                     ("order", "Order", None), ("failure_action", "FailureAction", None),
                                     ("monitor", "Monitor", _duration_flag)):
            value = getattr(args, f"{prefix}_{flag}", None)
            if value is not None:
                config[field] = convert(value, f"--{prefix}-{flag.replace('_', '-')}") if convert else value
    if args.replicas is not None:
        if "Global" in (spec.get("Mode") or {}):
            raise InvalidArgument("replicas can only be used with replicated mode")
        spec["Mode"] = {"Replicated": {"Replicas": args.replicas}}
    return spec


def _health(container: dict, args: argparse.Namespace) -> None:
    """--health-* (SWARM-051): the fields given replace the service's, the others stay (docker's updateHealthcheck)."""
    from minidock.cli.run_options import healthcheck

    check = healthcheck(args)
    if check is None or check.get("Test") == ["NONE"]:
        if check is not None:
            container["Healthcheck"] = check
        return
    given = {"Test": args.health_cmd, "Interval": args.health_interval, "Timeout": args.health_timeout,
             "StartPeriod": args.health_start_period, "Retries": args.health_retries}
    old = container.get("Healthcheck") or {}
    if old.get("Test") == ["NONE"]:
        old = {}
    container["Healthcheck"] = {**old, **{field: check[field] for field, flag in given.items()
                                          if flag is not None and field in check}}


def _mount(text: str) -> dict:
    """--mount type=volume,source=data,target=/data[,readonly]: an Engine API Mount."""
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--mount\" flag: target is required")
    mount = {"Type": fields.get("type", "volume"), "Source": fields.get("source") or fields.get("src") or "",
             "Target": target}
    if "readonly" in fields or "ro" in fields:
        mount["ReadOnly"] = fields.get("readonly", fields.get("ro")) in ("", "1", "true")
    return mount


def _publish(text: str) -> dict:
    """-p 8080:80, -p published=8080,target=80,mode=host."""
    if "=" in text:
        fields = dict(part.partition("=")[::2] for part in text.split(","))
        return {"Protocol": fields.get("protocol", "tcp"), "TargetPort": int(fields["target"]),
                "PublishedPort": int(fields.get("published", 0)), "PublishMode": fields.get("mode", "ingress")}
    port, _, protocol = text.partition("/")
    published, _, target = port.rpartition(":")
    return {"Protocol": protocol or "tcp", "TargetPort": int(target), "PublishedPort": int(published or 0),
            "PublishMode": "ingress"}


def _file_reference(text: str, flag: str) -> dict:
    """--secret|--config NAME, or source=NAME,target=FILE[,uid=,gid=,mode=0444]: a SecretReference or
    ConfigReference (a config's target, a path, is /NAME by default: the daemon puts a relative one under /)."""
    word = flag.capitalize()
    if "=" not in text:
        return {f"{word}Name": text, "File": {"Name": text, "UID": "0", "GID": "0", "Mode": 0o444}}
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    if "source" not in fields and "src" not in fields:
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--{flag}\" flag: source is required")
    source = fields.get("source") or fields["src"]
    try:
        mode = int(fields.get("mode", "0444"), 8)
    except ValueError:
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--{flag}\" flag: invalid file mode "
                              f"{fields['mode']!r}") from None
    return {f"{word}Name": source, "File": {"Name": fields.get("target", source), "UID": fields.get("uid", "0"),
                                            "GID": fields.get("gid", "0"), "Mode": mode}}


def _preference(text: str) -> dict:
    """--placement-pref spread=node.labels.zone: a placement preference (spread is the only strategy)."""
    strategy, equals, key = text.partition("=")
    if not equals or not strategy:
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--placement-pref\" flag: placement preference "
                              "must be of the format \"<strategy>=<arg>\"")
    if strategy != "spread":
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--placement-pref\" flag: unsupported placement "
                              f"preference {strategy} (only spread is supported)")
    return {"Spread": {"SpreadDescriptor": key}}


def cmd_service_create(args: argparse.Namespace) -> int:
    container = {"Image": args.image, "Env": args.env, "Labels": dict(l.partition("=")[::2] for l in args.container_label)}
    if args.command:
        container["Args"] = args.command
    if args.secret:
        container["Secrets"] = [_file_reference(text, "secret") for text in args.secret]
    if args.config:
        container["Configs"] = [_file_reference(text, "config") for text in args.config]
    if args.network:
        spec_networks = [{"Target": name, "Aliases": []} for name in args.network]
    else:
        spec_networks = []
    if args.entrypoint:
        container["Command"] = args.entrypoint.split()
    spec = {"Name": args.name or "", "Labels": dict(l.partition("=")[::2] for l in args.label),
            "TaskTemplate": {"ContainerSpec": container, "Networks": spec_networks, "Placement": {}},
            "Mode": {"Global": {}} if args.mode == "global" else {"Replicated": {"Replicas": 1}}}
    placement = spec["TaskTemplate"]["Placement"]
    if args.constraint:
        placement["Constraints"] = args.constraint
    if args.placement_pref:
        placement["Preferences"] = [_preference(text) for text in args.placement_pref]
    if args.mode not in ("replicated", "global"):
        raise InvalidArgument(f"invalid argument \"{args.mode}\" for \"--mode\" flag: invalid replicated mode "
                              f"\"{args.mode}\"")
    if args.publish:
        try:
            spec["EndpointSpec"] = {"Mode": "vip", "Ports": [_publish(p) for p in args.publish]}
        except (ValueError, KeyError):
            raise InvalidArgument(f"invalid argument \"{args.publish[0]}\" for \"-p, --publish\" flag") from None
    _apply_flags(spec, args)
    api = _client(args)
    created = api.json("POST", "/services/create", spec)
    print(created["ID"])
    if not args.detach:
        _converge(api, created["ID"])
    return 0


def _converge(api, service_id: str, timeout: float = 120.0) -> None:
    """Wait, as `docker service create` does without -d, until the running tasks are the desired ones."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (service,) = api.json("GET", f"/services?status=1&filters={quote(json.dumps({'id': [service_id]}))}")
        status = service["ServiceStatus"]
        update = (service.get("UpdateStatus") or {}).get("State", "")
        if update in ("paused", "rollback_paused"):
            raise InvalidArgument(f"{service['UpdateStatus']['Message']}")
        if status["RunningTasks"] == status["DesiredTasks"] and update in ("", "completed", "rollback_completed"):
            print(f"overall progress: {status['RunningTasks']} out of {status['DesiredTasks']} tasks")
            print(f"verify: Service {service['Spec']['Name']} converged")
            return
        time.sleep(0.2)
    raise InvalidArgument(f"service {service_id} did not converge within {timeout:g} s")


def cmd_service_ls(args: argparse.Namespace) -> int:
    services = _client(args).json("GET", "/services?status=1")
    if args.quiet:
        print("\n".join(s["ID"] for s in services))
        return 0
    rows = []
    for service in services:
        spec, status = service["Spec"], service["ServiceStatus"]
        ports = ", ".join(f"*:{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']}"
                          for p in (spec.get("EndpointSpec") or {}).get("Ports") or [])
        rows.append([service["ID"][:12], spec["Name"], "global" if "Global" in spec["Mode"] else "replicated",
                     f"{status['RunningTasks']}/{status['DesiredTasks']}",
                     spec["TaskTemplate"]["ContainerSpec"]["Image"], ports])
    print(table(rows, ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]))
    return 0


def cmd_service_ps(args: argparse.Namespace) -> int:
    from minidock.swarm.objects import seconds_of

    api = _client(args)
    rows, now = [], time.time()
    for name in args.services:
        service = api.json("GET", f"/services/{quote(name, safe='')}")
        filters = {"service": [service["ID"]], **({"desired-state": ["running"]} if args.running else {})}
        tasks = api.json("GET", f"/tasks?filters={quote(json.dumps(filters))}")
        hosts = {n["ID"]: n["Description"]["Hostname"] for n in api.json("GET", "/nodes")}
        seen: set = set()
        # the live task of each slot first, its history below it (newest first), as docker prints them
        for task in sorted(tasks, key=lambda t: (t["Slot"] or 0, t.get("NodeID", ""), t["DesiredState"] != "running",
                                                 -seconds_of(t["CreatedAt"]))):
            key = task["Slot"] or task.get("NodeID")
            label = f"{service['Spec']['Name']}.{key}"
            shown = label if key not in seen else f" \\_ {label}"
            seen.add(key)
            status = task["Status"]
            error = status.get("Err", "")
            if error and not args.no_trunc and len(error) > 30:
                error = error[:29] + "…"
            rows.append([task["ID"] if args.no_trunc else task["ID"][:12], shown,
                         task["Spec"]["ContainerSpec"]["Image"], hosts.get(task.get("NodeID"), ""),
                         _capital(task["DesiredState"]),
                         f"{_capital(status['State'])} {ago(now - seconds_of(status['Timestamp'])).lower()}",
                         f'"{error}"' if error else "", ""])
    if args.quiet:
        print("\n".join(row[0] for row in rows))
    else:
        print(table(rows, ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]))
    return 0


def cmd_service_inspect(args: argparse.Namespace) -> int:
    return _inspect(args, "services", args.services)


def _update(args: argparse.Namespace, name: str, change, rollback: bool = False) -> None:
    api = _client(args)
    service = api.json("GET", f"/services/{quote(name, safe='')}")
    spec = change(json.loads(json.dumps(service["Spec"])))
    suffix = "&rollback=previous" if rollback else ""
    api.json("POST", f"/services/{service['ID']}/update?version={service['Version']['Index']}{suffix}", spec)


def cmd_service_scale(args: argparse.Namespace) -> int:
    def scale(pair: str) -> None:
        name, _, count = pair.partition("=")
        if not count.isdigit():
            raise InvalidArgument(f"invalid replicas value {count}: strconv.ParseUint: parsing \"{count}\": "
                                  "invalid syntax")

        def change(spec: dict) -> dict:
            if "Replicated" not in spec["Mode"]:
                raise InvalidArgument(f"scale can only be used with replicated mode")
            spec["Mode"] = {"Replicated": {"Replicas": int(count)}}
            return spec
        _update(args, name, change)
        print(f"{name} scaled to {count}")
    for pair in args.pairs:
        if "=" not in pair:
            raise InvalidArgument(f"invalid scale specifier '{pair}'.\nSee 'minidock service scale --help'.")
    return _each(args, args.pairs, scale)


def cmd_service_update(args: argparse.Namespace) -> int:
    def change(spec: dict) -> dict:
        container = spec["TaskTemplate"]["ContainerSpec"]
        if args.env_add:
            names = {e.partition("=")[0] for e in args.env_add}
            container["Env"] = [e for e in container.get("Env") or [] if e.partition("=")[0] not in names] + args.env_add
        if args.env_rm:
            container["Env"] = [e for e in container.get("Env") or [] if e.partition("=")[0] not in args.env_rm]
        if args.args:
            container["Args"] = args.args.split()
        placement = spec["TaskTemplate"].setdefault("Placement", {})
        if args.constraint_add or args.constraint_rm:
            kept = [c for c in placement.get("Constraints") or [] if c not in args.constraint_rm]
            placement["Constraints"] = kept + args.constraint_add
        if args.placement_pref_add or args.placement_pref_rm:
            gone = [_preference(text) for text in args.placement_pref_rm]
            kept = [p for p in placement.get("Preferences") or [] if p not in gone]
            placement["Preferences"] = kept + [_preference(text) for text in args.placement_pref_add]
        if args.config_add or args.config_rm:
            added = [_file_reference(text, "config") for text in args.config_add]
            targets = {c["File"]["Name"] for c in added}  # a new reference replaces the one at its target
            kept = [c for c in container.get("Configs") or []
                    if c["ConfigName"] not in args.config_rm and c["File"]["Name"] not in targets]
            container["Configs"] = kept + added
        if args.force:
            spec["TaskTemplate"]["ForceUpdate"] = spec["TaskTemplate"].get("ForceUpdate", 0) + 1
        return _apply_flags(spec, args)
    api = _client(args)
    _update(args, args.service, change, rollback=args.rollback)
    print(args.service)
    if not args.detach:
        _converge(api, api.json("GET", f"/services/{quote(args.service, safe='')}")["ID"])
    return 0


def cmd_service_rollback(args: argparse.Namespace) -> int:
    _update(args, args.service, lambda spec: spec, rollback=True)
    print(args.service)
    return 0


def cmd_service_rm(args: argparse.Namespace) -> int:
    def remove(name: str) -> None:
        _client(args).json("DELETE", f"/services/{quote(name, safe='')}")
        print(name)
    return _each(args, args.services, remove)


def cmd_service_logs(args: argparse.Namespace) -> int:
    """Every task's lines, each prefixed `SERVICE.SLOT.TASKID@NODE    | ` as the docker CLI does;
    with -f, as they come, until the service is removed or Ctrl-C."""
    from minidock.swarm.logs import read_frames

    api = _client(args)
    service = api.json("GET", f"/services/{quote(args.service, safe='')}")
    tasks: dict[str, dict] = {}
    hosts: dict[str, str] = {}

    def name_of(task_id: str) -> str:
        if task_id not in tasks:  # a task that started after we looked (-f): look again
            filters = quote(json.dumps({"service": [service["ID"]]}))
            tasks.update({t["ID"]: t for t in api.json("GET", f"/tasks?filters={filters}")})
            hosts.update({n["ID"]: n["Description"]["Hostname"] for n in api.json("GET", "/nodes")})
        task = tasks.get(task_id, {})
        key = task.get("Slot") or task.get("NodeID", "")
        return f"{service['Spec']['Name']}.{key}.{task.get('ID', '')[:12]}@{hosts.get(task.get('NodeID'), '')}"

    query = f"stdout=1&stderr=1&details=1&timestamps={int(args.timestamps)}" + (f"&tail={args.tail}" if args.tail else "")
    response = api.stream("GET", f"/services/{service['ID']}/logs?{query}" + ("&follow=1" if args.follow else ""))
    try:
        for stream, data in read_frames(response):
            details, _, line = data.partition(b" ")
            fields = dict(part.split("=", 1) for part in details.decode().split(",") if "=" in part)
            out = sys.stdout if stream == 1 else sys.stderr
            out.write(f"{name_of(fields.get('com.docker.swarm.task.id', ''))}    | {line.decode(errors='replace')}")
            out.flush()
    except KeyboardInterrupt:
        return 130
    finally:
        response.close()
    return 0



# ---------------------------------------------------------------------------- parsers
def _service_flags(parser: argparse.ArgumentParser, create: bool) -> None:
    """The flags create and update share (docker service create --help)."""
    parser.add_argument("-d", "--detach", action="store_true", help="exit immediately instead of waiting for the "
                        "service to converge")
    parser.add_argument("--replicas", type=int, help="number of tasks")
    parser.add_argument("--limit-memory", help="limit memory")
    parser.add_argument("--limit-cpu", help="limit CPUs")
    parser.add_argument("--mount", action="append", default=[], help="attach a filesystem mount to the service")
    parser.add_argument("--restart-condition", choices=["none", "on-failure", "any"],
                        help="restart when condition is met")
    parser.add_argument("--restart-delay", help="delay between restart attempts (ns|us|ms|s|m|h)")
    parser.add_argument("--restart-max-attempts", type=int, help="maximum number of restarts before giving up")
    parser.add_argument("--stop-grace-period", help="time to wait before force killing a container")
    from minidock.cli.run_options import health_flags

    health_flags(parser.add_argument)
    for prefix in ("update", "rollback"):
        parser.add_argument(f"--{prefix}-parallelism", type=int, help=f"maximum number of tasks {prefix}d at once "
                            "(0 to all at once)")
        parser.add_argument(f"--{prefix}-delay", help=f"delay between {prefix}s (ns|us|ms|s|m|h)")
        parser.add_argument(f"--{prefix}-order", choices=["start-first", "stop-first"], help=f"{prefix} order")
        parser.add_argument(f"--{prefix}-failure-action",
                            choices=["pause", "continue", "rollback"] if prefix == "update" else ["pause", "continue"],
                            help=f"action on {prefix} failure")
        parser.add_argument(f"--{prefix}-monitor", help=f"duration after each task {prefix} to monitor for failure")


def add_parsers(verbs, only: str | None = None) -> None:
    """The `service` group."""
    if only not in (None, "service"):
        return
    sub = _group(verbs, "service", "manage swarm services")
    create = sub.add_parser("create", help="create a new service")
    create.add_argument("--name", help="service name")
    create.add_argument("--mode", default="replicated", help="service mode (replicated or global)")
    create.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    create.add_argument("-l", "--label", action="append", default=[], help="service labels")
    create.add_argument("--container-label", action="append", default=[], help="container labels")
    create.add_argument("-p", "--publish", action="append", default=[], help="publish a port as a node port")
    create.add_argument("--constraint", action="append", default=[], help="placement constraints")
    create.add_argument("--placement-pref", action="append", default=[], help="add a placement preference "
                        "(spread=node.labels.KEY)")
    create.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    create.add_argument("--secret", action="append", default=[], help="specify secrets to expose to the service")
    create.add_argument("--config", action="append", default=[], help="specify configurations to expose to the "
                        "service")
    create.add_argument("--network", action="append", default=[], help="network attachments (an overlay of "
                        "the swarm, made on first use)")
    _service_flags(create, create=True)
    create.add_argument("image", metavar="IMAGE")
    create.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    create.set_defaults(handler=cmd_service_create)
    listing = sub.add_parser("ls", aliases=["list"], help="list services")
    listing.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
    listing.set_defaults(handler=cmd_service_ls)
    tasks = sub.add_parser("ps", help="list the tasks of one or more services")
    tasks.add_argument("-q", "--quiet", action="store_true", help="only display task IDs")
    tasks.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    tasks.add_argument("--running", action="store_true", help="only the tasks that should be running")
    tasks.add_argument("services", nargs="+", metavar="SERVICE")
    tasks.set_defaults(handler=cmd_service_ps)
    inspect = sub.add_parser("inspect", help="display detailed information on one or more services")
    inspect.add_argument("-f", "--format", help="format the output using a Go template")
    inspect.add_argument("--pretty", action="store_true", help="(not supported: JSON is printed)")
    inspect.add_argument("services", nargs="+", metavar="SERVICE")
    inspect.set_defaults(handler=cmd_service_inspect)
    scale = sub.add_parser("scale", help="scale one or multiple replicated services")
    scale.add_argument("-d", "--detach", action="store_true", help="exit immediately")
    scale.add_argument("pairs", nargs="+", metavar="SERVICE=REPLICAS")
    scale.set_defaults(handler=cmd_service_scale)
    update = sub.add_parser("update", help="update a service")
    update.add_argument("--image", help="service image tag")
    update.add_argument("--args", help="service command args")
    update.add_argument("--env-add", action="append", default=[], help="add or update an environment variable")
    update.add_argument("--env-rm", action="append", default=[], help="remove an environment variable")
    update.add_argument("--constraint-add", action="append", default=[], help="add or update a constraint")
    update.add_argument("--constraint-rm", action="append", default=[], help="remove a constraint")
    update.add_argument("--placement-pref-add", action="append", default=[], help="add a placement preference")
    update.add_argument("--placement-pref-rm", action="append", default=[], help="remove a placement preference")
    update.add_argument("--config-add", action="append", default=[], help="add or update a config file on a service")
    update.add_argument("--config-rm", action="append", default=[], help="remove a configuration file")
    update.add_argument("--force", action="store_true", help="force update even if no changes require it")
    update.add_argument("--rollback", action="store_true", help="rollback to previous specification")
    _service_flags(update, create=False)
    update.add_argument("service", metavar="SERVICE")
    update.set_defaults(handler=cmd_service_update)
    rollback = sub.add_parser("rollback", help="revert changes to a service's configuration")
    rollback.add_argument("-d", "--detach", action="store_true", help="exit immediately")
    rollback.add_argument("service", metavar="SERVICE")
    rollback.set_defaults(handler=cmd_service_rollback)
    remove = sub.add_parser("rm", aliases=["remove"], help="remove one or more services")
    remove.add_argument("services", nargs="+", metavar="SERVICE")
    remove.set_defaults(handler=cmd_service_rm)
    logs = sub.add_parser("logs", help="fetch the logs of a service or task")
    logs.add_argument("-f", "--follow", action="store_true", help="follow log output")
    logs.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    logs.add_argument("-n", "--tail", help="number of lines to show from the end of the logs")
    logs.add_argument("service", metavar="SERVICE")
    logs.set_defaults(handler=cmd_service_logs)
