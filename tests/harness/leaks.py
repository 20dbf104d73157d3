"""The leak check: a test session MUST leave the host as it found it.

Implements: spec/harness.md HARNESS-LEAK-001 .. HARNESS-LEAK-012
Explained:  spec/harness.md "Leak check"
Modelled on: runc's integration tests, which check for leftover mounts and cgroups

At session start (on the xdist controller, or the only process) we snapshot the
host; at session finish we look again. Every new object is a leak, printed as
"leak: <kind> <name>", and the session exits non-zero.

    kind      what is compared                               source
    mount     mount points                                   /proc/self/mountinfo
    cgroup    directories under /sys/fs/cgroup (v1 and v2)   os.walk (user.slice ignored, and
              a new cgroup whose processes are all someone else's)
    link      network links, any type                        ip -j -d link
    netns     named network namespaces                       ip -j netns list, /run/netns
    iptables  rules and chains of every table, no counters   iptables-save, ip6tables-save
    nft       ruleset lines, no counters                     nft list ruleset
    state     what a runtime keeps of a container: every     os.walk of /run/minidock-runtime,
              path under its state root (not the root)       /run/runc, /run/crun, /run/containerd
    process   a process holding MINIDOCK_TEST_SESSION=<our token> in its environ,
              or started during the session in another PID namespace (a container)

Not leaks (HARNESS-LEAK-012): what a daemon that is not the session's makes with its first
container and keeps, while it is empty: dockerd's parent cgroup `docker` and its mount of
the host's network namespace (the suite run against real Docker), and the folders of a
containerd that was running before the session.

The token: at session start we put MINIDOCK_TEST_SESSION=<uuid> in os.environ, so
every worker, daemon and their children inherit it; pytest, its ancestors and its
xdist workers are not leaks.

    --no-leak-check             skip all this
    --leak-check-match=REGEX    report only leaks whose "<kind> <name>" matches
                                (the harness self-tests use it to ignore what tests
                                running at the same time create)
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

TOKEN_VARIABLE = "MINIDOCK_TEST_SESSION"
CGROUP_ROOT = Path("/sys/fs/cgroup")
IGNORED_CGROUPS = ("user.slice",)  # logins come and go while tests run
# `ip netns add` makes /run/netns a mount point of its own the first time; that is iproute2's
# set-up, not a test's leftover (the namespaces themselves are mounts under it, and are checked).
IGNORED_MOUNTS = ("/run/netns",)
# The state roots of the runtimes the tests drive without --root (and containerd's, where its
# shims keep sockets and ctr its fifos). A runtime makes its root once and keeps it; what is
# inside belongs to one container, and outlives it only if a delete was missed.
RUNTIME_STATE_ROOTS = (Path("/run/minidock-runtime"), Path("/run/runc"), Path("/run/crun"), Path("/run/containerd"))
# Made by another daemon with its first container and kept for its life (HARNESS-LEAK-012):
# dockerd's cgroupfs driver puts container ID in <hierarchy>/docker/ID, and containerd keeps a
# folder per plugin and namespace (io.containerd.runtime.v2.task/moby/ID) and one for its
# shims' sockets (s/HASH). Only the empty folder is theirs: what a container leaves is not.
DOCKER_PARENT_CGROUP = "docker"
CONTAINERD_ROOT = Path("/run/containerd")
# and dockerd's bind of the host's network namespace, EXEC_ROOT/netns/default, made with its
# first network sandbox (/run/docker/netns/default by default); /run/netns/default would be
# a namespace named "default" made by `ip netns add`, which does count
DOCKER_HOST_NETNS_MOUNT = "/netns/default (nsfs)"
IP_NETNS_DIR = "/run/netns/"
IPTABLES_NFT_TABLE = re.compile(r"^table (ip|ip6) (filter|nat|mangle|raw|security)$")
WORKER_CMDLINE = b"import sys;exec(eval(sys.stdin.readline()))"  # an xdist (execnet) worker
WORKER_EXIT_WAIT = 3.0  # seconds the xdist workers get to finish exiting

Snapshot = dict[str, Counter]  # kind -> Counter of names (a name can be there twice)


@dataclass(frozen=True)
class Leak:
    """One object that the session left behind."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"leak: {self.kind} {self.name}"


def pytest_addoption(parser: pytest.Parser) -> None:
    """--no-leak-check and --leak-check-match."""
    group = parser.getgroup("minidock-leaks", "minidock leak check")
    group.addoption("--no-leak-check", action="store_true", default=False,
                    help="do not compare mounts, cgroups, links, netns, iptables, nft and processes "
                         "before and after the session")
    group.addoption("--leak-check-match", default=None, metavar="REGEX",
                    help="report only the leaks whose '<kind> <name>' matches REGEX")


def pytest_configure(config: pytest.Config) -> None:
    """Start the check on the controller (xdist workers inherit the token, nothing else)."""
    if hasattr(config, "workerinput") or config.getoption("no_leak_check"):
        return
    config.pluginmanager.register(LeakCheck(config), "minidock-leaks")


# -- snapshots: one function per kind -------------------------------------------


def unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> Counter:
    """Counter of "<mount point> (<fstype>)" from /proc/PID/mountinfo text."""
    mounts: Counter = Counter()
    for line in text.splitlines():
        fields, _, rest = line.partition(" - ")
        if not rest:
            continue
        point = unescape_mountinfo(fields.split()[4])
        if point not in IGNORED_MOUNTS:
            mounts[f"{point} ({rest.split()[0]})"] += 1
    return mounts


def cgroup_directories(root: Path = CGROUP_ROOT) -> Counter:
    """Counter of every cgroup directory under root, v1 hierarchies and v2 alike."""
    found: Counter = Counter()
    for directory, subdirectories, _ in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in IGNORED_CGROUPS]
        found[directory] += 1
    return found


def runtime_state(roots: tuple[Path, ...] = RUNTIME_STATE_ROOTS) -> Counter:
    """Counter of every file and folder below each runtime state root (not the roots themselves)."""
    found: Counter = Counter()
    for root in roots:
        for top, folders, files in os.walk(root):
            found.update(os.path.join(top, name) for name in folders + files)
    return found


def parse_links(ip_json: str) -> Counter:
    """Counter of "<name> (<type>)" from `ip -j -d link` output."""
    links: Counter = Counter()
    for link in json.loads(ip_json or "[]"):
        kind = link.get("linkinfo", {}).get("info_kind") or link.get("link_type", "?")
        links[f"{link['ifname']} ({kind})"] += 1
    return links


def parse_netns(ip_json: str, run_netns: list[str]) -> Counter:
    """Counter of netns names from `ip -j netns list` and the files in /run/netns."""
    names = {entry["name"] for entry in json.loads(ip_json or "[]")} | set(run_netns)
    return Counter(names)


def parse_iptables_save(text: str, family: str) -> Counter:
    """Counter of "<family> -t <table> <rule or :chain>", counters stripped.

    A built-in chain with the policy ACCEPT is left out: it is what a table looks like when
    the first `iptables -t TABLE` loads it, not a leftover. A user chain ("-") or a changed
    policy (":FORWARD DROP") counts.
    """
    rules: Counter = Counter()
    table = "?"
    for line in text.splitlines():
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
            continue
        if line.startswith(":"):
            line = " ".join(line.split()[:2])  # ":CHAIN POLICY [0:0]" -> ":CHAIN POLICY"
            if line.endswith(" ACCEPT"):
                continue
        rules[f"{family} -t {table} {line}"] += 1
    return rules


def parse_nft_ruleset(text: str) -> Counter:
    """Counter of ruleset lines, each prefixed by its enclosing blocks ("table inet x / chain y / ...").

    Counters are stripped. The tables of iptables-nft (ip/ip6 filter, nat, mangle, raw, security)
    are left out: iptables-save shows their rules, and iptables leaves them behind, empty, once
    it has been used. compare() reports only the top of something new (a table, not its rules).
    """
    lines: Counter = Counter()
    stack: list[str] = []
    for raw in text.splitlines():
        line = re.sub(r"counter packets \d+ bytes \d+", "counter", raw.strip())
        if not line or line.startswith("#"):
            continue
        if line == "}":
            stack = stack[:-1]
            continue
        opens = line.endswith("{")
        line = line.removesuffix("{").strip()
        path = [*stack, line]
        if not IPTABLES_NFT_TABLE.match(path[0]):
            lines[" / ".join(path)] += 1
        if opens:
            stack.append(line)
    return lines


def snapshot(host) -> Snapshot:
    """Every kind but processes, as Counters of names; host is a testinfra Host."""
    state: Snapshot = {
        "mount": parse_mountinfo(Path("/proc/self/mountinfo").read_text()),
        "cgroup": cgroup_directories(),
        "link": parse_links(host.run("ip -j -d link show").stdout),
        "netns": parse_netns(host.run("ip -j netns list").stdout,
                             os.listdir("/run/netns") if os.path.isdir("/run/netns") else []),
        "state": runtime_state(),
    }
    iptables: Counter = Counter()
    for command, family in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
        if host.exists(command):
            iptables += parse_iptables_save(host.run(command).stdout, family)
    state["iptables"] = iptables
    state["nft"] = parse_nft_ruleset(host.run("nft list ruleset").stdout) if host.exists("nft") else Counter()
    return state


def compare(before: Snapshot, after: Snapshot) -> list[Leak]:
    """Every name with more copies after than before, as Leaks (nft: only the top of a new block)."""
    leaks: list[Leak] = []
    for kind, names in after.items():
        new = names - before.get(kind, Counter())
        for name in sorted(new):
            if kind == "nft" and any(name.startswith(parent + " / ") for parent in new):
                continue
            leaks.append(Leak(kind, name))
    return leaks


# -- processes ----------------------------------------------------------------


def read_proc(pid: int, name: str) -> bytes:
    """/proc/PID/name, or b"" if the process is gone or hides it."""
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def process_ids() -> list[int]:
    """Every PID we can see."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: when it started, in ticks since boot (with pid, an identity)."""
    stat = read_proc(pid, "stat").decode(errors="replace")
    return stat.rpartition(")")[2].split()[19] if stat else ""


def parent_of(pid: int) -> int:
    """The parent PID (field 4 of /proc/PID/stat), 0 if unknown."""
    stat = read_proc(pid, "stat").decode(errors="replace")
    return int(stat.rpartition(")")[2].split()[1]) if stat else 0


def is_zombie(pid: int) -> bool:
    """State Z: dead, waiting for its parent to reap it; it holds nothing but its PID."""
    stat = read_proc(pid, "stat").decode(errors="replace")
    return not stat or stat.rpartition(")")[2].split()[0] == "Z"


def ancestors_of(pid: int) -> set[int]:
    """pid and all its ancestors."""
    found = set()
    while pid > 0 and pid not in found:
        found.add(pid)
        pid = parent_of(pid)
    return found


def pid_namespace(pid: int) -> str:
    """The pid namespace, as readlink(/proc/PID/ns/pid) shows it; "" if unreadable."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def describe_process(pid: int) -> str:
    """'1234 sleep 1000' (the command line, or [comm] for a kernel-less-args process)."""
    command = read_proc(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
    if not command:
        command = "[" + read_proc(pid, "comm").decode(errors="replace").strip() + "]"
    return f"{pid} {command}"


def is_xdist_worker(pid: int, controller: int) -> bool:
    """A direct child of the controller running execnet's bootstrap."""
    return parent_of(pid) == controller and WORKER_CMDLINE in read_proc(pid, "cmdline")


def leaked_processes(token: str, started_before: set[tuple[int, str]]) -> list[int]:
    """PIDs that hold the token, or that started during the session in another PID namespace."""
    me = os.getpid()
    mine = ancestors_of(me)
    our_namespace = pid_namespace(me)
    needle = f"\0{TOKEN_VARIABLE}={token}\0".encode()
    leaked = []
    for pid in process_ids():
        if pid in mine or is_zombie(pid):
            continue
        if needle in b"\0" + read_proc(pid, "environ"):
            leaked.append(pid)
            continue
        namespace = pid_namespace(pid)
        if namespace and namespace != our_namespace and (pid, start_time(pid)) not in started_before:
            leaked.append(pid)
    return leaked


def leaked_processes_after_workers(token: str, started_before: set[tuple[int, str]]) -> list[int]:
    """leaked_processes(), once the xdist workers have had WORKER_EXIT_WAIT seconds to exit."""
    me = os.getpid()
    deadline = time.monotonic() + WORKER_EXIT_WAIT
    while True:
        pids = [pid for pid in leaked_processes(token, started_before) if read_proc(pid, "stat")]
        workers = [pid for pid in pids if is_xdist_worker(pid, me)]
        if not workers or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return [pid for pid in pids if pid not in workers]


def processes_in_cgroup(directory: str) -> set[int]:
    """The PIDs in a cgroup and the cgroups below it."""
    pids: set[int] = set()
    for path, _, files in os.walk(directory):
        if "cgroup.procs" in files:
            try:
                pids.update(int(pid) for pid in Path(path, "cgroup.procs").read_text().split())
            except OSError:
                pass  # removed while we looked
    return pids


def is_someone_elses_cgroup(directory: str, our_processes: set[int]) -> bool:
    """A new cgroup whose processes are all alive and none is ours belongs to someone else.

    The machine keeps working while the tests run (systemd, logins, other jobs, other test
    sessions), and makes cgroups for its own processes. A cgroup we leaked is either empty
    (the usual case: the container exited, the directory stayed) or holds a leaked process.
    """
    pids = processes_in_cgroup(directory)
    return bool(pids) and not pids & our_processes


def is_kept_by_a_daemon(leak: Leak, containerd_was_running: bool, cgroup_root: Path = CGROUP_ROOT,
                        containerd_root: Path = CONTAINERD_ROOT) -> bool:
    """An empty object that a daemon other than the session's made and keeps (HARNESS-LEAK-012).

    mount: dockerd's EXEC_ROOT/netns/default. cgroup: `docker` at the top of a hierarchy
    (v2: of the root), with no group and no process below it. state: a folder under a
    containerd root that existed before the session (``containerd_was_running``), with no
    file below it (folders in folders: a plugin's folder and its namespace's). Anything
    else is a leak.
    """
    if leak.kind == "mount":
        return leak.name.endswith(DOCKER_HOST_NETNS_MOUNT) and not leak.name.startswith(IP_NETNS_DIR)
    path = Path(leak.name)
    try:
        if leak.kind == "cgroup":
            at_the_top = cgroup_root in (path.parent, path.parent.parent)
            return (path.name == DOCKER_PARENT_CGROUP and at_the_top
                    and not any(entry.is_dir() for entry in path.iterdir())
                    and not processes_in_cgroup(str(path)))
        if leak.kind == "state":
            return (containerd_was_running and containerd_root in path.parents and path.is_dir()
                    and not any(files for _, _, files in os.walk(path)))
    except OSError:  # gone while we looked: not there, so nothing to report either way
        return True
    return False


# -- the plugin ---------------------------------------------------------------


class LeakCheck:
    """Snapshot at session start, compare at session finish, report in the terminal summary."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.host = testinfra.get_host("local://")
        pattern = config.getoption("leak_check_match")
        self.match = re.compile(pattern) if pattern else None
        self.token = ""
        self.before: Snapshot = {}
        self.started_before: set[tuple[int, str]] = set()
        self.leaks: list[Leak] = []
        self.containerd_was_running = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        """The token first (before xdist starts its workers), then the snapshot."""
        self.token = uuid.uuid4().hex
        os.environ[TOKEN_VARIABLE] = self.token
        self.started_before = {(pid, start_time(pid)) for pid in process_ids()}
        self.containerd_was_running = CONTAINERD_ROOT.is_dir()
        self.before = snapshot(self.host)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Runs after xdist has shut its workers down; a leak fails the session."""
        if not self.token:
            return
        processes = leaked_processes_after_workers(self.token, self.started_before)
        leaks = [leak for leak in compare(self.before, snapshot(self.host))
                 if not (leak.kind == "cgroup" and is_someone_elses_cgroup(leak.name, set(processes)))
                 and not is_kept_by_a_daemon(leak, self.containerd_was_running)]
        leaks += [Leak("process", describe_process(pid)) for pid in processes]
        self.leaks = [leak for leak in leaks if not self.match or self.match.search(f"{leak.kind} {leak.name}")]
        if self.leaks and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """Each leak on its own line, by kind and name."""
        if not self.leaks:
            return
        terminalreporter.section("leak check", red=True, bold=True)
        for leak in self.leaks:
            terminalreporter.write_line(str(leak), red=True)
        terminalreporter.write_line(f"leak check: FAILED: {len(self.leaks)} object(s) left behind "
                                    "(clean up in a finally or a fixture's teardown)", red=True, bold=True)
