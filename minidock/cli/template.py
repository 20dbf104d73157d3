"""Go's text/template, the subset that `docker ... --format` users write.

Implements: spec/engine.md ENGINE-CLI-015
Explained:  chapters/05-engine.md#the-cli
Modelled on: Go's text/template (lex.go, parse.go, exec.go) with docker/cli's extra
             functions (templates/templates.go: json, join, split, lower, upper, title, ...)

    render("{{.State.Status}}", inspect_document) -> "running"
    Template(text).execute(data) -> str               parse once, run on many rows

    text ... {{ pipeline }} ... {{if P}}..{{else if Q}}..{{else}}..{{end}}
    {{range P}}..{{end}}  {{range $k, $v := P}}..{{end}}  {{with P}}..{{end}}  {{- trim -}}
    pipeline: command | command ...      command: .A.B  $  $v.A  "s"  1  true  fn arg ...  ( P )

Rules: data is what json.loads gives (dicts, lists, str, int, float, bool, None), or a
dict whose values may be callables (`{{.Label "k"}}` calls one). Values print as Go's
fmt prints them: [a b] for lists, map[k:v] for maps, {v1 v2} for structs, a null as the
typed nil it was (Nil); a missing key is an error, as docker runs templates with
missingkey=error.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable


class TemplateError(Exception):
    """A template that does not parse, or fails while running (Go's words where they fit)."""


MISSING = type("Missing", (), {"__repr__": lambda self: "<no value>"})()


class Nil:
    """A JSON null that was a typed Go nil: a slice prints [], a map map[], a pointer <nil>.

    docker runs --format on its typed structs, so `{{.Config.Entrypoint}}` of a null
    prints [] there. JSON cannot say the type: the field's name does (NIL_KINDS).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Nil)

    __hash__ = None  # type: ignore[assignment]


# the nullable fields of docker's inspect documents that are not slices
NIL_KINDS = {
    "map": {"Volumes", "ExposedPorts", "Labels", "Ports", "Networks", "Data", "PortBindings", "StorageOpt",
            "Sysctls", "Tmpfs", "Annotations", "Options", "Metadata", "LogConfig.Config", "DriverOpts"},
    "pointer": {"Health", "PidsLimit", "OomKillDisable", "MemorySwappiness", "Init", "Healthcheck",
                "StopTimeout", "Node", "Config", "ContainerConfig", "IPAMConfig"},
}


def _nil(chain: str) -> Nil:
    """The typed nil for a null found at ``chain`` (.HostConfig.LogConfig.Config, .Config.Env)."""
    names = [part for part in chain.split(".") if part]
    for kind, fields in NIL_KINDS.items():
        if ".".join(names[-2:]) in fields:
            return Nil(kind)
    for kind, fields in NIL_KINDS.items():
        if names and names[-1] in fields:
            return Nil(kind)
    return Nil("slice")

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<declare>:=)
    | (?P<punct>[|(),=])
    | (?P<field>(?:\$\w*)?(?:\.\w+)+|\.|\$\w*)
    | (?P<word>[A-Za-z_]\w*)
    )""", re.VERBOSE)


# -- printing and truth, as Go's fmt and text/template do them -------------------------------

def to_text(value: Any) -> str:
    """A value as `{{.X}}` prints it (fmt's %v)."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, Nil):
        return {"slice": "[]", "map": "map[]"}.get(value.kind, "<nil>")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value)) if abs(value) < 1e6 else f"{value:g}".replace("e+0", "e+")
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(to_text(item) for item in value) + "]"
    if isinstance(value, dict):
        if _is_struct(value):
            return "{" + " ".join(to_text(item) for item in value.values()) + "}"
        return "map[" + " ".join(f"{key}:{to_text(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def _is_struct(value: dict) -> bool:
    """Was this a Go struct (fields in order, all Capitalised) rather than a map (sorted keys)?

    JSON cannot say; docker's documents name struct fields in CamelCase, while maps
    (Labels, Networks, Ports) are keyed by what users wrote, mostly in lower case.
    """
    return bool(value) and all(key[:1].isupper() for key in value)


def _go_order(value: Any) -> Any:
    """Maps sorted by key, as Go's json.Marshal writes them; structs keep their order."""
    if isinstance(value, Nil):
        return None
    if isinstance(value, dict):
        keys = list(value) if _is_struct(value) else sorted(value)
        return {key: _go_order(value[key]) for key in keys}
    if isinstance(value, list):
        return [_go_order(item) for item in value]
    return value


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, "" and empty lists and maps are false."""
    return value is not MISSING and bool(value)


def to_json(value: Any) -> str:
    """Go's json.Marshal: compact, maps sorted, with <, > and & escaped."""
    text = json.dumps(None if value is MISSING else _go_order(value), separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            if isinstance(value, dict):
                return MISSING
            raise TemplateError(f"error calling index: cannot index {to_text(value)} with {key!r}") from None
    return value


def _printf(form: str, *args: Any) -> str:
    # Go's verbs %s %v %d %q map onto Python's; %v and %s print as to_text does
    converted = re.sub(r"%v", "%s", form)
    values = tuple(to_text(a) if isinstance(a, (list, dict, bool, type(None), Nil)) or a is MISSING else a
                   for a in args)
    try:
        return converted % values
    except (TypeError, ValueError) as error:
        raise TemplateError(f"error calling printf: {error}") from None


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(first: Any, *others: Any) -> bool:
        try:
            return all(op(first, other) for other in others)
        except TypeError:
            raise TemplateError("incompatible types for comparison") from None
    return compare


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # docker/cli's templates.basicFunctions
    "json": to_json,
    "join": lambda items, sep: sep.join(to_text(item) for item in items or []),
    "split": lambda text, sep: text.split(sep),
    "lower": lambda text: to_text(text).lower(),
    "upper": lambda text: to_text(text).upper(),
    "title": lambda text: to_text(text).title(),
    "pad": lambda text, left, right: " " * left + to_text(text) + " " * right,
    "truncate": lambda text, length: to_text(text)[:length],
    "println": lambda *args: " ".join(to_text(a) for a in args) + "\n",
    # text/template's builtins
    "print": lambda *args: "".join(to_text(a) for a in args),
    "printf": _printf,
    "len": lambda value: len(value),
    "index": _index,
    "not": lambda value: not truth(value),
    "and": lambda *args: next((a for a in args if not truth(a)), args[-1]),
    "or": lambda *args: next((a for a in args if truth(a)), args[-1]),
    "eq": lambda first, *others: any(first == other for other in others),
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
}


# -- parsing: text and actions into a tree ---------------------------------------------------

def _split(text: str) -> list[tuple[str, str]]:
    """[("text", ...), ("action", ...)], with {{- and -}} trimming the text beside them."""
    parts: list[tuple[str, str]] = []
    position = 0
    while (start := text.find("{{", position)) >= 0:
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError("template: :1: unclosed action")
        before, inside = text[position:start], text[start + 2:end]
        if inside.startswith("- ") or inside == "-":
            before, inside = before.rstrip(), inside[1:]
        trim_after = inside.endswith(" -")
        if trim_after:
            inside = inside[:-1]
        parts.append(("text", before))
        parts.append(("action", inside.strip()))
        position = end + 2
        if trim_after:
            while position < len(text) and text[position].isspace():
                position += 1
    parts.append(("text", text[position:]))
    return [part for part in parts if part != ("text", "")]


def _tokens(action: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(action):
        if action[position:].strip() == "":
            break
        match = _TOKEN.match(action, position)
        if not match or match.end() == position:
            raise TemplateError(f"template: :1: unexpected {action[position:].strip()!r} in command")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the actions; nodes are tuples, run by _Runner."""

    def __init__(self, text: str) -> None:
        self.parts = _split(text)
        self.at = 0

    def block(self, stops: tuple[str, ...] = ()) -> tuple[list, str]:
        """Nodes up to one of ``stops`` (end, else); return them and the stop met."""
        nodes: list = []
        while self.at < len(self.parts):
            kind, value = self.parts[self.at]
            self.at += 1
            if kind == "text":
                nodes.append(("text", value))
                continue
            if value.startswith("/*"):
                continue  # a comment
            word = value.split(None, 1)[0] if value else ""
            if word in ("end", "else"):
                if word not in stops:
                    raise TemplateError(f"template: :1: unexpected {{{{{word}}}}}")
                return nodes, value
            if word in ("if", "with", "range"):
                nodes.append(self.control(word, value[len(word):].strip()))
            else:
                nodes.append(("print", self.pipeline(_tokens(value))))
        if stops:
            raise TemplateError("template: :1: unexpected EOF")
        return nodes, ""

    def control(self, word: str, rest: str) -> tuple:
        variables: list[str] = []
        tokens = _tokens(rest)
        if word == "range" and any(kind == "declare" for kind, _ in tokens):
            split = next(i for i, (kind, _) in enumerate(tokens) if kind == "declare")
            variables = [value for kind, value in tokens[:split] if kind == "field"]
            tokens = tokens[split + 1:]
        condition = self.pipeline(tokens)
        body, stop = self.block(("end", "else"))
        otherwise: list = []
        if stop.startswith("else"):
            chained = stop[4:].strip()
            if chained.startswith("if ") or chained.startswith("with "):
                inner = chained.split(None, 1)
                otherwise = [self.control(inner[0], inner[1])]  # {{else if}} shares the {{end}}
            else:
                otherwise, _ = self.block(("end",))
        return (word, condition, body, otherwise, variables)

    def pipeline(self, tokens: list[tuple[str, str]]) -> list:
        """A pipeline: a list of commands, each a list of operands."""
        if not tokens:
            raise TemplateError("template: :1: missing value for command")
        commands, depth, start = [], 0, 0
        operands: list = []
        i = 0
        while i < len(tokens):
            kind, value = tokens[i]
            if value == "(":
                depth, start = 1, i
                i += 1
                while i < len(tokens) and depth:
                    depth += {"(": 1, ")": -1}.get(tokens[i][1], 0)
                    i += 1
                if depth:
                    raise TemplateError("template: :1: unclosed left paren")
                inner = self.pipeline(tokens[start + 1:i - 1])
                chain = ""
                if i < len(tokens) and tokens[i][0] == "field" and tokens[i][1].startswith("."):
                    chain = tokens[i][1]
                    i += 1
                operands.append(("sub", inner, chain))
                continue
            if value == "|":
                if not operands:
                    raise TemplateError("template: :1: missing command before |")
                commands.append(operands)
                operands = []
            elif kind == "string":
                operands.append(("value", _unquote(value)))
            elif kind == "number":
                operands.append(("value", float(value) if "." in value else int(value)))
            elif kind == "word":
                if value in ("true", "false"):
                    operands.append(("value", value == "true"))
                elif value == "nil":
                    operands.append(("value", None))
                elif value in FUNCTIONS:
                    operands.append(("function", value))
                else:
                    raise TemplateError(f'template: :1: function "{value}" not defined')
            elif kind == "field":
                operands.append(("field", value))
            else:
                raise TemplateError(f"template: :1: unexpected {value!r} in command")
            i += 1
        if not operands:
            raise TemplateError("template: :1: missing command after |")
        commands.append(operands)
        return commands


def _unquote(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    return json.loads(literal)


# -- running ---------------------------------------------------------------------------------

class _Runner:
    def __init__(self, root: Any) -> None:
        self.scopes: list[dict[str, Any]] = [{"$": root}]

    def nodes(self, nodes: list, dot: Any, out: list[str]) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "print":
                out.append(to_text(self.pipeline(node[1], dot)))
            else:
                self.control(node, dot, out)

    def control(self, node: tuple, dot: Any, out: list[str]) -> None:
        word, condition, body, otherwise, variables = node
        value = self.pipeline(condition, dot)
        if word == "if":
            self.nodes(body if truth(value) else otherwise, dot, out)
        elif word == "with":
            self.nodes(body, value, out) if truth(value) else self.nodes(otherwise, dot, out)
        else:  # range
            if not truth(value):
                self.nodes(otherwise, dot, out)
                return
            if isinstance(value, dict):
                items = [(key, value[key]) for key in sorted(value)]
            elif isinstance(value, (list, tuple)):
                items = list(enumerate(value))
            elif isinstance(value, int):
                items = [(i, i) for i in range(value)]
            else:
                raise TemplateError(f"range can't iterate over {to_text(value)}")
            for key, item in items:
                scope = {}
                if len(variables) == 1:
                    scope[variables[0]] = item
                elif len(variables) == 2:
                    scope[variables[0]], scope[variables[1]] = key, item
                self.scopes.append(scope)
                try:
                    self.nodes(body, item, out)
                finally:
                    self.scopes.pop()

    def pipeline(self, commands: list, dot: Any) -> Any:
        value: Any = MISSING
        for number, command in enumerate(commands):
            piped = () if number == 0 else (value,)
            value = self.command(command, dot, piped)
        return value

    def command(self, operands: list, dot: Any, piped: tuple) -> Any:
        head, *rest = operands
        args = [self.operand(operand, dot) for operand in rest] + list(piped)
        if head[0] == "function":
            try:
                return FUNCTIONS[head[1]](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, AttributeError) as error:
                raise TemplateError(f"template: :1: error calling {head[1]}: {error}") from None
        value = self.operand(head, dot)
        if callable(value):
            return value(*args)
        if args:
            raise TemplateError(f"template: :1: can't give argument to non-function {_describe(head)}")
        return value

    def operand(self, operand: tuple, dot: Any) -> Any:
        kind = operand[0]
        if kind == "value":
            return operand[1]
        if kind == "sub":
            return self.fields(self.pipeline(operand[1], dot), operand[2])
        if kind == "function":
            return FUNCTIONS[operand[1]]()
        path = operand[1]
        if path.startswith("$"):
            name, _, chain = path.partition(".")
            for scope in reversed(self.scopes):
                if name in scope:
                    return self.fields(scope[name], "." + chain if chain else "")
            raise TemplateError(f'template: :1: undefined variable "{name}"')
        return self.fields(dot, path)

    @staticmethod
    def fields(value: Any, chain: str) -> Any:
        """Follow .A.B from ``value``: map keys (missing -> <no value>), never attributes."""
        for name in [part for part in chain.split(".") if part]:
            if isinstance(value, dict):
                value = value.get(name, MISSING)
                if value is MISSING and name in NIL_KINDS["pointer"] | NIL_KINDS["map"]:
                    value = None  # a field of docker's struct that the JSON left out (omitempty)
                if value is MISSING:
                    # docker runs templates with missingkey=error
                    raise TemplateError(f'template: :1: executing "" at <{chain}>: '
                                        f'map has no entry for key "{name}"')
            elif value is None or value is MISSING or isinstance(value, Nil):
                raise TemplateError(f"template: :1: nil pointer evaluating .{name}")
            else:
                raise TemplateError(f"template: :1: can't evaluate field {name} in type "
                                    f"{_go_type(value)}")
        return _nil(chain) if value is None and chain.strip(".") else value


def _describe(operand: tuple) -> str:
    return str(operand[1])


def _go_type(value: Any) -> str:
    return {str: "string", bool: "bool", int: "int", float: "float64", list: "[]interface {}"}.get(
        type(value), type(value).__name__)


class Template:
    """A parsed template: parse once (errors then), execute on each row."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree, _ = _Parser(text).block()

    def execute(self, data: Any) -> str:
        out: list[str] = []
        _Runner(data).nodes(self.tree, data, out)
        return "".join(out)


def render(text: str, data: Any) -> str:
    """Parse ``text`` and run it on ``data``."""
    return Template(text).execute(data)
