"""OCI hooks: programs the runtime runs at fixed points of a container's life.

Implements: spec/runtime.md RT-HOOK-001 .. RT-HOOK-004
Explained:  chapters/03-runtime.md#hooks
Modelled on: the OCI runtime-spec "POSIX-platform Hooks" (runc's libcontainer/configs hooks)

    stage             where it runs               when                          on failure
    createRuntime     runtime's namespaces        namespaces made, before       create fails
                                                  pivot_root
    prestart          (the old name of createRuntime, still honoured first)
    createContainer   the container's namespaces  after pivot_root, before ready create fails
    startContainer    the container's namespaces  after start, before the program  exit 127
    poststart         runtime's namespaces        after the program started     a warning
    poststop          runtime's namespaces        when the container is deleted a warning

    parse(data) -> Hooks          pure: check config.json's `hooks`
    run(hooks, stage, state)      each hook gets the container's state JSON on stdin

Rules: a hook is a path, argv (args[0] included), env and an optional timeout in
seconds; a hook that exits non-zero or runs past its timeout has failed.
"""

from __future__ import annotations

import sys

from minidock import jsonfile
from minidock.errors import InvalidArgument, SystemError as MinidockSystemError
from minidock.records import record

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


@record
class Hook:
    """One program to run."""

    path: str
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Hooks:
    """The hooks of each stage, in order."""

    by_stage: tuple[tuple[str, tuple[Hook, ...]], ...] = ()

    def of(self, stage: str) -> tuple[Hook, ...]:
        return dict(self.by_stage).get(stage, ())


def parse(data: dict) -> Hooks:
    """Check config.json's `hooks` object."""
    raw = data.get("hooks", {})
    if not isinstance(raw, dict):
        raise InvalidArgument("config.json: 'hooks' must be an object")
    stages = []
    for stage, entries in raw.items():
        # [RT-HOOK-004] unknown stages and malformed hooks are refused, naming them
        if stage not in STAGES:
            raise InvalidArgument(f"config.json: unknown hook stage 'hooks.{stage}' (known: {', '.join(STAGES)})")
        if not isinstance(entries, list):
            raise InvalidArgument(f"config.json: 'hooks.{stage}' must be a list")
        hooks = []
        for index, entry in enumerate(entries):
            where = f"hooks.{stage}[{index}]"
            path = entry.get("path") if isinstance(entry, dict) else None
            if not isinstance(path, str) or not path.startswith("/"):
                raise InvalidArgument(f"config.json: '{where}.path' must be an absolute path")
            args = entry.get("args", [path])
            env = entry.get("env", [])
            timeout = entry.get("timeout")
            if not all(isinstance(a, str) for a in args) or not all(isinstance(e, str) for e in env):
                raise InvalidArgument(f"config.json: '{where}.args' and '.env' must be lists of strings")
            if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
                raise InvalidArgument(f"config.json: '{where}.timeout' must be a positive number of seconds")
            hooks.append(Hook(path, tuple(args) or (path,), tuple(env), timeout))
        stages.append((stage, tuple(hooks)))
    if stages:
        # subprocess costs 4 ms of a start and most configs have no hooks, so it is imported
        # only for those that do; here, not when a hook runs: createContainer and
        # startContainer hooks run in the container's init after pivot_root, where the
        # host's Python library is out of reach
        import subprocess  # noqa: F401
    return Hooks(tuple(stages))


def run(hooks: Hooks, stage: str, state: dict, warn_only: bool = False) -> None:
    """Run the hooks of ``stage`` in order; raise on the first failure unless ``warn_only``."""
    stages = ("prestart", "createRuntime") if stage == "createRuntime" else (stage,)
    for name in stages:
        for hook in hooks.of(name):
            problem = _run_one(hook, state)
            if problem is None:
                continue
            message = f"{name} hook {hook.path} {problem}"
            if warn_only:
                print(f"minidock-runtime: warning: {message}", file=sys.stderr, flush=True)
                continue
            raise MinidockSystemError(message)


def _run_one(hook: Hook, state: dict) -> str | None:
    """Run one hook with the state on stdin; return what went wrong, or None."""
    import subprocess  # imported by parse() already: see there

    env = dict(entry.partition("=")[::2] for entry in hook.env)
    try:
        result = subprocess.run(list(hook.args), executable=hook.path,  # args[0] is argv[0]
                                input=jsonfile.dumps(state).encode(), env=env,
                                capture_output=True, timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        return f"ran past its timeout of {hook.timeout}s"
    except OSError as error:
        return f"could not run: {error.strerror}"
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        return f"exited {result.returncode}" + (f": {detail}" if detail else "")
    return None
