"""`run` and `create` flags -> the body of POST /containers/create, as the docker CLI builds it.

Implements: spec/engine.md ENGINE-CLI-012, ENGINE-CLI-013
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/container/opts.go (parse) and go-units (RAMInBytes)

    add_flags(parser)                         the flags `run` and `create` share
    create_body(args, environ) -> dict        Config's fields at the top level + HostConfig
    ram_in_bytes("512m") -> 536870912         binary units, Docker's error words
    nano_cpus("1.5") -> 1500000000

Rules: pure (no request is sent here); a bad value raises FlagError with the words the
docker CLI prints (`invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'`),
which the verbs turn into exit status 125.
"""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from minidock.errors import InvalidArgument

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class FlagError(InvalidArgument):
    """A flag's value the CLI itself refuses (exit 125, like cobra's flag errors)."""


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: "512m", "1g", "100k", "1.5GiB", "4096" (bytes); ValueError if bad."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise ValueError(f"invalid size: '{text}'")
    number, suffix = (text[:sep + 1], text[sep + 1:]) if text[sep] != " " else (text[:sep], text[sep + 1:])
    try:
        size = float(number)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax') from None
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    lowered = suffix.lower()
    bad = ValueError(f"invalid suffix: '{lowered if len(suffix) <= 3 else suffix}'")
    if len(suffix) > 3:
        raise bad
    if lowered[0] == "b":
        if len(lowered) > 1:
            raise bad
        return int(size)
    if lowered[0] not in _BINARY:
        raise bad
    if (len(lowered) == 2 and lowered[1] != "b") or (len(lowered) == 3 and lowered[1:] != "ib"):
        raise bad
    return int(size * _BINARY[lowered[0]])


def nano_cpus(text: str) -> int:
    """--cpus: a rational number of CPUs as billionths (docker's opts.NanoCPUs)."""
    from fractions import Fraction  # here: fractions imports decimal, and the CLI starts fast

    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nanos = value * 10**9
    if nanos.denominator != 1:
        raise ValueError("value is too precise")
    return int(nanos)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


def _flag_value(convert, value: str, flag: str):
    try:
        return convert(value)
    except ValueError as error:
        raise FlagError(f'invalid argument "{value}" for "{flag}" flag: {error}') from None


def environment(entries: list[str], files: list[str], environ: Mapping[str, str]) -> list[str]:
    """--env-file lines first, then -e; a bare NAME takes its value from our environment."""
    result: list[str] = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except OSError as error:
            raise FlagError(f"open {path}: {error.strerror.lower()}") from None
        for line in lines:
            line = line.lstrip()
            if not line or line.startswith("#"):
                continue
            name, sep, _ = line.partition("=")
            if any(c.isspace() for c in name):
                raise FlagError(f"variable '{name}' contains whitespaces")
            if sep:
                result.append(line)
            elif name in environ:
                result.append(f"{name}={environ[name]}")
    for entry in entries:
        name, sep, _ = entry.partition("=")
        if not name:
            raise FlagError(f"invalid environment variable: {entry}")
        if sep:
            result.append(entry)
        elif name in environ:
            result.append(f"{name}={environ[name]}")
        else:
            result.append(name)  # as docker: sent, and dropped by the daemon
    return result


def labels(entries: list[str]) -> dict[str, str]:
    """-l key=value (a bare key has the empty value)."""
    out: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def restart_policy(text: str | None) -> dict[str, Any]:
    """--restart no | always | unless-stopped | on-failure[:N]."""
    if not text:
        return {"Name": "no", "MaximumRetryCount": 0}
    name, _, count = text.partition(":")
    if count and name != "on-failure":
        raise FlagError(f"invalid restart policy format: maximum retry count can only be used with 'on-failure'")
    return {"Name": name, "MaximumRetryCount": _flag_value(_integer, count, "--restart") if count else 0}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of `run` and `create` (docker's names; values are checked in create_body)."""
    add = parser.add_argument
    add("--name", help="assign a name to the container")
    add("-e", "--env", action="append", default=[], help="set environment variables")
    add("--env-file", action="append", default=[], help="read in a file of environment variables")
    add("-w", "--workdir", help="working directory inside the container")
    add("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    add("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    add("-h", "--hostname", help="container host name")
    add("-m", "--memory", help="memory limit")
    add("--memory-swap", help="swap limit equal to memory plus swap: -1 for unlimited")
    add("--cpus", help="number of CPUs")
    add("-c", "--cpu-shares", help="CPU shares (relative weight)")
    add("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    add("--pids-limit", help="tune the container's pids limit (-1 for unlimited)")
    add("--cap-add", action="append", default=[], help="add Linux capabilities")
    add("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    add("--privileged", action="store_true", help="give extended privileges to this container")
    add("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    add("-l", "--label", action="append", default=[], help="set meta data on a container")
    add("--stop-signal", help="signal to stop the container")
    add("--restart", help="restart policy to apply when a container exits")
    add("--network", "--net", help="connect a container to a network (none, host)")
    add("--rm", action="store_true", help="automatically remove the container when it exits")
    add("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    add("-i", "--interactive", action="store_true", help="keep STDIN open (not supported yet)")
    parser.add_argument("image", help="the image to run")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")


def create_body(args: argparse.Namespace, environ: Mapping[str, str], detach: bool = True) -> dict[str, Any]:
    """POST /containers/create's body for these flags (docker's field names and defaults)."""
    config: dict[str, Any] = {
        "Hostname": args.hostname or "",
        "User": args.user or "",
        "AttachStdin": False,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": False,
        "Image": args.image,
        "WorkingDir": args.workdir or "",
        "Labels": labels(args.label),
    }
    env = environment(args.env, args.env_file, environ)
    if env:
        config["Env"] = env
    if args.command:
        config["Cmd"] = list(args.command)
    if args.entrypoint is not None:
        # docker: --entrypoint "" resets the image's entrypoint
        config["Entrypoint"] = [args.entrypoint] if args.entrypoint else []
    if args.stop_signal:
        config["StopSignal"] = args.stop_signal
    host: dict[str, Any] = {
        "AutoRemove": args.rm,
        "NetworkMode": args.network or "default",
        "RestartPolicy": restart_policy(args.restart),
        "Privileged": args.privileged,
        "ReadonlyRootfs": args.read_only,
    }
    if args.memory is not None:
        host["Memory"] = _flag_value(ram_in_bytes, args.memory, "-m, --memory")
    if args.memory_swap is not None:
        host["MemorySwap"] = -1 if args.memory_swap == "-1" else _flag_value(
            ram_in_bytes, args.memory_swap, "--memory-swap")
    if args.cpus is not None:
        host["NanoCpus"] = _flag_value(nano_cpus, args.cpus, "--cpus")
    if args.cpu_shares is not None:
        host["CpuShares"] = _flag_value(_integer, args.cpu_shares, "-c, --cpu-shares")
    if args.cpuset_cpus:
        host["CpusetCpus"] = args.cpuset_cpus
    if args.pids_limit is not None:
        host["PidsLimit"] = _flag_value(_integer, args.pids_limit, "--pids-limit")
    if args.cap_add:
        host["CapAdd"] = list(args.cap_add)
    if args.cap_drop:
        host["CapDrop"] = list(args.cap_drop)
    config["HostConfig"] = host
    return config
