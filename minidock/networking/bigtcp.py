"""BIG TCP: a link's segmentation limits raised past 64 KiB, through rtnetlink.

Implements: spec/networking.md NET-112
Explained:  chapters/07-networking.md#what-a-bridge-costs

    limits(index) -> {"gso_max_size": ..., "gso_ipv4_max_size": ..., ...}   read with RTM_GETLINK
    raise_limits(index)    gso/gro max sizes, IPv6 and IPv4, to the link's tso_max_size (at most 512 KiB)

Why: two containers on a bridge of MTU 1500 talk in TCP segments of 1448 bytes, but the
kernel hands each veth and the bridge a "super packet" of up to gso_max_size bytes, cut
into segments only where a real device needs it. A veth never needs it, yet its limit is
64 KiB as for a network card. Past that limit (BIG TCP: Linux 5.19 for IPv6, 6.3 for IPv4)
a packet carries up to 512 KiB, so the per-packet work of the veths, the bridge and its
netfilter hooks is done eight times less often. Every device on the path must allow it:
the kernel cuts a larger packet into segments, in software, before a device whose limit
is lower (gso_features_check in net/core/dev.c), so a packet that leaves for a real card
or a VXLAN tunnel is cut as it always was.

pyroute2 (0.9) does not know the IPv4 attributes (IFLA_GSO_IPV4_MAX_SIZE, 63), so this
module speaks rtnetlink itself: a 16-byte nlmsghdr, a 16-byte ifinfomsg, then attributes
of 4-byte header + value, each padded to 4 bytes (rtnetlink(7), netlink(7)).
"""

from __future__ import annotations

import os
import socket
import struct

RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2

# include/uapi/linux/if_link.h: the IFLA_* numbers of the limits
ATTRIBUTES = {"gso_max_size": 41, "gro_max_size": 58, "tso_max_size": 59,
              "gso_ipv4_max_size": 63, "gro_ipv4_max_size": 64}
# IPv6 first: setting gso_max_size also lowers gso_ipv4_max_size when it is larger
RAISED = ("gso_max_size", "gro_max_size", "gso_ipv4_max_size", "gro_ipv4_max_size")
BIG_TCP_MAX = 524280  # GSO_MAX_SIZE, the kernel's ceiling (a veth's tso_max_size)


def _request(message_type: int, index: int, attributes: bytes = b"") -> bytes:
    """Send one rtnetlink request about link ``index``; the reply's payload, or OSError."""
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0) + attributes
    header = struct.pack("=IHHII", 16 + len(body), message_type, NLM_F_REQUEST | NLM_F_ACK, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
        sock.send(header + body)
        reply = sock.recv(65536)
    _length, kind = struct.unpack_from("=IH", reply)
    if kind == NLMSG_ERROR:
        error = struct.unpack_from("=i", reply, 16)[0]
        if error:
            raise OSError(-error, f"rtnetlink: {os.strerror(-error)} (link {index})")
    return reply[16:]


def limits(index: int) -> dict[str, int]:
    """The GSO/GRO/TSO limits of link ``index`` in this thread's namespace (absent ones left out)."""
    payload = _request(RTM_GETLINK, index)
    names = {number: name for name, number in ATTRIBUTES.items()}
    found, offset = {}, 16  # past the ifinfomsg
    while offset + 4 <= len(payload):
        length, number = struct.unpack_from("=HH", payload, offset)
        if length < 4:
            break
        if number in names and length == 8:
            found[names[number]] = struct.unpack_from("=I", payload, offset + 4)[0]
        offset += (length + 3) & ~3
    return found


def raise_limits(index: int) -> int:
    """[NET-112] Raise the GSO and GRO limits of link ``index`` to its tso_max_size (BIG TCP); the size set.

    A kernel without BIG TCP has no tso_max_size (before 5.19): nothing is changed there.
    """
    size = min(limits(index).get("tso_max_size", 0), BIG_TCP_MAX)
    if size <= 65536:
        return 0
    attributes = b"".join(struct.pack("=HHI", 8, ATTRIBUTES[name], size) for name in RAISED)
    _request(RTM_NEWLINK, index, attributes)
    return size
