"""The container's /etc/hosts, /etc/resolv.conf and /etc/hostname, as Docker writes them.

Implements: spec/networking.md NET-020 .. NET-022
Explained:  chapters/07-networking.md#etc-files
Modelled on: moby's libnetwork/etchosts and libnetwork/resolvconf

    hosts(hostname, addresses, extra_hosts) -> text
    resolv_conf(host_text, nameservers, search, options, embedded) -> text

Rules: pure. The engine writes the files under the container's directory and
bind-mounts them, so the image's own files are never changed.
"""

from __future__ import annotations

import ipaddress

from minidock.errors import InvalidArgument

LOCALHOST = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
# dockerd's fallback when the host's resolv.conf names only local resolvers
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def parse_extra_host(entry: str) -> tuple[str, str]:
    """One `--add-host name:ip` (or name=ip) -> (name, ip); Docker's words when it is wrong."""
    name, sep, address = entry.partition(":") if "=" not in entry else entry.partition("=")
    if not sep or not name:
        raise InvalidArgument(f"invalid IP address in add-host: \"{address or entry}\"")
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise InvalidArgument(f"invalid IP address in add-host: \"{address}\"") from None
    return name, address.strip("[]")


def hosts(hostname: str, addresses: list[str], extra_hosts: list[str] = ()) -> str:
    """[NET-020] localhost, the --add-host lines, then each address of the container with its name."""
    lines = [LOCALHOST]
    for entry in extra_hosts:
        name, address = parse_extra_host(entry)
        lines.append(f"{address}\t{name}\n")
    for address in addresses:
        lines.append(f"{address}\t{hostname}\n")
    if not addresses:
        lines.append(f"127.0.1.1\t{hostname}\n")
    return "".join(lines)


def host_nameservers(text: str) -> tuple[list[str], list[str], list[str]]:
    """The nameserver, search and options lines of a resolv.conf."""
    nameservers, search, options = [], [], []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            nameservers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return nameservers, search, options


def resolv_conf(host_text: str, dns: list[str] = (), dns_search: list[str] = (),
                dns_options: list[str] = (), embedded: str | None = None) -> str:
    """[NET-021] The container's resolv.conf.

    On a user-defined network the only nameserver is the network's embedded DNS
    (``embedded``), which forwards what it does not know. Elsewhere it is --dns, or
    the host's nameservers without local ones (127.0.0.53 means nothing in another
    network namespace), or dockerd's fallback.
    """
    servers, search, options = host_nameservers(host_text)
    if embedded:
        servers = [embedded]
    elif dns:
        servers = list(dns)
    else:
        servers = [s for s in servers if not ipaddress.ip_address(s.split("%")[0]).is_loopback
                   and ":" not in s] or list(FALLBACK_NAMESERVERS)
    if dns_search:
        search = list(dns_search)
    if dns_options:
        options = list(dns_options)
    lines = [f"nameserver {server}\n" for server in servers]
    if search:
        lines.append(f"search {' '.join(search)}\n")
    if options:
        lines.append(f"options {' '.join(options)}\n")
    return "".join(lines)
