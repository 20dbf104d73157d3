"""The builder: a parsed Dockerfile and a context, step by step, into an image.

Implements: spec/build.md BUILD-005 .. BUILD-012
Explained:  chapters/08-build.md#the-builder
Modelled on: moby's classic builder (builder/dockerfile: dispatchers.go, internals.go):
             one image per step, RUN in a container, COPY as a layer, the rest config only

    Builder(backend, context_dir, options, emit).build(dockerfile) -> image ID

    for each needed stage (the target's, and those it copies from or builds on):
        FROM ──▶ base image (or scratch), its ONBUILD triggers run
        RUN ──▶ backend.run: a container of the current image; its diff is the new layer
        COPY/ADD ──▶ a tar of the sources (context or another stage) ──▶ backend.add_layer
        ENV LABEL CMD … ──▶ backend.add_config: same layers, new config, an empty_layer entry
        every step first asks the cache: (parent image, what the step does, what it copies)

Rules: the Dockerfile was parsed whole before anything runs (a syntax error costs
nothing); every step's words are expanded here with the variables of its moment;
nothing is tagged unless the whole build succeeded (the backend tags at the end).
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import hashlib
import io
import json
import os
import posixpath
import re
import stat
import tarfile
import time
from typing import Any, Callable, Protocol

from minidock.build import shellwords
from minidock.build.dockerfile import Dockerfile, Instruction, Stage, parse_instruction
from minidock.errors import InvalidArgument, MinidockError, NotFound

DEFAULT_SHELL = ["/bin/sh", "-c"]
# build args that need no ARG to be used (Docker's predefined proxy args)
PREDEFINED_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                   "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                "m": 60_000_000_000, "h": 3_600_000_000_000}


class BuildError(MinidockError):
    """A step failed: the build stops there and nothing is tagged."""


class Backend(Protocol):
    """What the builder needs from an engine (minidock/engine/build.py implements it)."""

    def lookup(self, name: str) -> tuple[str, dict] | None: ...          # image ID and config, or None
    def directories(self, image_id: str) -> dict[str, tuple[int, int, int]]: ...  # "/etc": (mode, uid, gid)
    def read_file(self, image_id: str, path: str) -> bytes | None: ...   # a file of the image, or None
    async def unpacked(self, image_id: str) -> str: ...                  # its tree in a folder (COPY --from)
    async def pull(self, name: str, emit: Callable[[str], None]) -> None: ...  # from its registry
    async def run(self, image_id: str | None, runtime: dict, command: list[str], env: list[str],
                  created_by: str, output: Callable[[str], None]) -> str: ...
    async def add_layer(self, image_id: str | None, runtime: dict, produce: Callable, created_by: str) -> str: ...
    async def add_config(self, image_id: str | None, runtime: dict, created_by: str) -> str: ...
    def cached(self, key: str) -> str | None: ...
    def remember(self, key: str, image_id: str) -> None: ...


@dataclasses.dataclass
class Options:
    """`docker build`'s flags that reach the builder."""

    build_args: dict[str, str | None] = dataclasses.field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False                # --pull: pull every base image, even one the engine has
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    scratch: str = "/tmp"  # where layer tars are spooled


@dataclasses.dataclass
class State:
    """One stage as it is being built."""

    image_id: str | None
    runtime: dict[str, Any]
    args: dict[str, str]              # ARGs declared in this stage, with their values
    shell: list[str]
    cmd_set: bool = False             # a CMD in this stage (ENTRYPOINT then keeps it)
    author: str = ""

    def env(self) -> dict[str, str]:
        """What $VAR means now: the ARGs, then ENV over them."""
        values = dict(self.args)
        for line in self.runtime.get("Env") or []:
            key, _, value = line.partition("=")
            values[key] = value
        return values


def go_duration(text: str, flag: str) -> int:
    """A Go duration ("30s", "1m30s", "500ms") in nanoseconds."""
    total, at = 0, 0
    for match in _DURATION.finditer(text):
        if match.start() != at:
            break
        total += int(float(match.group(1)) * _DURATION_NS[match.group(2)])
        at = match.end()
    if at != len(text) or not text:
        raise InvalidArgument(f"time: invalid duration {text!r} for --{flag}")
    return total


class Builder:
    """Builds one Dockerfile; ``emit`` gets the lines of output (Docker's "Step 1/5 : ...")."""

    def __init__(self, backend: Backend, context: str, options: Options, emit: Callable[[str], None]) -> None:
        self.backend = backend
        self.context = os.path.realpath(context)
        self.options = options
        self.emit = emit
        self.built: dict[int, State] = {}     # stage index -> its final state
        self.used_args: set[str] = set()

    # -- the plan -------------------------------------------------------------------------------

    def needed(self, dockerfile: Dockerfile) -> list[Stage]:
        """The target stage and the stages it needs, in file order (BUILD-011)."""
        target = dockerfile.stages[-1]
        if self.options.target:
            target = dockerfile.stage(self.options.target)
            if target is None:
                raise InvalidArgument(f"failed to reach build target {self.options.target} in Dockerfile")
        wanted: set[int] = set()

        def visit(stage: Stage, path: tuple[int, ...]) -> None:
            if stage.index in path:
                names = " -> ".join(dockerfile.stages[i].name or str(i) for i in (*path, stage.index))
                # [BUILD-011] a stage that needs itself
                raise InvalidArgument(f"circular dependency detected on stage: {names}")
            if stage.index in wanted:
                return
            for dependency in self._dependencies(dockerfile, stage):
                visit(dependency, (*path, stage.index))
            wanted.add(stage.index)

        visit(target, ())
        return [stage for stage in dockerfile.stages if stage.index in wanted]

    def _dependencies(self, dockerfile: Dockerfile, stage: Stage) -> list[Stage]:
        found = []
        base = dockerfile.stage(stage.base.lower()) if not stage.base.isdigit() else None
        if base is not None and base.index < stage.index:
            found.append(base)
        for instruction in stage.instructions:
            source = instruction.flag("from") if instruction.command == "COPY" else None
            if source is not None:
                other = dockerfile.stage(source.lower())
                if other is not None:
                    found.append(other)
        return found

    # -- the build ------------------------------------------------------------------------------

    async def build(self, dockerfile: Dockerfile) -> str:
        """Build what is needed; return the last stage's image ID."""
        self.dockerfile = dockerfile
        stages = self.needed(dockerfile)
        self.total = sum(1 + len(stage.instructions) for stage in stages) + len(dockerfile.meta_args)
        self.step = 0
        meta = {}
        for instruction in dockerfile.meta_args:
            self._announce(instruction)
            meta.update(self._declare_args(instruction, meta, {}))
        self.meta = meta
        state = None
        for stage in stages:
            state = await self._stage(stage)
            self.built[stage.index] = state
        unused = sorted(set(self.options.build_args) - self.used_args - set(PREDEFINED_ARGS))
        if unused:
            self.emit(f"[Warning] One or more build-args {unused} were not consumed\n")
        if self.options.labels:
            state.runtime["Labels"] = {**(state.runtime.get("Labels") or {}), **self.options.labels}
            state.image_id = await self.backend.add_config(state.image_id, state.runtime,
                                                           "/bin/sh -c #(nop)  LABEL " + _pairs_text(self.options.labels))
        if state.image_id is None:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        return state.image_id

    def _announce(self, instruction: Instruction) -> None:
        self.step += 1
        self.emit(f"Step {self.step}/{self.total} : {instruction.original}\n")

    async def _stage(self, stage: Stage) -> State:
        self.step += 1
        self.emit(f"Step {self.step}/{self.total} : FROM {stage.base}" + (f" AS {stage.name}" if stage.name else "") + "\n")
        base = shellwords.expand_word(stage.base, self.meta, self.dockerfile.escape)
        state = await self._from(base)
        self.emit(f" ---> {_short(state.image_id) if state.image_id else 'scratch'}\n")
        for trigger in state.runtime.pop("OnBuild", None) or []:
            self.emit(f"# Executing 1 build trigger\n")
            await self._do(state, parse_instruction(trigger, 0, escape=self.dockerfile.escape))
        for instruction in stage.instructions:
            self._announce(instruction)
            await self._do(state, instruction)
            self.emit(f" ---> {_short(state.image_id) if state.image_id else 'scratch'}\n")
        return state

    async def _from(self, base: str) -> State:
        if not base:
            raise InvalidArgument("base name (FROM) should not be blank")
        stage = self.dockerfile.stage(base.lower())
        if stage is not None and stage.index in self.built:
            built = self.built[stage.index]
            return State(built.image_id, copy.deepcopy(built.runtime), {}, list(built.shell))
        if base == "scratch":
            return State(None, {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                         {}, list(DEFAULT_SHELL))
        found = None if self.options.pull else self.backend.lookup(base)
        if found is None:
            # [BUILD-006] a base not in the engine is pulled, as the classic builder does;
            # --pull pulls it even when it is there (a newer one may have been pushed)
            await self.backend.pull(base, self.emit)
            found = self.backend.lookup(base)
            if found is None:
                raise NotFound(f"pull access denied for {base}: the image is not in this engine after the pull")
        image_id, config = found
        runtime = copy.deepcopy(config.get("config") or {})
        return State(image_id, runtime, {}, list(runtime.get("Shell") or DEFAULT_SHELL))

    # -- one instruction ------------------------------------------------------------------------

    async def _do(self, state: State, instruction: Instruction) -> None:
        command = instruction.command
        escape = self.dockerfile.escape
        env = state.env()

        def word(text: str) -> str:
            return shellwords.expand_word(text, env, escape)

        if command == "RUN":
            await self._run(state, instruction)
        elif command in ("COPY", "ADD"):
            await self._copy(state, instruction, env)
        elif command == "ARG":
            state.args.update(self._declare_args(instruction, state.args, self.meta, env))
            await self._config(state, f"ARG {' '.join(instruction.args)}")
        elif command == "WORKDIR":
            nop = self._apply(state, instruction, word, env)
            await self._workdir(state, nop)
        else:
            nop = self._apply(state, instruction, word, env)
            await self._config(state, nop)

    def _declare_args(self, instruction: Instruction, known: dict[str, str], meta: dict[str, str],
                      env: dict[str, str] | None = None) -> dict[str, str]:
        """ARG name[=default]: the build arg's value, else the default, else the global one."""
        declared = {}
        for text in instruction.args:
            name, equals, default = text.partition("=")
            value: str | None = None
            if equals:
                value = shellwords.expand_word(default, {**meta, **(env or known)}, self.dockerfile.escape)
            elif name in meta:
                value = meta[name]
            if name in self.options.build_args and self.options.build_args[name] is not None:
                value = self.options.build_args[name]
                self.used_args.add(name)
            declared[name] = value if value is not None else ""
        return declared

    def _apply(self, state: State, instruction: Instruction, word, env: dict[str, str]) -> str:
        """A config-only instruction on the state; return its `#(nop)` history text."""
        command, args = instruction.command, list(instruction.args)
        runtime = state.runtime
        escape = self.dockerfile.escape
        if command in ("ENV", "LABEL"):
            pairs = [(word(args[i]), word(args[i + 1])) for i in range(0, len(args), 2)]
            if command == "ENV":
                lines = list(runtime.get("Env") or [])
                for key, value in pairs:
                    lines = [line for line in lines if line.partition("=")[0] != key] + [f"{key}={value}"]
                    env[key] = value
                runtime["Env"] = lines
            else:
                runtime["Labels"] = {**(runtime.get("Labels") or {}), **dict(pairs)}
            return f"{command} " + " ".join(f"{key}={value}" for key, value in pairs)
        if command in ("CMD", "ENTRYPOINT"):
            value = args if instruction.json else ([*state.shell, args[0]] if args else [])
            if command == "CMD":
                runtime["Cmd"] = value
                state.cmd_set = True
            else:
                runtime["Entrypoint"] = value
                if not state.cmd_set:
                    runtime["Cmd"] = None  # an inherited CMD is dropped with a new ENTRYPOINT
            return f"{command} {_go_quoted(value)}"
        if command == "SHELL":
            state.shell = args
            runtime["Shell"] = args
            return f"SHELL [{' '.join(args)}]"
        if command == "WORKDIR":
            path = word(args[0])
            runtime["WorkingDir"] = posixpath.normpath(posixpath.join(runtime.get("WorkingDir") or "/", path))
            return f"WORKDIR {runtime['WorkingDir']}"
        if command == "USER":
            runtime["User"] = word(args[0])
            return f"USER {runtime['User']}"
        if command == "EXPOSE":
            ports = dict(runtime.get("ExposedPorts") or {})
            written = shellwords.expand_words(" ".join(args), env, escape)
            for text in written:
                for port in _ports(text):
                    ports[port] = {}
            runtime["ExposedPorts"] = ports
            return "EXPOSE " + " ".join(written)
        if command == "VOLUME":
            paths = args if instruction.json else shellwords.expand_words(" ".join(args), env, escape)
            for path in paths:
                if not path.strip():
                    raise InvalidArgument("VOLUME specified can not be an empty string")
            runtime["Volumes"] = {**(runtime.get("Volumes") or {}), **{path: {} for path in paths}}
            return f"VOLUME [{' '.join(paths)}]"
        if command == "STOPSIGNAL":
            runtime["StopSignal"] = word(args[0])
            return f"STOPSIGNAL {runtime['StopSignal']}"
        if command == "MAINTAINER":
            state.author = args[0]
            return f"MAINTAINER {args[0]}"
        if command == "ONBUILD":
            trigger = args[0]
            runtime["OnBuild"] = [*(runtime.get("OnBuild") or []), trigger]
            return f"ONBUILD {trigger}"
        if command == "HEALTHCHECK":
            if args[0] == "NONE":
                runtime["Healthcheck"] = {"Test": ["NONE"]}
            else:
                test = ["CMD", *args[1:]] if instruction.json else ["CMD-SHELL", args[1]]
                check: dict[str, Any] = {"Test": test}
                for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                                  ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
                    if instruction.flag(flag):
                        check[key] = go_duration(instruction.flag(flag), flag)
                if instruction.flag("retries"):
                    retries = instruction.flag("retries")
                    if not retries.isdigit() or int(retries) < 1:
                        raise InvalidArgument(f"--retries must be at least 1 (not {retries})")
                    check["Retries"] = int(retries)
                runtime["Healthcheck"] = check
            check = runtime["Healthcheck"]
            return (f"HEALTHCHECK &{{{_go_quoted(check['Test'])} \"{go_duration_text(check.get('Interval', 0))}\" "
                    f"\"{go_duration_text(check.get('Timeout', 0))}\" \"{go_duration_text(check.get('StartPeriod', 0))}\" "
                    f"'\\x{check.get('Retries', 0):02x}'}}")
        raise InvalidArgument(f"unknown instruction: {command}")

    async def _step(self, state: State, created_by: str, make) -> None:
        """Every step: the cache first (BUILD-010), else ``make()`` the image, remembered."""
        key = self._key(state, created_by)
        hit = self._cache(key)
        if hit:
            state.image_id = hit
            return
        state.image_id = await make()
        self.backend.remember(key, state.image_id)

    async def _layer(self, state: State, created_by: str, entries, owner=(0, 0), mode: int | None = None) -> str:
        """A layer of ``entries`` (see _write_copy_tar) on the current image, its tar written
        straight into the store (no copy of it on the way)."""
        existing = self._existing_dirs(state.image_id)
        return await self.backend.add_layer(
            state.image_id, state.runtime, lambda out: _write_copy_tar(out, entries, owner, mode, existing), created_by)

    async def _config(self, state: State, nop: str) -> None:
        """A config-only step: a new image with the same layers."""
        created_by = f"/bin/sh -c #(nop)  {nop}"
        await self._step(state, created_by,
                         lambda: self.backend.add_config(state.image_id, state.runtime, created_by))

    async def _workdir(self, state: State, nop: str) -> None:
        """WORKDIR: config, and the directory made (a layer) when the image does not have it."""
        path = state.runtime["WorkingDir"]
        if path == "/" or path in self._existing_dirs(state.image_id):
            await self._config(state, nop)
            return
        created_by = f"/bin/sh -c #(nop)  {nop}"
        await self._step(state, created_by, lambda: self._layer(state, created_by, [("dir", path, "")]))

    # -- RUN ------------------------------------------------------------------------------------

    async def _run(self, state: State, instruction: Instruction) -> None:
        if instruction.json:
            command = list(instruction.args)
        elif instruction.heredocs and instruction.args[0].strip().startswith("<<"):
            body = instruction.heredocs[0]
            content = body.content
            if body.expand:
                content = shellwords.expand_word(f'"{_escape_quotes(content)}"', state.env(), "\\")
            command = [*state.shell, content]
        else:
            command = [*state.shell, instruction.args[0]]
        args_used = {key: value for key, value in state.args.items()}
        prefix = f"|{len(args_used)} " + " ".join(f"{k}={v}" for k, v in sorted(args_used.items())) + " " if args_used else ""
        created_by = prefix + " ".join(command)
        env = [f"{k}={v}" for k, v in args_used.items() if not any(
            line.partition("=")[0] == k for line in state.runtime.get("Env") or [])]
        await self._step(state, created_by, lambda: self.backend.run(
            state.image_id, state.runtime, command, env, created_by, self.emit))

    # -- COPY and ADD ---------------------------------------------------------------------------

    async def _copy(self, state: State, instruction: Instruction, env: dict[str, str]) -> None:
        escape = self.dockerfile.escape
        words = [shellwords.expand_word(w, env, escape) for w in instruction.args]
        sources, dest = words[:-1], words[-1]
        workdir = state.runtime.get("WorkingDir") or "/"
        dest_is_dir = dest.endswith("/") or dest in (".", "..") or len(sources) > 1
        dest = posixpath.normpath(posixpath.join(workdir, dest))
        chown = instruction.flag("chown")
        owner = self._owner(state, shellwords.expand_word(chown, env, escape)) if chown else (0, 0)
        chmod = instruction.flag("chmod")
        mode = None
        if chmod:
            if not re.fullmatch(r"[0-7]{3,4}", chmod):
                raise InvalidArgument(f"invalid chmod parameter {chmod!r}: an octal mode like 0644 is expected")
            mode = int(chmod, 8)
        from_stage = instruction.flag("from")
        heredocs = {doc.name: doc for doc in instruction.heredocs}
        entries: list[tuple[str, str, str | bytes]] = []  # (kind, name in the image, source path or content)
        checksum = hashlib.sha256()
        if from_stage is not None:
            root = await self._image_root(from_stage)
        else:
            root = self.context
        for source in sources:
            if source.startswith("<<") and source.lstrip("<-").strip("'\"") in heredocs:
                doc = heredocs[source.lstrip("<-").strip("'\"")]
                content = doc.content
                if doc.expand:
                    content = shellwords.expand_word(f'"{_escape_quotes(content)}"', env, "\\")
                target = posixpath.join(dest, doc.name) if dest_is_dir else dest
                entries.append(("data", target, content.encode()))
                checksum.update(b"heredoc:" + content.encode())
                continue
            if instruction.command == "ADD" and re.match(r"^https?://", source):
                name, data = await self._download(source)
                target = posixpath.join(dest, name) if dest_is_dir else dest
                entries.append(("url", target, data))  # 0600, as dockerd writes a download
                checksum.update(b"url:" + source.encode() + hashlib.sha256(data).digest())
                continue
            for path in self._sources(root, source, from_stage):
                relative = os.path.relpath(path, root)
                if instruction.command == "ADD" and os.path.isfile(path) and _is_archive(path):
                    entries.append(("archive", dest, path))
                elif os.path.isdir(path) and not os.path.islink(path):
                    entries.append(("tree", dest, path))
                else:
                    target = posixpath.join(dest, posixpath.basename(relative)) if dest_is_dir else dest
                    entries.append(("file", target, path))
                checksum.update(f"{relative}\0".encode())
                _hash_tree(checksum, path)
        if not entries:
            raise InvalidArgument(f"{instruction.command} failed: no source files were specified")
        digest = checksum.hexdigest()
        what = "multi" if len(entries) > 1 else ("dir" if entries[0][0] == "tree" else "file")
        options = (f" --chown={chown}" if chown else "") + (f" --chmod={chmod}" if chmod else "")
        created_by = f"/bin/sh -c #(nop) {instruction.command}{options} {what}:{digest} in {dest} "
        await self._step(state, created_by, lambda: self._layer(state, created_by, entries, owner, mode))

    def _sources(self, root: str, source: str, from_stage: str | None) -> list[str]:
        """The paths a COPY source names (globs expanded), each checked to be inside ``root``."""
        where = "the build context" if from_stage is None else f"stage {from_stage}"
        relative = posixpath.normpath(source.lstrip("/")) if from_stage is not None else posixpath.normpath(source)
        if relative.startswith("../") or relative == ".." or (from_stage is None and source.startswith("/") is False
                                                                and relative.startswith("..")):
            # [BUILD-008] Docker's words
            raise InvalidArgument(f"forbidden path outside the build context: {source} ()")
        relative = relative.lstrip("/")
        if any(char in relative for char in "*?["):
            matches = []
            for dirpath, dirnames, filenames in os.walk(root):
                for name in [*dirnames, *filenames]:
                    candidate = os.path.relpath(os.path.join(dirpath, name), root)
                    if fnmatch.fnmatchcase(candidate, relative):
                        matches.append(os.path.join(root, candidate))
            if not matches:
                raise InvalidArgument(f"COPY failed: no source files were specified (no match for {source} in {where})")
            paths = sorted(matches)
        else:
            paths = [os.path.join(root, relative) if relative != "." else root]
        checked = []
        for path in paths:
            if not os.path.lexists(path):
                # [BUILD-008] Docker's words for a missing source
                raise NotFound(f"COPY failed: file not found in build context or excluded by .dockerignore: "
                               f"stat {source}: file does not exist" if from_stage is None else
                               f"COPY failed: stat {source}: file does not exist in {where}")
            real = os.path.realpath(path)
            if real != os.path.realpath(root) and not real.startswith(os.path.realpath(root) + os.sep):
                raise InvalidArgument(f"forbidden path outside the build context: {source} ({real})")
            checked.append(real if os.path.islink(path) else path)
        return checked

    async def _image_root(self, name: str) -> str:
        """The file tree of a built stage or an image, unpacked for COPY --from."""
        stage = self.dockerfile.stage(name.lower())
        if stage is not None:
            if stage.index not in self.built:
                raise InvalidArgument(f"invalid from flag value {name}: the stage is not built before this one")
            image_id = self.built[stage.index].image_id
        else:
            found = self.backend.lookup(name)
            if found is None:
                raise NotFound(f"invalid from flag value {name}: no such image or stage")
            image_id = found[0]
        if image_id is None:
            return self._empty_root()
        return await self.backend.unpacked(image_id)

    def _empty_root(self) -> str:
        path = os.path.join(self.options.scratch, ".empty-root")
        os.makedirs(path, exist_ok=True)
        return path

    def _existing_dirs(self, image_id: str | None) -> dict[str, tuple[int, int, int]]:
        """The directories of the image below: (mode, uid, gid), for the parents a COPY names."""
        return self.backend.directories(image_id) if image_id else {}

    def _owner(self, state: State, text: str) -> tuple[int, int]:
        """--chown=user[:group]: numbers, or names from the image's /etc/passwd and /etc/group.

        Without a group, the user's words name the group too (moby's parseChownFlag).
        """
        user, _, group = text.partition(":")
        group = group or user
        tables = {"user": "/etc/passwd", "group": "/etc/group"}

        def look(name: str, what: str) -> int:
            if name.isdigit():
                return int(name)
            table = self.backend.read_file(state.image_id, tables[what]) if state.image_id else None
            for line in (table or b"").decode(errors="replace").splitlines():
                fields = line.split(":")
                if len(fields) > 2 and fields[0] == name:
                    return int(fields[2])
            # [BUILD-007] dockerd's words
            raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: can't find "
                                  f"{'uid' if what == 'user' else 'gid'} for {what} {name}: no such {what}: {name}")

        return look(user, "user"), look(group, "group")

    async def _download(self, url: str) -> tuple[str, bytes]:
        """ADD http(s)://...: the file's name (from the URL) and its bytes."""
        import asyncio
        import urllib.request

        def fetch() -> bytes:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the user's URL
                return response.read()

        try:
            data = await asyncio.to_thread(fetch)
        except OSError as error:
            raise InvalidArgument(f"failed to download {url}: {error}") from None
        name = posixpath.basename(url.split("?")[0].rstrip("/")) or "index.html"
        return name, data

    # -- the cache ------------------------------------------------------------------------------

    def _key(self, state: State, created_by: str) -> str:
        """The cache key of a step: the image it starts from and what it does (BUILD-010)."""
        runtime = json.dumps(state.runtime, sort_keys=True)
        return hashlib.sha256(f"{state.image_id}\n{created_by}\n{runtime}".encode()).hexdigest()

    def _cache(self, key: str) -> str | None:
        if self.options.no_cache:
            return None
        hit = self.backend.cached(key)
        if hit:
            self.emit(" ---> Using cache\n")
        return hit


# -- helpers --------------------------------------------------------------------------------------

def _go_quoted(items) -> str:
    """A list as Go's %q prints a []string: ["a" "b c"] (the classic builder's history text)."""
    return "[" + " ".join(json.dumps(item) for item in items or []) + "]"


def go_duration_text(nanoseconds: int) -> str:
    """Go's time.Duration.String(): 0s, 500ms, 5s, 1m30s, 1h0m0s."""
    if nanoseconds == 0:
        return "0s"
    if nanoseconds < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanoseconds >= size:
                return f"{nanoseconds / size:g}{unit}"
    seconds = nanoseconds / 1e9
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{seconds:g}s"
    if hours or minutes:
        text = f"{int(minutes)}m" + text
    if hours:
        text = f"{int(hours)}h" + text
    return text


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _pairs_text(labels: dict[str, str]) -> str:
    return " ".join(f'{json.dumps(k)}={json.dumps(v)}' for k, v in sorted(labels.items()))


def _escape_quotes(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\$", "\\$")


def _ports(text: str) -> list[str]:
    """EXPOSE 80, 80/udp, 8000-8002/tcp -> "80/tcp", ..."""
    spec, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    first, dash, last = spec.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise InvalidArgument(f"invalid containerPort: {spec}")
    return [f"{port}/{proto}" for port in range(int(first), int(last or first) + 1)]


def _is_archive(path: str) -> bool:
    """ADD extracts a local tar (plain, gzip, bzip2, xz); any other file is copied as it is."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _hash_tree(checksum, path: str) -> None:
    """Names, modes and contents under ``path`` into the step's checksum (BUILD-010)."""
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames) + dirnames:
                _hash_entry(checksum, os.path.join(dirpath, name), os.path.relpath(os.path.join(dirpath, name), path))
    else:
        _hash_entry(checksum, path, "")


def _hash_entry(checksum, path: str, name: str) -> None:
    info = os.lstat(path)
    checksum.update(f"{name}\0{info.st_mode:o}\0".encode())
    if stat.S_ISLNK(info.st_mode):
        checksum.update(os.readlink(path).encode())
    elif stat.S_ISREG(info.st_mode):
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                checksum.update(block)


def _write_copy_tar(out, entries, owner: tuple[int, int], mode: int | None,
                    existing: dict[str, tuple[int, int, int]]) -> None:
    """The layer of a COPY: the parents of each destination, then what is copied.

    A parent the image has keeps its mode and owner (as a diff would show it); a new
    one is 0755 and --chown's (root's without it). Files keep their mode unless --chmod;
    all get --chown's owner.
    """
    uid, gid = owner
    written: set[str] = set()
    mtime = int(time.time())

    def parents(name: str, tar: tarfile.TarFile) -> None:
        parts = name.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            if directory in written:
                continue
            written.add(directory)
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            # a new directory belongs to --chown's owner, as dockerd's MkdirAllAndChownNew makes it
            info.mode, info.uid, info.gid = existing.get("/" + directory, (0o755, uid, gid))
            info.mtime = mtime
            tar.addfile(info)

    def add_path(tar: tarfile.TarFile, path: str, name: str) -> None:
        parents(name, tar)
        info = tar.gettarinfo(path, arcname=name.strip("/"))
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        if mode is not None and not info.issym():
            info.mode = mode
        written.add(name.strip("/"))
        if info.isreg():
            with open(path, "rb") as file:
                tar.addfile(info, file)
        else:
            tar.addfile(info)

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, target, source in entries:
            if kind == "dir":
                parents(target + "/x", tar)
            elif kind in ("data", "url"):
                parents(target, tar)
                info = tarfile.TarInfo(target.strip("/"))
                info.size, info.uid, info.gid, info.mtime = len(source), uid, gid, mtime
                info.mode = mode or (0o600 if kind == "url" else 0o644)
                tar.addfile(info, io.BytesIO(source))
            elif kind == "file":
                add_path(tar, source, target)
            elif kind == "tree":
                # the directory's contents into the destination (the directory itself is not copied)
                if target.strip("/") and target.strip("/") not in written:
                    parents(target + "/x", tar)
                for dirpath, dirnames, filenames in os.walk(source):
                    dirnames.sort()
                    for name in [*sorted(dirnames), *sorted(filenames)]:
                        path = os.path.join(dirpath, name)
                        add_path(tar, path, posixpath.join(target, os.path.relpath(path, source)))
            elif kind == "archive":
                parents(target + "/x", tar)
                with tarfile.open(source, mode="r:*") as archive:
                    for member in archive.getmembers():
                        name = posixpath.normpath(member.name.lstrip("/"))
                        if name.startswith(".."):
                            raise InvalidArgument(f"ADD: {os.path.basename(source)} holds {member.name!r}, outside its destination")
                        if member.issym() or member.islnk():
                            link = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname)) \
                                if member.issym() else posixpath.normpath(member.linkname)
                            if member.islnk() and link.startswith(".."):
                                raise InvalidArgument(f"ADD: {os.path.basename(source)}: link {member.name!r} escapes")
                        member.name = posixpath.join(target.strip("/"), name) if name != "." else target.strip("/")
                        if member.islnk():
                            member.linkname = posixpath.join(target.strip("/"), posixpath.normpath(member.linkname))
                        tar.addfile(member, archive.extractfile(member) if member.isreg() else None)
