"""Daemons that died: each live daemon holds a lock; what a dead one left on the host is removed.

Implements: spec/networking.md NET-016
Explained:  chapters/07-networking.md#bridges-and-veths
Modelled on: nothing in Docker (one dockerd per host); the test suite runs dozens of minidockds

    alive = hold("1b39c307", False, data_root)     /run/lock/minidock/daemon-<id>.json, flock held
    reap(own_id) -> [ids]                           remove the links and chains of dead daemons

Rules: a daemon is dead when its lock file exists and nobody holds its flock (the
kernel drops a flock when its holder dies, SIGKILL included). What a dead daemon
with --live-restore left is kept while its data root is there: its containers may
still run, and it will come back for them. A daemon with no lock file (from before
this rule) is never reaped.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from typing import IO

LOCK_DIR = "/run/lock/minidock"


def _path(daemon_id: str) -> str:
    return os.path.join(LOCK_DIR, f"daemon-{daemon_id}.json")


def hold(daemon_id: str, live_restore: bool, data_root: str) -> IO:
    """Take this daemon's lock for its whole life; keep the returned file open."""
    os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
    file = open(_path(daemon_id), "a+")
    fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a second daemon on these roots fails here
    file.seek(0)
    file.truncate()
    json.dump({"live_restore": live_restore, "data_root": os.path.realpath(data_root), "pid": os.getpid()}, file)
    file.flush()
    return file


def _dead(daemon_id: str) -> bool:
    """Its lock file is there and nobody holds it, and it left no containers to live on (or no
    data root to come back to)."""
    try:
        file = open(_path(daemon_id), "r")
    except FileNotFoundError:
        return False
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # alive
        try:
            record = json.load(file)
        except ValueError:
            return True
        return not record.get("live_restore") or not os.path.isdir(record.get("data_root", "/nonexistent"))


def reap(own_id: str) -> list[str]:
    """[NET-016] Remove the tagged links and the chains of every dead daemon; return their IDs."""
    from minidock.networking import firewall
    from minidock.networking.links import Links
    from minidock.networking.nftables import Nftables

    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found = set(re.findall(r"MINIDOCK-([0-9a-f]{8})", rules))
    links = subprocess.run(["ip", "-o", "-d", "link"], capture_output=True, text=True).stdout
    found |= set(re.findall(r"alias minidock:([0-9a-f]{8}):", links))
    has_nft = shutil.which("nft") is not None
    if has_nft:
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        found |= set(re.findall(r"table ip6? minidock-([0-9a-f]{8})", tables))
    reaped = []
    for daemon_id in sorted(found - {own_id}):
        if not _dead(daemon_id):
            continue
        firewall.Iptables(firewall.chains(daemon_id)).teardown()
        if firewall.has_ip6tables():
            firewall.Iptables(firewall.chains(daemon_id), "ip6tables").teardown()  # [NET-084]
        if has_nft:
            Nftables(daemon_id).teardown()
            Nftables(daemon_id, "ip6").teardown()  # [NET-084]
        theirs = Links(f"minidock:{daemon_id}")
        try:
            for name, kind, _ in theirs.ours():
                if kind == "veth":
                    theirs.remove(name)
            for name, _, _ in theirs.ours():
                theirs.remove(name)
        finally:
            theirs.close()
        os.unlink(_path(daemon_id))
        reaped.append(daemon_id)
    return reaped
