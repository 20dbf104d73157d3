"""Compose files in: YAML read, variables interpolated, files merged, checked against the schema. Pure.

Implements: spec/compose.md COMPOSE-001 .. COMPOSE-006
Explained:  chapters/10-compose.md#loading-a-project
Modelled on: compose-spec's loader (compose-go: loader, interpolation, merge, validation)

    load(files, environ, project_name=None, profiles=()) -> dict   the resolved document
    interpolate(value, variables, path) -> value                   ${VAR}, ${VAR:-d}, ${VAR:?e}, $$
    merge(base, override) -> dict                                  the spec's merge rules
    read_env_file(path) -> {name: value}                           .env and env_file syntax

    files ─▶ YAML (errors with line and column) ─▶ interpolated (.env, then the
    environment over it) ─▶ merged in order ─▶ extends resolved ─▶ schema-checked
    (errors name the path: services.web.ports[0]) ─▶ the project name

Rules: nothing here talks to an engine. Errors are ComposeError with the file and
the place, raised before anything is created.
"""

from __future__ import annotations

import copy
import json
import os
import re

from minidock.errors import InvalidArgument

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|\{(?P<braced>[^}]*)\}|(?P<invalid>))")
_SCHEMA = os.path.join(os.path.dirname(__file__), "schema", "compose-spec.json")


class ComposeError(InvalidArgument):
    """A compose file that cannot be used; the message says which file and where."""


# -- YAML --------------------------------------------------------------------------------------

class _Reset:
    """`!reset`: the attribute is removed from what earlier files set."""


class _Override:
    """`!override value`: the value replaces what earlier files set, not merged with it."""

    def __init__(self, value):
        self.value = value


def _tag_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def override(loader, node):
        if isinstance(node, yaml.MappingNode):
            return _Override(loader.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return _Override(loader.construct_sequence(node, deep=True))
        return _Override(loader.construct_scalar(node))

    Loader.add_constructor("!reset", lambda loader, node: _Reset())
    Loader.add_constructor("!override", override)
    return Loader


def _untag(value, path: tuple = (), replaced: list | None = None):
    """The document without `!reset`/`!override`, and the paths those tags replace (13-merge.md)."""
    replaced = [] if replaced is None else replaced
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, _Reset):
                replaced.append((*path, key))
                continue
            if isinstance(item, _Override):
                replaced.append((*path, key))
                item = item.value
            out[key] = _untag(item, (*path, key), replaced)[0]
        return out, replaced
    if isinstance(value, list):
        return [_untag(item, path, replaced)[0] for item in value], replaced
    return value, replaced


def _remove(document: dict, path: tuple) -> None:
    """Take one attribute out of what earlier files set, before a `!reset`/`!override` file merges."""
    node = document
    for depth, key in enumerate(path[:-1]):
        child = node.get(key) if isinstance(node, dict) else None
        if isinstance(child, list) and key in _MAPPING_FROM_LIST and depth == len(path) - 2:
            child = node[key] = _as_mapping(child, key)
        if child is None:
            return
        node = child
    if isinstance(node, dict):
        node.pop(path[-1], None)


def read_yaml(path: str, text: str | None = None) -> dict:
    """One compose file as a mapping; a YAML error names the line and column."""
    import yaml

    if text is None:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except FileNotFoundError:
            raise ComposeError(f"open {path}: no such file or directory") from None
    try:
        document = yaml.load(text, Loader=_tag_loader())  # safe, plus !reset and !override
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        # [COMPOSE-002] the file and the place
        raise ComposeError(f"yaml: {path}:{where}: {problem}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ComposeError(f"{path}: top-level object must be a mapping")
    return document


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines (comments, `export`, quotes); a missing file is an error."""
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        raise ComposeError(f"env file {path} not found: stat {path}: no such file or directory") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, equals, value = line.partition("=")
        key = key.strip()
        if not key or " " in key:
            raise ComposeError(f"{path}: line {number}: unexpected character in variable name {key!r}")
        value = value.strip()
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value if equals else os.environ.get(key, "")
    return values


# -- interpolation -----------------------------------------------------------------------------

def _substitute(text: str, variables: dict[str, str], path: str) -> str:
    def replace(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return variables.get(match.group("named"), "")
        braced = match.group("braced")
        if braced is None:
            raise ComposeError(f"invalid interpolation format for {path}: {text!r}; "
                               "you may need to escape any $ with another $")
        found = re.match(r"^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-+?])(.*))?$", braced, re.S)
        if not found:
            raise ComposeError(f"invalid interpolation format for {path}: {text!r}; "
                               "you may need to escape any $ with another $")
        name, operator, word = found.group(1), found.group(2), found.group(3) or ""
        value, is_set = variables.get(name), name in variables
        present = is_set and (value != "" or not (operator or "").startswith(":"))
        if operator is None:
            return value or ""
        word = _substitute(word, variables, path)
        if operator.endswith("-"):
            return value if present else word
        if operator.endswith("+"):
            return word if present else ""
        if not present:
            # [COMPOSE-004] a required variable: the file's own message
            raise ComposeError(f"required variable {name} is missing a value: {word}" if word
                               else f"required variable {name} is missing a value")
        return value or ""

    return _VARIABLE.sub(replace, text)


def interpolate(value, variables: dict[str, str], path: str = ""):
    """Every string in ``value`` (keys stay), substituted; ``path`` names where for errors."""
    if isinstance(value, str):
        return _substitute(value, variables, path)
    if isinstance(value, dict):
        return {key: interpolate(item, variables, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


# -- merging -----------------------------------------------------------------------------------

# keys whose lists are merged as sets of unique entries, or by a key (the spec's merge rules)
_BY_KEY = {"ports": None, "volumes": "target", "secrets": "target", "configs": "target"}
_SEQUENCE_REPLACE = {"command", "entrypoint", "healthcheck.test"}
_UNIQUE_LISTS = {"cap_add", "cap_drop", "dns", "dns_search", "expose", "external_links", "links",
                 "security_opt", "tmpfs", "profiles", "volumes_from", "env_file", "device_cgroup_rules"}
_MAPPING_FROM_LIST = {"environment", "labels", "extra_hosts", "sysctls", "annotations"}


def _as_mapping(value, key: str) -> dict:
    """environment/labels may be lists of "K=V": as a mapping, for merging."""
    if isinstance(value, dict):
        return dict(value)
    out = {}
    for item in value or []:
        separator = ":" if key == "extra_hosts" and "=" not in str(item) else "="  # host=IP, or the older host:IP
        name, equals, text = str(item).partition(separator)
        out[name] = text if equals else None
    return out


def _volume_target(entry) -> str:
    if isinstance(entry, dict):
        return entry.get("target", "")
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge_service(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key in _MAPPING_FROM_LIST:
            merged[key] = {**_as_mapping(merged.get(key), key), **_as_mapping(value, key)}
        elif key in _UNIQUE_LISTS:
            current = merged.get(key)
            current = current if isinstance(current, list) else ([current] if current else [])
            new = value if isinstance(value, list) else [value]
            merged[key] = current + [item for item in new if item not in current]
        elif key == "volumes":
            by_target = {_volume_target(item): item for item in merged.get("volumes") or []}
            by_target.update({_volume_target(item): item for item in value or []})
            merged[key] = list(by_target.values())
        elif key == "ports":
            current = list(merged.get("ports") or [])
            merged[key] = current + [item for item in value or [] if item not in current]
        elif key in ("build", "deploy", "logging", "healthcheck") and isinstance(value, dict) \
                and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif key == "depends_on":
            merged[key] = {**_depends(merged.get(key)), **_depends(value)}
        elif key == "networks" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _depends(value) -> dict:
    if isinstance(value, list):
        return {name: {"condition": "service_started"} for name in value}
    return dict(value or {})


def merge(base: dict, override: dict) -> dict:
    """A later -f file over an earlier one: services merged key by key, the rest by name."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "services":
            services = merged.setdefault("services", {}) or {}
            for name, service in (value or {}).items():
                services[name] = merge_service(services.get(name) or {}, service or {})
            merged["services"] = services
        elif key in ("networks", "volumes", "secrets", "configs") and isinstance(value, dict):
            section = merged.setdefault(key, {}) or {}
            for name, item in value.items():
                section[name] = {**(section.get(name) or {}), **(item or {})} if isinstance(item, dict) else item
            merged[key] = section
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _extends(services: dict, name: str, folder: str, variables: dict[str, str], seen: tuple[str, ...] = ()) -> dict:
    """A service with its `extends` resolved (from this file or another)."""
    service = services[name]
    spec = service.get("extends")
    if not spec:
        return service
    if isinstance(spec, str):
        spec = {"service": spec}
    if name in seen:
        raise ComposeError(f"circular reference with extends: {' -> '.join((*seen, name))}")
    source = services
    if spec.get("file"):
        path = os.path.join(folder, spec["file"])
        source = interpolate(_untag(read_yaml(path))[0], variables).get("services") or {}
    if spec["service"] not in source:
        raise ComposeError(f"cannot extend service {name!r}: service {spec['service']!r} not found")
    base = _extends(source, spec["service"], folder, variables, (*seen, name))
    own = {key: value for key, value in service.items() if key != "extends"}
    return merge_service({k: v for k, v in base.items() if k not in ("depends_on", "volumes_from")}, own)


# -- the schema --------------------------------------------------------------------------------

def validate(document: dict, path: str) -> None:
    """[COMPOSE-001] the compose schema; the first error names its place as compose does."""
    import jsonschema

    with open(_SCHEMA, encoding="utf-8") as file:
        schema = json.load(file)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda error: (len(error.absolute_path), list(map(str, error.absolute_path))))
    if not errors:
        return
    error = errors[0]
    place = ""
    for part in error.absolute_path:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else str(part))
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        patterns = error.schema.get("patternProperties", {})
        extra = [key for key in extra if not any(re.match(pattern, key) for pattern in patterns)]
        raise ComposeError(f"{path}: validating: {place or '(root)'} additional properties "
                           f"{', '.join(repr(key) for key in extra)} not allowed")
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        raise ComposeError(f"{path}: validating: {place}: must be a {expected}")
    raise ComposeError(f"{path}: validating: {place or '(root)'}: {error.message}")


def _include(document: dict, folder: str, environ: dict[str, str]) -> None:
    """[COMPOSE-003] `include`: each entry is loaded as a project of its own (its folder, its
    .env under our environment) and its resources are copied in; a name defined twice is refused."""
    for entry in document.pop("include", None) or []:
        entry = {"path": entry} if isinstance(entry, str) else dict(entry)
        paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
        paths = [os.path.normpath(os.path.join(folder, path)) for path in paths]
        env_files = entry.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        own_env = {}
        for env_path in env_files:
            own_env.update(read_env_file(os.path.join(folder, env_path)))
        included = load(paths, {**own_env, **environ}, name="included")
        for section in ("services", "networks", "volumes", "configs", "secrets"):
            for key, value in (included.get(section) or {}).items():
                mine = document.setdefault(section, {}) or {}
                if key in mine and mine[key] != value:
                    raise ComposeError(f"imported compose file {paths[0]} defines conflicting {section[:-1]} {key}")
                mine[key] = value
                document[section] = mine


def check_references(document: dict) -> None:
    """[COMPOSE-001] Every network and named volume a service uses is declared at the top level
    (docker compose's "refers to undefined network ...: invalid compose project")."""
    networks = set(document.get("networks") or {}) | {"default"}
    volumes = set(document.get("volumes") or {})
    for name, service in (document.get("services") or {}).items():
        wanted = service.get("networks") or []
        for network in (wanted if isinstance(wanted, list) else list(wanted)):
            if network not in networks:
                raise ComposeError(f"service {name!r} refers to undefined network {network}: invalid compose project")
        for entry in service.get("volumes") or []:
            if isinstance(entry, str):
                source = entry.split(":")[0] if ":" in entry else ""
                kind = "bind" if source.startswith((".", "/", "~", "$")) or not source else "volume"
            else:
                source, kind = entry.get("source") or "", entry.get("type", "volume")
            if kind == "volume" and source and source not in volumes:
                raise ComposeError(f"service {name!r} refers to undefined volume {source}: invalid compose project")


# -- the whole -----------------------------------------------------------------------------------

def project_name(explicit: str | None, document: dict, folder: str, environ: dict[str, str]) -> str:
    """-p, then COMPOSE_PROJECT_NAME, then the file's `name:`, then the folder's name (normalised)."""
    for candidate, where in ((explicit, "-p"), (environ.get("COMPOSE_PROJECT_NAME"), "COMPOSE_PROJECT_NAME"),
                             (document.get("name"), "name")):
        if candidate:
            if not _NAME.match(candidate):
                raise ComposeError(f"invalid project name {candidate!r} ({where}): must consist only of lowercase "
                                   "alphanumeric characters, hyphens, and underscores as well as start with a letter or number")
            return candidate
    name = re.sub(r"[^a-z0-9_-]", "", os.path.basename(os.path.abspath(folder)).lower())
    return name.lstrip("-_") or "default"


def load(files: list[str], environ: dict[str, str] | None = None, name: str | None = None,
         profiles: tuple[str, ...] = (), env_file: str | None = None) -> dict:
    """The resolved project: {"name", "services", "networks", "volumes", "folder"}."""
    if not files:
        raise ComposeError("no configuration file provided: not found")
    folder = os.path.dirname(os.path.abspath(files[0]))
    environ = dict(os.environ if environ is None else environ)
    dotenv = env_file or os.path.join(folder, ".env")
    variables = {**(read_env_file(dotenv) if os.path.isfile(dotenv) or env_file else {}), **environ}
    # [COMPOSE-005] the project's name is known before interpolation: ${COMPOSE_PROJECT_NAME} may use it
    raw_name = next((raw.get("name") for raw in (read_yaml(path) for path in files)
                     if isinstance(raw.get("name"), str) and "$" not in raw.get("name")), None)
    early = project_name(name, {"name": raw_name} if raw_name else {}, folder, variables)
    variables.setdefault("COMPOSE_PROJECT_NAME", early)
    document: dict = {}
    for path in files:
        one, replaced = _untag(read_yaml(path))
        one = interpolate(one, variables)  # [COMPOSE-004]
        validate(one, path)  # each file on its own, so that the merge gets the shapes it expects
        for where in replaced:
            _remove(document, where)
        document = merge(document, one)
    services = document.get("services") or {}
    document["services"] = {name_: _extends(services, name_, folder, variables) for name_ in services}
    _include(document, folder, environ)
    validate(document, files[0])
    check_references(document)
    document["name"] = project_name(name, document, folder, variables)
    active = set(profiles) | set(filter(None, variables.get("COMPOSE_PROFILES", "").split(",")))
    document["services"] = {key: service for key, service in document["services"].items()
                            if not service.get("profiles") or active & set(service["profiles"])}
    document["folder"] = folder
    return document
