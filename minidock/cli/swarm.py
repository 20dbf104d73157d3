"""`minidock swarm|node|service`: a cluster of engines, with the docker CLI's verbs, flags and tables.

Implements: spec/swarm.md SWARM-001, SWARM-013, SWARM-027, SWARM-029, SWARM-040
Explained:  chapters/11-swarm.md#the-api-and-the-cli
Modelled on: docker/cli's cli/command/swarm, node and service

    minidock swarm init [--advertise-addr A] | join --token T ADDR | join-token [-q] worker|manager | leave [-f]
    minidock node ls | inspect | update --availability A | promote | demote | rm [-f]
    minidock service ...                                                    minidock/cli/services.py
    minidock secret|config create NAME FILE|- | ls | inspect | rm

Rules: every verb is requests to the engine's swarm paths (the engine forwards them to its
swarm node); a flag's bad value is refused here with cobra's words, before any request.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from urllib.parse import quote

from minidock.cli.common import ago, client as _client, table
from minidock.errors import InvalidArgument, MinidockError


# ---------------------------------------------------------------------------- swarm
def cmd_swarm_init(args: argparse.Namespace) -> int:
    api = _client(args)
    body = {"ListenAddr": args.listen_addr, "AdvertiseAddr": args.advertise_addr or "", "ForceNewCluster": False}
    node_id = api.json("POST", "/swarm/init", body)
    cluster = api.json("GET", "/swarm")
    state = api.json("GET", "/swarm/state")
    print(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    print("To add a worker to this swarm, run the following command:\n")
    print(f"    docker swarm join --token {cluster['JoinTokens']['Worker']} {state['NodeAddr']}:2377\n")
    print("To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n")
    return 0


def cmd_swarm_join(args: argparse.Namespace) -> int:
    api = _client(args)
    api.json("POST", "/swarm/join", {"ListenAddr": args.listen_addr, "AdvertiseAddr": args.advertise_addr or "",
                                     "RemoteAddrs": [args.address], "JoinToken": args.token})
    state = api.json("GET", "/swarm/state")
    print(f"This node joined a swarm as a {'manager' if state['ControlAvailable'] else 'worker'}.")
    return 0


def cmd_swarm_join_token(args: argparse.Namespace) -> int:
    api = _client(args)
    token = api.json("GET", "/swarm")["JoinTokens"]["Worker" if args.role == "worker" else "Manager"]
    if args.quiet:
        print(token)
        return 0
    address = api.json("GET", "/swarm/state")["NodeAddr"]
    print(f"To add a {args.role} to this swarm, run the following command:\n")
    print(f"    docker swarm join --token {token} {address}:2377\n")
    return 0


def cmd_swarm_leave(args: argparse.Namespace) -> int:
    _client(args).json("POST", f"/swarm/leave?force={int(args.force)}")
    print("Node left the swarm.")
    return 0


# ---------------------------------------------------------------------------- node
def _capital(word: str) -> str:
    return word[:1].upper() + word[1:]


def cmd_node_ls(args: argparse.Namespace) -> int:
    api = _client(args)
    nodes = api.json("GET", "/nodes")
    me = api.json("GET", "/swarm/state")["NodeID"]
    if args.quiet:
        print("\n".join(n["ID"] for n in nodes))
        return 0
    rows = [[n["ID"] + (" *" if n["ID"] == me else ""), n["Description"]["Hostname"], _capital(n["Status"]["State"]),
             _capital(n["Spec"]["Availability"]),
             ("Leader" if n["ManagerStatus"]["Leader"] else _capital(n["ManagerStatus"]["Reachability"]))
             if n.get("ManagerStatus") else "",
             n["Description"]["Engine"]["EngineVersion"]] for n in nodes]
    print(table(rows, ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"]))
    return 0


def _print_json(documents: list[dict], template: str | None) -> None:
    if template:
        from minidock.cli.template import render

        for document in documents:
            print(render(template, document))
    else:
        print(json.dumps(documents, indent=4))


def _each(args: argparse.Namespace, names: list[str], do) -> int:
    """Run ``do(name)`` for each name; an error is printed and the others still run (exit 1)."""
    status = 0
    for name in names:
        try:
            do(name)
        except MinidockError as error:
            print(f"Error response from daemon: {error.message}", file=sys.stderr)
            status = 1
    return status


def _inspect(args: argparse.Namespace, kind: str, names: list[str]) -> int:
    """`node|service|secret|config inspect`: one JSON array of what was found; each miss said on stderr."""
    found: list[dict] = []
    status = _each(args, names, lambda name: found.append(_client(args).json("GET", f"/{kind}/{quote(name, safe='')}")))
    _print_json(found, args.format)
    return status


def cmd_node_inspect(args: argparse.Namespace) -> int:
    return _inspect(args, "nodes", args.nodes)


def _node_change(args: argparse.Namespace, name: str, **changes) -> None:
    api = _client(args)
    node = api.json("GET", f"/nodes/{quote(name, safe='')}")
    spec = {**node["Spec"], **changes}
    api.json("POST", f"/nodes/{node['ID']}/update?version={node['Version']['Index']}", spec)


def cmd_node_update(args: argparse.Namespace) -> int:
    changes = {}
    if args.availability:
        changes["Availability"] = args.availability
    if args.role:
        changes["Role"] = args.role
    if args.label_add:
        node = _client(args).json("GET", f"/nodes/{quote(args.node, safe='')}")
        changes["Labels"] = {**node["Spec"].get("Labels", {}),
                             **dict(label.partition("=")[::2] for label in args.label_add)}
    _node_change(args, args.node, **changes)
    print(args.node)
    return 0


def cmd_node_promote(args: argparse.Namespace) -> int:
    def promote(name: str) -> None:
        _node_change(args, name, Role="manager")
        print(f"Node {name} promoted to a manager in the swarm.")
    return _each(args, args.nodes, promote)


def cmd_node_demote(args: argparse.Namespace) -> int:
    def demote(name: str) -> None:
        _node_change(args, name, Role="worker")
        print(f"Manager {name} demoted in the swarm.")
    return _each(args, args.nodes, demote)


def cmd_node_rm(args: argparse.Namespace) -> int:
    def remove(name: str) -> None:
        _client(args).json("DELETE", f"/nodes/{quote(name, safe='')}?force={int(args.force)}")
        print(name)
    return _each(args, args.nodes, remove)


# ---------------------------------------------------------------------------- secret, config
def cmd_data_create(args: argparse.Namespace) -> int:
    """`secret create` and `config create`: NAME and a file (or - for stdin) made one object."""
    import base64

    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as file:
                data = file.read()
        except OSError as error:
            raise InvalidArgument(f"error reading content from \"{args.file}\": {error.strerror}") from None
    labels = dict(label.partition("=")[::2] for label in args.label)
    created = _client(args).json("POST", f"/{args.kind}s/create", {"Name": args.name, "Labels": labels,
                                                                  "Data": base64.b64encode(data).decode()})
    print(created["ID"])
    return 0


def cmd_data_ls(args: argparse.Namespace) -> int:
    from minidock.swarm.objects import seconds_of

    found = _client(args).json("GET", f"/{args.kind}s")
    if args.quiet:
        print("\n".join(s["ID"] for s in found))
        return 0
    now = time.time()
    driver = [""] if args.kind == "secret" else []  # docker's config ls has no DRIVER column
    rows = [[s["ID"], s["Spec"]["Name"], *driver, ago(now - seconds_of(s["CreatedAt"])),
             ago(now - seconds_of(s["UpdatedAt"]))] for s in found]
    print(table(rows, ["ID", "NAME", *(["DRIVER"] if driver else []), "CREATED", "UPDATED"]))
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    return _inspect(args, f"{args.kind}s", args.names)


def cmd_data_rm(args: argparse.Namespace) -> int:
    def remove(name: str) -> None:
        _client(args).json("DELETE", f"/{args.kind}s/{quote(name, safe='')}")
        print(name)
    return _each(args, args.names, remove)


# ---------------------------------------------------------------------------- parsers
def _group(verbs, name: str, text: str):
    return verbs.add_parser(name, help=text).add_subparsers(dest=f"{name}_verb", required=True, metavar="COMMAND")


def add_parsers(verbs, only: str | None = None) -> None:
    """The `swarm`, `node`, `secret` and `config` groups (`service`: minidock/cli/services.py)."""
    if only in (None, "swarm"):
        sub = _group(verbs, "swarm", "manage swarm")
        init = sub.add_parser("init", help="initialize a swarm")
        init.add_argument("--advertise-addr", help="advertised address (format: <ip|interface>[:port])")
        init.add_argument("--listen-addr", default="0.0.0.0:2377", help="listen address")
        init.set_defaults(handler=cmd_swarm_init)
        join = sub.add_parser("join", help="join a swarm as a node and/or manager")
        join.add_argument("--token", required=True, help="token for entry into the swarm")
        join.add_argument("--advertise-addr", help="advertised address (format: <ip|interface>[:port])")
        join.add_argument("--listen-addr", default="0.0.0.0:2377", help="listen address")
        join.add_argument("address", metavar="HOST:PORT")
        join.set_defaults(handler=cmd_swarm_join)
        token = sub.add_parser("join-token", help="manage join tokens")
        token.add_argument("-q", "--quiet", action="store_true", help="only display token")
        token.add_argument("role", choices=["worker", "manager"])
        token.set_defaults(handler=cmd_swarm_join_token)
        leave = sub.add_parser("leave", help="leave the swarm")
        leave.add_argument("-f", "--force", action="store_true", help="force this node to leave the swarm")
        leave.set_defaults(handler=cmd_swarm_leave)
    if only in (None, "node"):
        sub = _group(verbs, "node", "manage swarm nodes")
        listing = sub.add_parser("ls", aliases=["list"], help="list nodes in the swarm")
        listing.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
        listing.set_defaults(handler=cmd_node_ls)
        inspect = sub.add_parser("inspect", help="display detailed information on one or more nodes")
        inspect.add_argument("-f", "--format", help="format the output using a Go template")
        inspect.add_argument("nodes", nargs="+", metavar="NODE")
        inspect.set_defaults(handler=cmd_node_inspect)
        update = sub.add_parser("update", help="update a node")
        update.add_argument("--availability", choices=["active", "pause", "drain"], help="availability of the node")
        update.add_argument("--role", choices=["worker", "manager"], help="role of the node")
        update.add_argument("--label-add", action="append", default=[], help="add or update a node label (key=value)")
        update.add_argument("node", metavar="NODE")
        update.set_defaults(handler=cmd_node_update)
        for verb, handler, text in (("promote", cmd_node_promote, "promote one or more nodes to manager"),
                                    ("demote", cmd_node_demote, "demote one or more nodes from manager")):
            parser = sub.add_parser(verb, help=text)
            parser.add_argument("nodes", nargs="+", metavar="NODE")
            parser.set_defaults(handler=handler)
        remove = sub.add_parser("rm", aliases=["remove"], help="remove one or more nodes from the swarm")
        remove.add_argument("-f", "--force", action="store_true", help="force remove a node from the swarm")
        remove.add_argument("nodes", nargs="+", metavar="NODE")
        remove.set_defaults(handler=cmd_node_rm)
    for kind in ("secret", "config"):
        if only not in (None, kind):
            continue
        sub = _group(verbs, kind, f"manage swarm {kind}s")
        create = sub.add_parser("create", help=f"create a {kind} from a file or STDIN as content")
        create.add_argument("-l", "--label", action="append", default=[], help=f"{kind} labels")
        create.add_argument("name", metavar=kind.upper())
        create.add_argument("file", metavar="FILE|-")
        create.set_defaults(handler=cmd_data_create, kind=kind)
        listing = sub.add_parser("ls", aliases=["list"], help=f"list {kind}s")
        listing.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
        listing.set_defaults(handler=cmd_data_ls, kind=kind)
        inspect = sub.add_parser("inspect", help=f"display detailed information on one or more {kind}s")
        inspect.add_argument("-f", "--format", help="format the output using a Go template")
        inspect.add_argument("names", nargs="+", metavar=kind.upper())
        inspect.set_defaults(handler=cmd_data_inspect, kind=kind)
        remove = sub.add_parser("rm", aliases=["remove"], help=f"remove one or more {kind}s")
        remove.add_argument("names", nargs="+", metavar=kind.upper())
        remove.set_defaults(handler=cmd_data_rm, kind=kind)
