"""`minidock compose` (and `minidock-compose`): Docker Compose's verbs over the Engine API.

Implements: spec/compose.md COMPOSE-015
Explained:  chapters/10-compose.md#the-commands
Modelled on: docker compose v2's command line (cmd/compose), docker-compose 1.29's output

    minidock compose [-f FILE]... [-p NAME] [--profile P]... [--env-file F] COMMAND ...
        config [-q] [--services] [--volumes]   up [-d] [--build] [--scale S=N] [--remove-orphans]
        down [-v] [--rmi all|local] [--remove-orphans]   ps [-a] [-q] [--services]
        logs [-f] [--tail N] [-t] [SERVICE...]   build  pull  push  start  stop  restart  rm [-f] [-s]
        exec [-T] [-u] [-w] [-e] SERVICE CMD   run [--rm] [-e] SERVICE [CMD]   top   images   port SERVICE PORT

Rules: the files are loaded and checked before any request (a bad file creates nothing);
exec and run hand over to the `minidock exec` / `run` code paths. This is the CLI layer's
side of compose; minidock/compose itself knows nothing of argparse or the other verbs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from minidock.errors import MinidockError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


def _files(args: argparse.Namespace) -> list[str]:
    if args.file:
        return [os.path.abspath(path) for path in args.file]
    folder = os.path.abspath(args.project_directory or os.getcwd())
    while True:
        for name in DEFAULT_FILES:
            if os.path.isfile(os.path.join(folder, name)):
                found = [os.path.join(folder, name)]
                override = os.path.join(folder, name.replace(".y", ".override.y"))
                return found + ([override] if os.path.isfile(override) else [])
        parent = os.path.dirname(folder)
        if parent == folder:
            raise MinidockError("no configuration file provided: not found")
        folder = parent


def load_project(args: argparse.Namespace):
    from minidock.compose.loader import load
    from minidock.compose.model import Project

    document = load(_files(args), name=args.project_name, profiles=tuple(args.profile), env_file=args.env_file)
    return Project(document), document


def _engine(args: argparse.Namespace):
    from minidock.cli.build import context_tar
    from minidock.cli.common import client
    from minidock.compose.project import Engine

    return Engine(client(args), pack=context_tar)  # a build context is packed as `minidock build` packs it


def cmd_config(args: argparse.Namespace) -> int:
    import yaml

    project, document = load_project(args)
    if args.quiet:
        return 0
    if args.services:
        print("\n".join(project.services))
        return 0
    if args.volumes:
        print("\n".join(project.volumes))
        return 0
    shown = {key: value for key, value in document.items() if key != "folder"}
    shown["networks"] = {key: {**value, "name": project.network_name(key)} for key, value in project.networks.items()}
    print(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False), end="")
    return 0


def _scale(entries: list[str]) -> dict[str, int]:
    out = {}
    for entry in entries:
        name, _, count = entry.partition("=")
        if not count.isdigit():
            raise MinidockError(f"invalid --scale {entry!r}: SERVICE=NUM expected")
        out[name] = int(count)
    return out


def cmd_up(args: argparse.Namespace) -> int:
    project, _ = load_project(args)
    engine = _engine(args)
    engine.up(project, args.services or None, build=args.build, scale=_scale(args.scale),
              remove_orphans=args.remove_orphans, force_recreate=args.force_recreate, no_recreate=args.no_recreate,
              start=not args.no_start)
    if args.detach or args.no_start:
        return 0
    try:
        return _follow(args, project, engine, args.services or None, follow=True, tail="all", timestamps=False)
    except KeyboardInterrupt:
        print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
        for container in engine.containers(project, all=False):
            engine.api.json("POST", f"/containers/{container['Id']}/stop?t=10")
        return 130


def cmd_down(args: argparse.Namespace) -> int:
    project, _ = load_project(args)
    _engine(args).down(project, volumes=args.volumes, rmi=args.rmi, remove_orphans=args.remove_orphans,
                       timeout=args.timeout)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    from minidock.cli.common import table

    project, _ = load_project(args)
    engine = _engine(args)
    containers = engine.containers(project, all=args.all, services=args.services or None)
    containers.sort(key=lambda c: (c["Labels"].get("com.docker.compose.service", ""), c["Names"][0]))
    if args.services_only:
        print("\n".join(sorted({c["Labels"]["com.docker.compose.service"] for c in containers})))
        return 0
    if args.quiet:
        print("\n".join(c["Id"] for c in containers))
        return 0
    rows = []
    for c in containers:
        ports = ", ".join(f"{p.get('IP', '0.0.0.0')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
                          if p.get("PublicPort") else f"{p['PrivatePort']}/{p['Type']}" for p in c.get("Ports") or [])
        rows.append([c["Names"][0].lstrip("/"), c["Image"], json.dumps(c["Command"]),
                     c["Labels"].get("com.docker.compose.service", ""), c["Status"], ports])
    print(table(rows, ["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"]))
    return 0


def _follow(args, project, engine, services, follow: bool, tail: str, timestamps: bool) -> int:
    """Each container's log lines with a coloured "name  | " prefix; -f: as they come, until all end."""
    import threading
    from urllib.parse import urlencode

    from minidock.cli.streams import copy_output  # noqa: F401 - the same framing as `minidock logs`

    containers = engine.containers(project, services=services)
    width = max((len(c["Names"][0]) - 1 for c in containers), default=0)
    lock = threading.Lock()
    colour = sys.stdout.isatty()

    def pump(index: int, container: dict) -> None:
        name = container["Names"][0].lstrip("/")
        prefix = f"{name:<{width}}  | "
        if colour:
            prefix = f"\x1b[{COLOURS[index % len(COLOURS)]}m{prefix}\x1b[0m"
        query = urlencode({"stdout": 1, "stderr": 1, "follow": int(follow), "tail": tail,
                           "timestamps": int(timestamps)})
        response = engine.api.stream("GET", f"/containers/{container['Id']}/logs?{query}")
        tty = bool(engine.api.json("GET", f"/containers/{container['Id']}/json")["Config"].get("Tty"))
        buffer = b""
        with response:
            while True:
                if tty:
                    chunk = response.read1(65536)
                else:
                    header = response.read(8)
                    if len(header) < 8:
                        break
                    chunk = response.read(int.from_bytes(header[4:], "big"))
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                with lock:
                    for line in lines:
                        sys.stdout.write(prefix + line.decode(errors="replace") + "\n")
                    sys.stdout.flush()
        if buffer:
            with lock:
                sys.stdout.write(prefix + buffer.decode(errors="replace") + "\n")

    threads = [threading.Thread(target=pump, args=(index, c), daemon=True) for index, c in enumerate(containers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    project, _ = load_project(args)
    return _follow(args, project, _engine(args), args.services or None, args.follow, args.tail, args.timestamps)


def _each(args: argparse.Namespace, action: str, query: str = "", verb: str = "") -> int:
    project, _ = load_project(args)
    engine = _engine(args)
    for container in engine.containers(project, all=True, services=args.services or None):
        name = container["Names"][0].lstrip("/")
        if action == "start" and container["State"] == "running":
            continue
        if action in ("stop", "restart") and action == "stop" and container["State"] != "running":
            continue
        engine.api.json("POST", f"/containers/{container['Id']}/{action}{query}")
        engine.say("Container", name, verb)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _each(args, "start", verb="Started")


def cmd_stop(args: argparse.Namespace) -> int:
    return _each(args, "stop", f"?t={args.timeout}", "Stopped")


def cmd_restart(args: argparse.Namespace) -> int:
    return _each(args, "restart", f"?t={args.timeout}", "Restarted")


def cmd_rm(args: argparse.Namespace) -> int:
    project, _ = load_project(args)
    engine = _engine(args)
    for container in engine.containers(project, all=True, services=args.services or None):
        name = container["Names"][0].lstrip("/")
        if container["State"] == "running":
            if not args.stop:
                continue
            engine.api.json("POST", f"/containers/{container['Id']}/stop")
        engine.api.json("DELETE", f"/containers/{container['Id']}?v={int(args.volumes)}")
        engine.say("Container", name, "Removed")
    return 0


def _container_of(args: argparse.Namespace, service: str, index: int = 1) -> str:
    project, _ = load_project(args)
    for container in _engine(args).containers(project, all=False, services=[service]):
        if container["Labels"].get("com.docker.compose.container-number") == str(index):
            return container["Id"]
    raise MinidockError(f"service {service!r} is not running")


def cmd_exec(args: argparse.Namespace) -> int:
    from minidock.cli.main import main as minidock

    container = _container_of(args, args.service, args.index)
    flags = ["-i"] + ([] if args.no_tty or not sys.stdin.isatty() else ["-t"])
    flags += [f"--env={entry}" for entry in args.env] + (["-u", args.user] if args.user else [])
    flags += ["-w", args.workdir] if args.workdir else []
    return minidock(["-H", args.host, "exec", *flags, container, *args.command])


def cmd_run(args: argparse.Namespace) -> int:
    """A one-off container of the service (labelled oneoff), its dependencies started first."""
    import secrets
    from urllib.parse import quote

    from minidock.cli.main import main as minidock
    from minidock.compose import model

    project, _ = load_project(args)
    engine = _engine(args)
    engine.ensure_networks(project)
    engine.ensure_volumes(project)
    needed = [name for name in model.conditions(project.services[args.service])]
    if needed and not args.no_deps:
        engine.up(project, needed)
    name, body = project.create_body(args.service, 1)
    name = f"{project.name}-{args.service}-run-{secrets.token_hex(6)}"
    body["Labels"][model.ONEOFF] = "True"
    if args.command:
        body["Cmd"] = args.command
    if args.entrypoint:
        body["Entrypoint"] = [args.entrypoint]
    body["Env"] = [*body.get("Env", []), *args.env]
    tty = sys.stdin.isatty() and not args.no_tty
    body.update({"Tty": tty, "OpenStdin": True, "StdinOnce": True, "AttachStdin": True,
                 "AttachStdout": True, "AttachStderr": True})
    if not args.service_ports:
        body["HostConfig"].pop("PortBindings", None)
    body["HostConfig"]["AutoRemove"] = bool(args.rm)
    created = engine.api.json("POST", f"/containers/create?name={quote(name, safe='')}", body)
    if args.detach:
        engine.api.json("POST", f"/containers/{created['Id']}/start")
        print(name)
        return 0
    return minidock(["-H", args.host, "start", "-a", "-i", created["Id"]])


def cmd_build(args: argparse.Namespace) -> int:
    project, _ = load_project(args)
    _engine(args).build(project, args.services or None, always=True, no_cache=args.no_cache)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    project, _ = load_project(args)
    engine = _engine(args)
    for name in args.services or project.order:
        service = project.services[name]
        if service.get("image"):
            engine._pull(service["image"])  # noqa: SLF001 - the same pull as up's
            engine.say("Image", service["image"], "Pulled")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    project, _ = load_project(args)
    engine = _engine(args)
    for name in args.services or project.order:
        service = project.services[name]
        if service.get("build") and service.get("image"):
            image = service["image"]
            repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
            response = engine.api.stream("POST", f"/images/{quote(repository, safe='')}/push?tag={tag or 'latest'}")
            with response:
                for line in response:
                    message = json.loads(line) if line.strip() else {}
                    if "error" in message:
                        raise MinidockError(message["error"])
            engine.say("Image", image, "Pushed")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from minidock.cli.common import table

    project, _ = load_project(args)
    engine = _engine(args)
    for container in engine.containers(project, all=False, services=args.services or None):
        top = engine.api.json("GET", f"/containers/{container['Id']}/top")
        print(container["Names"][0].lstrip("/"))
        print(table(top["Processes"], top["Titles"]))
        print()
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    from minidock.cli.common import human_size, table

    project, _ = load_project(args)
    engine = _engine(args)
    rows = []
    for container in engine.containers(project, all=True, services=args.services or None):
        image = engine.api.json("GET", f"/images/{quote(container['ImageID'], safe='')}/json")
        repository, _, tag = (image.get("RepoTags") or ["<none>:<none>"])[0].rpartition(":")
        rows.append([container["Names"][0].lstrip("/"), repository, tag, image["Id"].split(":")[1][:12],
                     human_size(image["Size"])])
    print(table(rows, ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]))
    return 0


def cmd_port(args: argparse.Namespace) -> int:
    from minidock.cli.main import main as minidock

    return minidock(["-H", args.host, "port", _container_of(args, args.service, args.index), args.private_port])


def add_compose_parsers(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("-f", "--file", action="append", default=[], help="compose configuration files")
    add("-p", "--project-name", help="project name")
    add("--profile", action="append", default=[], help="a profile to enable")
    add("--env-file", help="an alternate environment file")
    add("--project-directory", help="the working directory (default: the first file's)")
    commands = parser.add_subparsers(dest="compose_command", required=True, metavar="COMMAND")

    def command(name: str, handler, help: str, services: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        if services:
            sub.add_argument("services", nargs="*", metavar="SERVICE")
        sub.set_defaults(handler=handler)
        return sub

    config = command("config", cmd_config, "validate and view the compose file", services=False)
    config.add_argument("-q", "--quiet", action="store_true", help="only validate")
    config.add_argument("--services", action="store_true", help="print the service names")
    config.add_argument("--volumes", action="store_true", help="print the volume names")
    up = command("up", cmd_up, "create and start containers")
    up.add_argument("-d", "--detach", action="store_true", help="run in the background")
    up.add_argument("--build", action="store_true", help="build images before starting")
    up.add_argument("--scale", action="append", default=[], help="SERVICE=NUM")
    up.add_argument("--remove-orphans", action="store_true", help="remove containers of services not in the file")
    up.add_argument("--force-recreate", action="store_true", help="recreate even if nothing changed")
    up.add_argument("--no-recreate", action="store_true", help="keep existing containers")
    up.add_argument("--no-start", action="store_true", help="create, do not start")
    down = command("down", cmd_down, "stop and remove containers, networks", services=False)
    down.add_argument("-v", "--volumes", action="store_true", help="remove the named volumes too")
    down.add_argument("--rmi", choices=("all", "local"), help="remove images")
    down.add_argument("--remove-orphans", action="store_true", help="remove containers of services not in the file")
    down.add_argument("-t", "--timeout", type=int, default=10, help="seconds before the kill")
    ps = command("ps", cmd_ps, "list containers")
    ps.add_argument("-a", "--all", action="store_true", help="stopped ones too")
    ps.add_argument("-q", "--quiet", action="store_true", help="IDs only")
    ps.add_argument("--services", dest="services_only", action="store_true", help="service names only")
    logs = command("logs", cmd_logs, "view output from containers")
    logs.add_argument("-f", "--follow", action="store_true", help="follow log output")
    logs.add_argument("-n", "--tail", default="all", help="lines from the end of each log")
    logs.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    for name, handler, help in (("start", cmd_start, "start services"), ("stop", cmd_stop, "stop services"),
                                ("restart", cmd_restart, "restart services")):
        sub = command(name, handler, help)
        if name != "start":
            sub.add_argument("-t", "--timeout", type=int, default=10, help="seconds before the kill")
    rm = command("rm", cmd_rm, "remove stopped service containers")
    rm.add_argument("-f", "--force", action="store_true", help="do not ask")
    rm.add_argument("-s", "--stop", action="store_true", help="stop them first")
    rm.add_argument("-v", "--volumes", action="store_true", help="their anonymous volumes too")
    execute = commands.add_parser("exec", help="execute a command in a running container")
    execute.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true", help="no pseudo-TTY")
    execute.add_argument("-d", "--detach", action="store_true", help="in the background")
    execute.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE")
    execute.add_argument("-u", "--user", help="run as this user")
    execute.add_argument("-w", "--workdir", help="working directory")
    execute.add_argument("--index", type=int, default=1, help="which container of the service")
    execute.add_argument("service", metavar="SERVICE")
    execute.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    execute.set_defaults(handler=cmd_exec)
    run = commands.add_parser("run", help="run a one-off command on a service")
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run.add_argument("-d", "--detach", action="store_true", help="in the background")
    run.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true", help="no pseudo-TTY")
    run.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE")
    run.add_argument("--entrypoint", help="override the entrypoint")
    run.add_argument("--no-deps", action="store_true", help="do not start linked services")
    run.add_argument("--service-ports", action="store_true", help="publish the service's ports")
    run.add_argument("service", metavar="SERVICE")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    run.set_defaults(handler=cmd_run)
    build = command("build", cmd_build, "build or rebuild services")
    build.add_argument("--no-cache", action="store_true", help="do not use the cache")
    command("pull", cmd_pull, "pull service images")
    command("push", cmd_push, "push service images")
    command("top", cmd_top, "display the running processes")
    command("images", cmd_images, "list images used by the created containers")
    port = commands.add_parser("port", help="print the public port for a port binding")
    port.add_argument("--index", type=int, default=1, help="which container of the service")
    port.add_argument("service", metavar="SERVICE")
    port.add_argument("private_port", metavar="PRIVATE_PORT")
    port.set_defaults(handler=cmd_port)


def add_parsers(verbs, only: str | None = None) -> None:
    """`minidock compose ...` (``only`` is ignored: one verb)."""
    add_compose_parsers(verbs.add_parser("compose", help="define and run multi-container applications"))


def main(argv: list[str] | None = None) -> int:
    """`minidock-compose ...`: the same commands as `minidock compose ...`."""
    from minidock.cli.main import _VALUED, main as minidock

    argv = list(sys.argv[1:] if argv is None else argv)
    global_flags = []  # -H HOST and the TLS flags belong before the verb
    while argv and argv[0] in (*_VALUED, "--tls", "--tlsverify") or (argv and argv[0].startswith(("-H=", "--host="))):
        flag = argv.pop(0)
        global_flags.append(flag)
        if flag in _VALUED and argv:
            global_flags.append(argv.pop(0))
    return minidock([*global_flags, "compose", *argv])
