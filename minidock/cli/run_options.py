"""`run` and `create` flags -> the body of POST /containers/create, as the docker CLI builds it.

Implements: spec/engine.md ENGINE-CLI-012, ENGINE-CLI-013, ENGINE-CLI-021, ENGINE-CLI-025
Explained:  chapters/05-engine.md#the-cli
Modelled on: docker/cli's cli/command/container/opts.go (parse) and go-units (RAMInBytes)

    add_flags(parser)                         the flags `run` and `create` share
    create_body(args, environ) -> dict        Config's fields at the top level + HostConfig
    ram_in_bytes("512m") -> 536870912         binary units, Docker's error words
    nano_cpus("1.5") -> 1500000000
    go_duration("1m30s") -> 90000000000      nanoseconds, Go's time.ParseDuration and its words
    healthcheck(args) -> dict | None         --health-* and --no-healthcheck -> Healthcheck
    health_flags(add)                        those flags added to a parser (run, create, service)
    capability("net_admin") -> "CAP_NET_ADMIN"   --cap-add / --cap-drop, named as docker's CLI names them
    --device, --device-cgroup-rule           parsed by minidock/engine/device_flags.py (compose's too)

    -i, -t, -a -> the Attach* fields (docker's opts.go and run.go):
      (none)  AttachStdout, AttachStderr      -i  also AttachStdin, OpenStdin, StdinOnce
      -a X    only the streams named          -d  no Attach*, no StdinOnce (OpenStdin with -i)

Rules: pure (no request is sent here); a bad value raises FlagError with the words the
docker CLI prints (`invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'`),
which the verbs turn into exit status 125.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping  # not typing: importing it costs the CLI 3 ms

from minidock.engine.device_flags import device_cgroup_rule, device_mapping
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


_NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


def go_duration(text: str) -> int:
    """Go's time.ParseDuration in nanoseconds: "30s", "1m30s", "500ms", "1.5h", "-2s", "0".

    ValueError with Go's words (time: invalid duration "x", missing unit, unknown unit).
    """
    rest = text
    sign = -1 if rest[:1] == "-" else 1
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        whole, rest = rest[:digits], rest[digits:]
        fraction = ""
        if rest[:1] == ".":
            rest = rest[1:]
            places = len(rest) - len(rest.lstrip("0123456789"))
            fraction, rest = rest[:places], rest[places:]
        if not whole and not fraction:
            raise ValueError(f'time: invalid duration "{text}"')
        size = 0
        while size < len(rest) and rest[size] not in ".0123456789":
            size += 1  # the unit: everything up to the next number
        unit, rest = rest[:size], rest[size:]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _NANOS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += int(whole or 0) * _NANOS[unit]
        if fraction:
            total += int(fraction) * _NANOS[unit] // 10 ** len(fraction)
    return sign * total


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


def restart_policy(text: str | None) -> dict[str, object]:
    """--restart no | always | unless-stopped | on-failure[:N]."""
    if not text:
        return {"Name": "no", "MaximumRetryCount": 0}
    name, _, count = text.partition(":")
    if count and name != "on-failure":
        raise FlagError(f"invalid restart policy format: maximum retry count can only be used with 'on-failure'")
    return {"Name": name, "MaximumRetryCount": _flag_value(_integer, count, "--restart") if count else 0}


def healthcheck(args: argparse.Namespace) -> dict[str, object] | None:
    """--health-cmd, -interval, -timeout, -start-period, -retries, --no-healthcheck -> Healthcheck.

    None when none is given (the image's HEALTHCHECK, if any, applies), as docker's opts.go.
    """
    durations = {field: _flag_value(go_duration, value, flag) if value is not None else 0
                 for field, flag, value in (("Interval", "--health-interval", args.health_interval),
                                            ("Timeout", "--health-timeout", args.health_timeout),
                                            ("StartPeriod", "--health-start-period", args.health_start_period))}
    retries = _flag_value(_integer, args.health_retries, "--health-retries") if args.health_retries else 0
    given = bool(args.health_cmd) or retries != 0 or any(durations.values())
    if args.no_healthcheck:
        if given:
            raise FlagError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    for field, flag in (("Interval", "--health-interval"), ("Timeout", "--health-timeout"),
                        ("StartPeriod", "--health-start-period")):
        if durations[field] < 0:
            raise FlagError(f"{flag} cannot be negative")
    if retries < 0:
        raise FlagError("--health-retries cannot be negative")
    check: dict[str, object] = {"Test": ["CMD-SHELL", args.health_cmd]} if args.health_cmd else {}
    return {**check, **durations, "Retries": retries}


def health_flags(add) -> None:
    """--health-cmd, -interval, -timeout, -start-period, -retries and --no-healthcheck (run, create,
    and service create / update)."""
    add("--health-cmd", help="command to run to check health")
    add("--health-interval", help="time between running the check (ms|s|m|h) (default 0s)")
    add("--health-timeout", help="maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    add("--health-start-period", help="start period for the container to initialize before "
                                      "counting retries towards unstable (ms|s|m|h) (default 0s)")
    add("--health-retries", help="consecutive failures needed to report unhealthy")
    add("--no-healthcheck", action="store_true", help="disable any container-specified HEALTHCHECK")


def capability(name: str) -> str:
    """`net_admin` -> `CAP_NET_ADMIN`, as the docker CLI sends it (its NormalizeCapability); `ALL` stays."""
    name = name.strip().upper()
    return name if name == "ALL" or name.startswith("CAP_") else "CAP_" + name


def attach_streams(entries: list[str]) -> set[str]:
    """-a stdin -a STDOUT ... -> {"stdin", "stdout"} (docker's words for any other name)."""
    streams = set()
    for entry in entries:
        if entry.lower() not in ("stdin", "stdout", "stderr"):
            raise FlagError(f'invalid argument "{entry}" for "-a, --attach" flag: '
                            "valid streams are STDIN, STDOUT and STDERR")
        streams.add(entry.lower())
    return streams


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of `run` and `create` (docker's names; values are checked in create_body)."""
    add = parser.add_argument
    add("--detach-keys", help="override the key sequence for detaching a container (ctrl-p,ctrl-q)")
    add("--sig-proxy", nargs="?", const="true", default="true",
        help="proxy received signals to the process (default true; --sig-proxy=false not to)")
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
    add("--device", action="append", default=[], help="add a host device to the container")
    add("--device-cgroup-rule", action="append", default=[],
        help="add a rule to the cgroup allowed devices list ('c 1:3 rwm')")
    add("--init", action="store_true", default=None,
        help="run an init inside the container that forwards signals and reaps processes")
    add("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    add("-l", "--label", action="append", default=[], help="set meta data on a container")
    add("--stop-signal", help="signal to stop the container")
    add("--restart", help="restart policy to apply when a container exits")
    add("--rm", action="store_true", help="automatically remove the container when it exits")
    add("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    add("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    add("-a", "--attach", action="append", default=[], help="attach to STDIN, STDOUT or STDERR")
    health_flags(add)
    from minidock.cli.networks import add_run_flags

    add_run_flags(parser)  # -p -P --expose --network --ip --network-alias --dns --add-host
    from minidock.cli import volume_options  # -v, --mount, --tmpfs, --volumes-from

    volume_options.add_flags(parser)
    parser.add_argument("image", help="the image to run")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")


def create_body(args: argparse.Namespace, environ: Mapping[str, str], detach: bool = True) -> dict[str, object]:
    """POST /containers/create's body for these flags (docker's field names and defaults)."""
    streams = attach_streams(args.attach)
    if detach and streams and getattr(args, "detach", False):
        raise FlagError("Conflicting options: -a and -d")
    if args.interactive:
        streams.add("stdin")
    if not args.attach:
        streams |= {"stdout", "stderr"}
    config: dict[str, object] = {
        "Hostname": args.hostname or "",
        "User": args.user or "",
        "AttachStdin": not detach and "stdin" in streams,
        "AttachStdout": not detach and "stdout" in streams,
        "AttachStderr": not detach and "stderr" in streams,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": not detach and args.interactive,
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
    check = healthcheck(args)
    if check is not None:
        config["Healthcheck"] = check
    host: dict[str, object] = {
        "AutoRemove": args.rm,
        "NetworkMode": args.network or "default",
        "RestartPolicy": restart_policy(args.restart),
        "Privileged": args.privileged,
        "Init": args.init,
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
        host["CapAdd"] = [capability(name) for name in args.cap_add]
    if args.cap_drop:
        host["CapDrop"] = [capability(name) for name in args.cap_drop]
    if args.device:
        host["Devices"] = [_flag_value(device_mapping, text, "--device") for text in args.device]
    if args.device_cgroup_rule:
        host["DeviceCgroupRules"] = [_flag_value(device_cgroup_rule, text, "--device-cgroup-rule")
                                     for text in args.device_cgroup_rule]
    if args.volume or args.mount or args.tmpfs or args.volumes_from or args.volume_driver:
        from minidock.cli import volume_options

        volume_options.apply(args, config, host)
    config["HostConfig"] = host
    from minidock.cli.networks import apply_run_flags

    apply_run_flags(args, config)
    return config
