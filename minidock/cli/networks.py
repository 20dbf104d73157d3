"""`minidock network ...` and the network flags of `run` and `create`.

Implements: spec/networking.md NET-053 .. NET-056
Explained:  chapters/07-networking.md#the-cli
Modelled on: docker/cli's cli/command/network and container/opts.go (-p, --network, --ip, --dns)

    minidock network create [--subnet --gateway --ip-range --internal -l -o -d] NAME
    minidock network ls [-q] [--filter] | inspect NET.. | rm NET.. | prune [-f]
    minidock network connect [--ip --alias] NET CONTAINER | disconnect [-f] NET CONTAINER
    add_run_flags(parser); apply_run_flags(args, body)    -p -P --expose --network --ip --network-alias
                                                          --dns --dns-search --dns-option --add-host

Rules: the body is what the docker CLI sends (ExposedPorts + PortBindings for -p,
EndpointsConfig for --ip and --network-alias); a bad -p is refused here with the
CLI's words, before any request.
"""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import quote, urlencode

from minidock.cli.common import client as _client
from minidock.cli.common import table


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The network flags of `run` and `create`."""
    add = parser.add_argument
    add("-p", "--publish", action="append", default=[], help="publish a container's port(s) to the host")
    add("-P", "--publish-all", action="store_true", help="publish all exposed ports to random ports")
    add("--expose", action="append", default=[], help="expose a port or a range of ports")
    add("--network", "--net", default="", help="connect a container to a network")
    add("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    add("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    add("--network-alias", action="append", default=[], help="add network-scoped alias for the container")
    add("--dns", action="append", default=[], help="set custom DNS servers")
    add("--dns-search", action="append", default=[], help="set custom DNS search domains")
    add("--dns-option", action="append", default=[], help="set DNS options")
    add("--add-host", action="append", default=[], help="add a custom host-to-IP mapping (host:ip)")
    add("--link", action="append", default=[], help="add link to another container")


def apply_run_flags(args: argparse.Namespace, body: dict) -> None:
    """Put the network flags into a create body (Config at the top, HostConfig, NetworkingConfig)."""
    from minidock.cli.run_options import FlagError
    from minidock.errors import InvalidArgument
    from minidock.networking.ports import parse_expose, parse_publish

    host = body.setdefault("HostConfig", {})
    exposed = dict(body.get("ExposedPorts") or {})
    bindings: dict[str, list] = {}
    try:
        for spec in args.publish:
            for key, binding in parse_publish(spec):  # [NET-035] a binding per port of a range
                exposed[key] = {}
                bindings.setdefault(key, []).append(binding)
        for spec in args.expose:
            for key in parse_expose(spec):  # [NET-036]
                exposed[key] = {}
    except InvalidArgument as error:
        raise FlagError(error.message) from None
    if exposed:
        body["ExposedPorts"] = exposed
    if bindings:
        host["PortBindings"] = bindings
    if args.publish_all:
        host["PublishAllPorts"] = True
    host["NetworkMode"] = args.network or "default"
    if args.link:
        from minidock.networking.legacy_links import parse_link

        try:
            links = [":".join(parse_link(entry)) for entry in args.link]  # [NET-038] "name:alias", as docker sends
        except InvalidArgument as error:
            # the docker CLI's words
            raise FlagError(f"invalid argument \"{error.message.split(': ', 1)[1]}\" for \"--link\" flag: "
                            f"{error.message}") from None
        host["Links"] = links
    for flag, key in (("dns", "Dns"), ("dns_search", "DnsSearch"), ("dns_option", "DnsOptions"),
                      ("add_host", "ExtraHosts")):
        if getattr(args, flag):
            host[key] = list(getattr(args, flag))
    if args.ip or args.ip6 or args.network_alias:
        if not args.network or args.network == "default":
            network = "default"
        else:
            network = args.network
        endpoint: dict = {}
        if args.ip or args.ip6:
            endpoint["IPAMConfig"] = {key: value for key, value in (("IPv4Address", args.ip),
                                                                    ("IPv6Address", args.ip6)) if value}
        if args.network_alias:
            endpoint["Aliases"] = list(args.network_alias)
        body["NetworkingConfig"] = {"EndpointsConfig": {network: endpoint}}


# -- `minidock network` ------------------------------------------------------------------------

def ipam_configs(subnets: list[str], gateways: list[str], ip_ranges: list[str]) -> list[dict[str, str]]:
    """[NET-080] One IPAM config per --subnet, each with the --gateway and --ip-range inside it (as docker pairs them)."""
    import ipaddress

    def inside(address: str, subnet: str) -> bool:
        try:
            found = ipaddress.ip_network(address.split("/")[0] if "/" not in address else address, strict=False)
            return found.subnet_of(ipaddress.ip_network(subnet, strict=False))
        except (ValueError, TypeError):
            return False

    if not subnets:  # a gateway or range alone: the daemon says what is missing
        alone = ({"Gateway": gateways[0]} if gateways else {}) | ({"IPRange": ip_ranges[0]} if ip_ranges else {})
        return [alone] if alone else []
    configs = []
    for subnet in subnets:
        config = {"Subnet": subnet}
        if len(subnets) == 1:  # one subnet: the flags are its own, checked by the daemon
            config |= ({"Gateway": gateways[0]} if gateways else {}) | ({"IPRange": ip_ranges[0]} if ip_ranges else {})
        else:
            config |= {key: value for key, values in (("Gateway", gateways), ("IPRange", ip_ranges))
                       for value in values if inside(value, subnet)}
        configs.append(config)
    return configs


def cmd_create(args: argparse.Namespace) -> int:
    body = {"Name": args.name, "CheckDuplicate": True, "Driver": args.driver, "Internal": args.internal,
            "Attachable": args.attachable, "EnableIPv6": args.ipv6,
            "IPAM": {"Driver": "default", "Options": {},
                     "Config": ipam_configs(args.subnet, args.gateway, args.ip_range)},
            "Options": dict(o.split("=", 1) for o in args.opt), "Labels": _labels(args.label)}
    answer = _client(args).json("POST", "/networks/create", body)
    print(answer["Id"])
    return 0


def _labels(entries: list[str]) -> dict[str, str]:
    return {entry.partition("=")[0]: entry.partition("=")[2] for entry in entries}


def _filters(entries: list[str]) -> str:
    filters: dict[str, list[str]] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        filters.setdefault(key, []).append(value)
    return json.dumps(filters)


def cmd_ls(args: argparse.Namespace) -> int:
    path = "/networks" + (f"?{urlencode({'filters': _filters(args.filter)})}" if args.filter else "")
    networks = _client(args).json("GET", path)
    if args.format and args.format != "table":
        from minidock.cli.template import render

        for n in sorted(networks, key=lambda n: n["Name"]):
            row = {"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
                   "Scope": n["Scope"], "Internal": str(n["Internal"]).lower(), "Labels": ",".join(
                       f"{k}={v}" for k, v in (n.get("Labels") or {}).items())}
            print(render(args.format, row))
        return 0
    if args.quiet:
        for network in networks:
            print(network["Id"] if args.no_trunc else network["Id"][:12])
        return 0
    rows = [[n["Id"] if args.no_trunc else n["Id"][:12], n["Name"], n["Driver"], n["Scope"]]
            for n in sorted(networks, key=lambda n: n["Name"])]  # as the docker CLI sorts them
    print(table(rows, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from minidock.errors import MinidockError

    found, status = [], 0
    for name in args.networks:
        try:
            found.append(_client(args).json("GET", f"/networks/{quote(name, safe='')}"))
        except MinidockError as error:
            print(f"Error response from daemon: {error.message}", file=sys.stderr)
            status = 1
    if args.format:
        from minidock.cli.template import render

        for document in found:
            print(render(args.format, document))
    else:
        print(json.dumps(found, indent=4))
    return status


def cmd_rm(args: argparse.Namespace) -> int:
    from minidock.errors import MinidockError

    status = 0
    for name in args.networks:
        try:
            _client(args).json("DELETE", f"/networks/{quote(name, safe='')}")
            print(name)
        except MinidockError as error:
            print(f"Error response from daemon: {error.message}", file=sys.stderr)
            status = 1
    return status


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        print("WARNING! This will remove all custom networks not used by at least one container.")
        if input("Are you sure you want to continue? [y/N] ").strip().lower() not in ("y", "yes"):
            return 0
    query = f"?{urlencode({'filters': _filters(args.filter)})}" if args.filter else ""
    removed = _client(args).json("POST", f"/networks/prune{query}").get("NetworksDeleted") or []
    if removed:
        print("Deleted Networks:")
        for name in removed:
            print(name)
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    endpoint: dict = {}
    if args.ip or args.ip6:
        endpoint["IPAMConfig"] = {key: value for key, value in (("IPv4Address", args.ip),
                                                                ("IPv6Address", args.ip6)) if value}
    if args.alias:
        endpoint["Aliases"] = list(args.alias)
    _client(args).json("POST", f"/networks/{quote(args.network, safe='')}/connect",
                          {"Container": args.container, "EndpointConfig": endpoint})
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    _client(args).json("POST", f"/networks/{quote(args.network, safe='')}/disconnect",
                          {"Container": args.container, "Force": args.force})
    return 0


def add_parsers(verbs, only: str | None = None) -> None:
    """The `network` group."""
    if only not in (None, "network"):
        return
    group = verbs.add_parser("network", help="manage networks")
    sub = group.add_subparsers(dest="network_verb", required=True, metavar="COMMAND")

    create = sub.add_parser("create", help="create a network")
    create.add_argument("-d", "--driver", default="bridge", help="driver to manage the network")
    create.add_argument("--subnet", action="append", default=[], help="subnet in CIDR format")
    create.add_argument("--gateway", action="append", default=[], help="IPv4 or IPv6 gateway for the subnet")
    create.add_argument("--ip-range", action="append", default=[], help="allocate container IPs from a sub-range")
    create.add_argument("--ipv6", action="store_true", help="enable IPv6 networking")
    create.add_argument("--internal", action="store_true", help="restrict external access to the network")
    create.add_argument("--attachable", action="store_true", help="enable manual container attachment")
    create.add_argument("-l", "--label", action="append", default=[], help="set metadata on a network")
    create.add_argument("-o", "--opt", action="append", default=[], help="set driver specific options")
    create.add_argument("name", metavar="NETWORK")
    create.set_defaults(handler=cmd_create)

    listing = sub.add_parser("ls", aliases=["list"], help="list networks")
    listing.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")
    listing.add_argument("-f", "--filter", action="append", default=[], help="filter output")
    listing.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    listing.add_argument("--format", help="format the output using a Go template")
    listing.set_defaults(handler=cmd_ls)

    inspect = sub.add_parser("inspect", help="display detailed information on one or more networks")
    inspect.add_argument("-f", "--format", help="format the output using a Go template")
    inspect.add_argument("networks", nargs="+", metavar="NETWORK")
    inspect.set_defaults(handler=cmd_inspect)

    remove = sub.add_parser("rm", aliases=["remove"], help="remove one or more networks")
    remove.add_argument("networks", nargs="+", metavar="NETWORK")
    remove.set_defaults(handler=cmd_rm)

    prune = sub.add_parser("prune", help="remove all unused networks")
    prune.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    prune.add_argument("--filter", action="append", default=[], help="provide filter values")
    prune.set_defaults(handler=cmd_prune)

    connect = sub.add_parser("connect", help="connect a container to a network")
    connect.add_argument("--ip", default="", help="IPv4 address")
    connect.add_argument("--ip6", default="", help="IPv6 address")
    connect.add_argument("--alias", action="append", default=[], help="add network-scoped alias for the container")
    connect.add_argument("network", metavar="NETWORK")
    connect.add_argument("container", metavar="CONTAINER")
    connect.set_defaults(handler=cmd_connect)

    disconnect = sub.add_parser("disconnect", help="disconnect a container from a network")
    disconnect.add_argument("-f", "--force", action="store_true", help="force the container to disconnect")
    disconnect.add_argument("network", metavar="NETWORK")
    disconnect.add_argument("container", metavar="CONTAINER")
    disconnect.set_defaults(handler=cmd_disconnect)
