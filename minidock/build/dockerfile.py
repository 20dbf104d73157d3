"""The Dockerfile grammar: text in, stages of instructions out, each with its line. Pure.

Implements: spec/build.md BUILD-001, BUILD-002
Explained:  chapters/08-build.md#the-parser
Modelled on: moby/buildkit's frontend/dockerfile/parser (directives, continuations,
             heredocs) and instructions/parse.go (the forms each instruction takes)

    parse(text) -> Dockerfile(directives, meta_args, stages)
    Instruction: command ("RUN"), flags {"from": "build"}, args (the words, the pairs
                 or the exec-form list), json (exec form?), heredocs, line, original

    text ─▶ directives (# escape=`, # syntax=…) ─▶ logical lines (continuations joined,
    comments dropped, heredoc bodies taken) ─▶ instructions ─▶ ARGs before FROM + stages

Rules: nothing is expanded here: $VAR stays as written; the builder expands each
instruction with the variables of its moment (minidock/build/shellwords.py). An
error names the line (and the column where there is one) as BuildKit's do.
"""

from __future__ import annotations

import dataclasses
import json
import re

from minidock.errors import InvalidArgument

# The instructions a Dockerfile may hold (instructions/parse.go)
COMMANDS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
            "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
# the flags each takes (anything else: "unknown flag")
FLAGS = {
    "ADD": {"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude"},
    "COPY": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "FROM": {"platform"},
    "RUN": {"mount", "network", "security"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
# exec form ([...] JSON) is tried for these; SHELL takes nothing else
JSON_FORM = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"}
HEREDOC_COMMANDS = {"RUN", "COPY", "ADD"}
DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_ENV_KEY = re.compile(r"^[^=\s]+$")


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be parsed: the message names the line (and column)."""

    def __init__(self, message: str, line: int, column: int | None = None) -> None:
        where = f"line {line}" + (f", column {column}" if column else "")
        super().__init__(f"dockerfile parse error on {where}: {message}")
        self.line, self.column, self.reason = line, column, message


@dataclasses.dataclass(frozen=True)
class Heredoc:
    """A here-document: ``RUN <<EOF`` ... ``EOF``; ``expand`` is False when the word was quoted."""

    name: str
    content: str
    expand: bool = True
    strip_tabs: bool = False


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One instruction, as written (not expanded).

    ``args``: exec form -> the JSON list; RUN/CMD/ENTRYPOINT/HEALTHCHECK CMD shell form
    -> [the command text]; ENV/LABEL -> [key, value, key, value...]; ARG -> [name or
    name=default...]; the others -> their words (quotes kept: expansion removes them).
    """

    command: str
    args: tuple[str, ...]
    line: int
    original: str
    flags: tuple[tuple[str, str], ...] = ()
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    sub: "Instruction | None" = None  # ONBUILD's instruction; HEALTHCHECK CMD's command

    def flag(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.flags:
            if key == name:
                return value
        return default

    def flag_list(self, name: str) -> list[str]:
        return [value for key, value in self.flags if key == name]


@dataclasses.dataclass
class Stage:
    """``FROM base [AS name]`` and what follows it."""

    base: str
    name: str | None
    line: int
    platform: str | None
    instructions: list[Instruction]
    index: int = 0


@dataclasses.dataclass
class Dockerfile:
    directives: dict[str, str]
    meta_args: list[Instruction]  # ARGs before the first FROM (usable in FROM lines only)
    stages: list[Stage]
    escape: str = "\\"

    def stage(self, name_or_index: str) -> Stage | None:
        """A stage by its AS name (case-insensitive) or its index."""
        for stage in self.stages:
            if stage.name and stage.name == name_or_index.lower():
                return stage
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return self.stages[int(name_or_index)]
        return None


# -- lines ----------------------------------------------------------------------------------------

def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    """The parser directives at the top; and the index of the first line after them."""
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip()) if line.strip().startswith("#") else None
        if not match or match.group(1).lower() not in DIRECTIVES:
            return found, index  # anything else ends the directives: later ones are comments
        key = match.group(1).lower()
        if key in found:
            raise DockerfileError(f"only one {key} parser directive can be used", index + 1)
        found[key] = match.group(2)
    return found, len(lines)


def _continues(line: str, escape: str) -> bool:
    stripped = line.rstrip(" \t\r")
    return stripped.endswith(escape) and not stripped.endswith(escape * 2) if escape == "\\" \
        else stripped.endswith(escape)


def _logical_lines(lines: list[str], start: int, escape: str):
    """(first line number, joined text, heredoc bodies) for each instruction."""
    index = start
    while index < len(lines):
        raw = lines[index]
        if not raw.strip() or raw.lstrip().startswith("#"):
            index += 1
            continue
        first = index + 1
        text = ""
        line = raw
        while True:
            if _continues(line, escape):
                text += line.rstrip(" \t\r")[:-1]
                index += 1
                # comment and empty lines inside a continuation are skipped (as BuildKit does)
                while index < len(lines) and (not lines[index].strip() or lines[index].lstrip().startswith("#")):
                    index += 1
                if index >= len(lines):
                    break
                line = lines[index]
                continue
            text += line.rstrip("\r")
            index += 1
            break
        command = text.strip().split(None, 1)[0].upper() if text.strip() else ""
        bodies: list[Heredoc] = []
        if command in HEREDOC_COMMANDS or (command == "ONBUILD" and _HEREDOC.search(text)):
            for match in _HEREDOC.finditer(text):
                strip_tabs, quote, name = match.group(1) == "-", match.group(2), match.group(3)
                content_lines = []
                while index < len(lines) and (lines[index].lstrip("\t") if strip_tabs else lines[index]).rstrip("\r") != name:
                    body_line = lines[index]
                    content_lines.append(body_line.lstrip("\t") if strip_tabs else body_line)
                    index += 1
                if index >= len(lines):
                    raise DockerfileError(f"unterminated heredoc {name}", first)
                index += 1  # the terminator
                bodies.append(Heredoc(name, "".join(line + "\n" for line in content_lines),
                                      expand=not quote, strip_tabs=strip_tabs))
        yield first, text.strip(), tuple(bodies)


# -- one instruction ------------------------------------------------------------------------------

def _split_flags(rest: str, line: int, command: str) -> tuple[list[tuple[str, str]], str]:
    """Leading ``--name=value`` / ``--name`` flags, and what follows them."""
    flags = []
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        if word == "--":
            rest = after.lstrip()
            break
        name, equals, value = word[2:].partition("=")
        if name not in FLAGS.get(command, set()):
            raise DockerfileError(f"unknown flag: --{name}", line)
        if not equals and command == "HEALTHCHECK":
            raise DockerfileError(f"missing a value on flag: --{name}", line)
        flags.append((name, value if equals else "true"))
        rest = after.lstrip()
    return flags, rest


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Words separated by blanks; quotes and escapes keep their blanks (and are kept: the
    expansion removes them). parser/line_parsers.go's parseWords."""
    words, word, quote, escaped = [], "", "", False
    for char in text:
        if escaped:
            word += char
            escaped = False
        elif char == escape:
            word += char
            escaped = True
        elif quote:
            word += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            word += char
            quote = char
        elif char in " \t":
            if word:
                words.append(word)
                word = ""
        else:
            word += char
    if word:
        words.append(word)
    return words


def _pairs(command: str, rest: str, line: int, escape: str) -> list[str]:
    """ENV/LABEL: ``k=v k2="v 2"`` or the old ``ENV k some value``."""
    words = split_words(rest, escape)
    if not words:
        raise DockerfileError(f"{command} requires at least one argument", line)
    if "=" not in words[0]:
        if command == "LABEL" or len(words) < 2:
            if command == "ENV":
                raise DockerfileError("ENV must have two arguments", line)
            raise DockerfileError(f"{command} names can not be blank", line)
        key, value = rest.split(None, 1)
        return [key, value.strip()]
    pairs = []
    for word in words:
        key, equals, value = word.partition("=")
        if not equals:
            raise DockerfileError(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value", line)
        if not key:
            raise DockerfileError(f"{command} names can not be blank", line)
        pairs += [key, value]
    return pairs


def _exec_form(rest: str) -> list[str] | None:
    """The JSON array of strings, or None (then it is the shell form, as Docker falls back)."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def parse_instruction(text: str, line: int, heredocs: tuple[Heredoc, ...] = (), escape: str = "\\") -> Instruction:
    """One logical line as an Instruction (flags split, the form chosen, arguments checked)."""
    word, _, rest = text.partition(" ") if " " in text else text.partition("\t")
    command, rest = word.upper(), rest.strip()
    if command not in COMMANDS:
        raise DockerfileError(f"unknown instruction: {word}", line)
    flags, rest = _split_flags(rest, line, command)
    make = lambda args, **more: Instruction(command, tuple(args), line, text, tuple(flags), heredocs=heredocs, **more)  # noqa: E731
    if command in ("ENV", "LABEL"):
        return make(_pairs(command, rest, line, escape))
    if command == "ONBUILD":
        inner = rest.partition(" ")[0].upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(f"{inner} isn't allowed as an ONBUILD trigger", line)
        if not rest:
            raise DockerfileError("ONBUILD requires at least one argument", line)
        return make([rest], sub=parse_instruction(rest, line, heredocs, escape))
    if command == "HEALTHCHECK":
        kind, _, command_text = rest.partition(" ")
        if kind.upper() == "NONE":
            if command_text.strip() or flags:
                raise DockerfileError("HEALTHCHECK NONE takes no arguments", line)
            return make(["NONE"])
        if kind.upper() != "CMD":
            raise DockerfileError(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)", line)
        command_text = command_text.strip()
        if not command_text:
            raise DockerfileError("Missing command after HEALTHCHECK CMD", line)
        exec_form = _exec_form(command_text)
        return make(["CMD", *(exec_form if exec_form is not None else [command_text])], json=exec_form is not None)
    if command in JSON_FORM:
        exec_form = _exec_form(rest)
        if exec_form is not None:
            if command in ("COPY", "ADD") and len(exec_form) < 2:
                raise DockerfileError(f"{command} requires at least two arguments", line)
            return make(exec_form, json=True)
        if command == "SHELL":
            raise DockerfileError("SHELL requires the arguments to be in JSON form", line)
        if command in ("RUN", "CMD", "ENTRYPOINT"):
            if not rest and command == "RUN":
                raise DockerfileError("RUN requires at least one argument", line)
            return make([rest] if rest else [])
    words = split_words(rest, escape)
    if command in ("COPY", "ADD") and len(words) < 2 and not (heredocs and len(words) == 1):
        raise DockerfileError(f"{command} requires at least two arguments, but only one was provided. "
                              "Destination could not be determined", line)
    required = {"FROM": 1, "ARG": 1, "EXPOSE": 1, "USER": 1, "WORKDIR": 1, "STOPSIGNAL": 1, "VOLUME": 1,
                "MAINTAINER": 1}
    if command in required and not words:
        raise DockerfileError(f"{command} requires at least one argument", line)
    exactly_one = {"USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"}
    if command in exactly_one and len(words) != 1 and command != "MAINTAINER":
        raise DockerfileError(f"{command} requires exactly one argument", line)
    if command == "MAINTAINER":
        return make([rest])
    if command == "WORKDIR":
        return make([rest])
    return make(words)


# -- the whole file -------------------------------------------------------------------------------

def parse(text: str) -> Dockerfile:
    """The Dockerfile's directives, its ARGs before FROM and its stages (BUILD-002 errors)."""
    lines = text.split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    directives, start = _directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(f"invalid escape token '{escape}' does not match ` or \\", 1)
    dockerfile = Dockerfile(directives, [], [], escape)
    for line, text_line, heredocs in _logical_lines(lines, start, escape):
        instruction = parse_instruction(text_line, line, heredocs, escape)
        if instruction.command == "FROM":
            words = list(instruction.args)
            name = None
            if len(words) == 3 and words[1].lower() == "as":
                name = words[2].lower()
                if not re.match(r"^[a-z][a-z0-9._-]*$", name):
                    raise DockerfileError(f"invalid name for build stage: {words[2]!r}, name can't start "
                                          "with a number or contain symbols", line)
                if any(stage.name == name for stage in dockerfile.stages):
                    raise DockerfileError(f"duplicate stage name {words[2]!r}", line)
            elif len(words) != 1:
                raise DockerfileError("FROM requires either one or three arguments", line)
            dockerfile.stages.append(Stage(words[0], name, line, instruction.flag("platform"), [],
                                           index=len(dockerfile.stages)))
        elif not dockerfile.stages:
            if instruction.command != "ARG":
                # [BUILD-002] BuildKit's words
                raise DockerfileError("no build stage in current context" if instruction.command != "FROM"
                                      else "", line)
            dockerfile.meta_args.append(instruction)
        else:
            dockerfile.stages[-1].instructions.append(instruction)
    if not dockerfile.stages:
        raise DockerfileError("file with no instructions", max(1, len(lines)))
    return dockerfile
