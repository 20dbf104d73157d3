"""Image routes: /images/*.

Implements: spec/images.md IMG-ENG-001 .. IMG-ENG-012, IMG-ENG-016; spec/registry.md REG-040 .. REG-042
Explained:  chapters/04-images.md#from-the-engine
Modelled on: moby's api/server/router/image (image_routes.go) and daemon/images (list, history)

    GET    /images/json                 ImageSummary list; filters dangling, reference, label,
                                        before, since
    GET    /images/{name}/json          ImageInspect
    GET    /images/{name}/history       newest layer first
    POST   /images/{name}/tag           ?repo=&tag=                       201
    DELETE /images/{name}               ?force=&noprune=                  [{"Untagged"}, {"Deleted"}]
    POST   /images/prune                ?filters={"dangling": ["false"]}  ImagesDeleted, SpaceReclaimed
    GET    /images/get?names=A&names=B, GET /images/{name}/get           a `docker save` tar
    POST   /images/load                 a tar in, JSON lines out ({"stream": "Loaded image: ..."})
    POST   /images/create?fromSrc=-     `docker import`: a root filesystem tar in, {"status": ID} out
    POST   /images/create?fromImage=&tag=   `docker pull`: JSON progress lines (chapter 09)
    POST   /images/{name}/push?tag=     `docker push`, X-Registry-Auth: JSON progress lines, then aux
    POST   /auth                        `docker login`: {"Status": "Login Succeeded"}

    register(app, images, add_route)

Rules: a request's image is named by the path's whole tail (`localhost:5000/team/app:1`
holds slashes); errors are the service's, in Docker's words.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import re
import tempfile
from typing import BinaryIO, Callable, Iterable, Protocol

from aiohttp import web

from minidock.engine.images import Record, matches_labels
from minidock.errors import InvalidArgument, MinidockError, NotFound, NotImplemented
from minidock.images import oci, reference

FILTERS = frozenset({"dangling", "reference", "label", "before", "since"})
PRUNE_FILTERS = frozenset({"dangling", "label"})


class ImageBackend(Protocol):
    """What these handlers need from the engine (minidock.engine.images.ImageService)."""

    root: str
    driver: str
    in_use: Callable[[str], list[str]]

    def records(self) -> list[Record]: ...
    def lookup(self, name: str) -> Record: ...
    def parents(self) -> dict[str, str]: ...
    def size(self, record: Record) -> int: ...
    def layer_size(self, layer: oci.Descriptor) -> int: ...
    def tag(self, name: str, target: str) -> str: ...
    def delete(self, name: str, force: bool = False, prune: bool = True) -> list[dict]: ...
    def prune(self, dangling_only: bool = True, labels: Iterable[str] = ()) -> tuple[list[dict], int]: ...
    def load_archive(self, stream: BinaryIO) -> list[str]: ...
    def save_archive(self, names: list[str], out: BinaryIO) -> None: ...
    def import_image(self, stream: BinaryIO, names: Iterable[str] = (), changes: Iterable[str] = (),
                     message: str = "") -> str: ...
    def pull(self, name: str, credentials: dict, emit: Callable[[dict], None],
             platform: str | None = None) -> str: ...
    def push(self, name: str, credentials: dict, emit: Callable[[dict], None]) -> dict: ...
    def login(self, credentials: dict) -> dict: ...


def credentials_from(header: str) -> dict:
    """X-Registry-Auth: base64url JSON {"username", "password", "serveraddress"} (or {})."""
    from minidock.registry.credentials import from_header

    return from_header(header)


async def _write(request: web.Request, response: web.StreamResponse, message: dict) -> None:
    if not response.prepared:
        await response.prepare(request)
    await response.write(json.dumps(message).encode() + b"\r\n")


# -- shapes -----------------------------------------------------------------------------------

def created_unix(created: str) -> int:
    """An RFC 3339 time (nanoseconds and all) as Unix seconds; 0 when there is none."""
    match = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", created or "")
    if not match:
        return 0
    seconds = calendar.timegm(tuple(int(part) for part in match.groups()[:6]) + (0, 0, 0))
    zone = match[7] or "Z"
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


def repo_tags(record: Record) -> list[str]:
    return [reference.familiar(name) for name in record.names if "@" not in name]


def repo_digests(record: Record) -> list[str]:
    """name@digest for each repository that names the image (the manifest it is stored under)."""
    out = []
    for name in record.names:
        parsed = reference.parse(name)
        digested = parsed.familiar if parsed.digest else f"{parsed.familiar_name}@{record.descriptor.digest}"
        if digested not in out:
            out.append(digested)
    return out


def summary(record: Record, size: int, tags: list[str] | None = None) -> dict:
    """A Record in the Engine API's ImageSummary shape (what `docker images` reads)."""
    tags = repo_tags(record) if tags is None else tags
    digests = repo_digests(record)
    if not record.names:
        # dockerd 20.10's placeholders for an image with no name
        tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    return {"Id": record.id, "ParentId": "", "RepoTags": tags, "RepoDigests": digests,
            "Created": created_unix(record.config.get("created", "")), "Size": size,
            "SharedSize": -1, "VirtualSize": size,
            "Labels": (record.config.get("config") or {}).get("Labels") or {}, "Containers": -1}


def inspect(record: Record, size: int = 0, driver: str = "overlay2") -> dict:
    """A Record in the Engine API's ImageInspect shape."""
    config = record.config
    return {
        "Id": record.id,
        "RepoTags": repo_tags(record),
        "RepoDigests": repo_digests(record),
        "Parent": "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ""),
        "Container": config.get("container", ""),
        "ContainerConfig": config.get("container_config") or {},
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant", "") or None,
        "Os": config.get("os", ""),
        "Size": size,
        "VirtualSize": size,
        # [IMG-ENG-002] the snapshotter the daemon really uses
        "GraphDriver": {"Name": driver, "Data": {}},
        "RootFS": {"Type": "layers", "Layers": list(record.image.config.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


def history(record: Record, layer_size: Callable[[oci.Descriptor], int]) -> list[dict]:
    """The image's history, newest first, each step with the size of the layer it made."""
    layers = list(record.image.manifest.layers)
    steps = record.config.get("history") or [{"created": record.config.get("created", "")}] * len(layers)
    out = []
    for step in steps:
        size = 0
        if not step.get("empty_layer") and layers:
            size = layer_size(layers.pop(0))
        out.append({"Id": "<missing>", "Created": created_unix(step.get("created", "")),
                    "CreatedBy": step.get("created_by", ""), "Tags": None, "Size": size,
                    "Comment": step.get("comment", "")})
    out.reverse()
    if out:
        out[0]["Id"], out[0]["Tags"] = record.id, repo_tags(record) or None
    return out


def name_steps(out: list[dict], chain: list[Record]) -> None:
    """[IMG-ENG-017] the steps a local parent made carry its ID, not <missing> (moby's
    ImageHistory): each image of the parent chain names the newest step it has."""
    for parent in chain:
        made = len(parent.config.get("history") or [])
        at = len(out) - made
        if 0 <= at < len(out) and out[at]["Id"] == "<missing>":
            out[at]["Id"], out[at]["Tags"] = parent.id, repo_tags(parent) or None


# -- filters ------------------------------------------------------------------------------------

def parse_filters(text: str | None, allowed: frozenset[str]) -> dict[str, list[str]]:
    """The `filters` query parameter: {"key": ["v"]}, or the older {"key": {"v": true}}."""
    if not text:
        return {}
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"invalid filters: {error}") from None
    if not isinstance(document, dict):
        raise InvalidArgument("invalid filters: a JSON object is expected")
    out = {}
    for key, values in document.items():
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")  # dockerd's words
        if isinstance(values, dict):
            values = [value for value, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise InvalidArgument(f"invalid filter '{key}': a list of strings is expected")
        out[key] = values
    return out


def _boolean(filters: dict[str, list[str]], key: str) -> bool | None:
    values = filters.get(key)
    if not values:
        return None
    if len(values) > 1 or values[0].lower() not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"invalid filter '{key}={values[0]}'")
    return values[0].lower() in ("true", "1")


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match, which the reference filter uses: `*` and `?` never match a `/`."""
    regex = "".join("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
                    for char in pattern)
    return re.fullmatch(regex, name) is not None


def select(records: list[Record], filters: dict[str, list[str]], lookup: Callable[[str], Record]
           ) -> list[tuple[Record, list[str]]]:
    """The images ``filters`` keep, each with the tags to show (the reference filter narrows them)."""
    dangling = _boolean(filters, "dangling")
    patterns = filters.get("reference", [])
    before = [created_unix(lookup(name).config.get("created", "")) for name in filters.get("before", [])]
    since = [created_unix(lookup(name).config.get("created", "")) for name in filters.get("since", [])]
    chosen = []
    for record in records:
        if dangling is not None and dangling == bool(record.names):
            continue
        if not matches_labels(record, filters.get("label", [])):
            continue
        created = created_unix(record.config.get("created", ""))
        if any(created >= limit for limit in before) or any(created <= limit for limit in since):
            continue
        tags = repo_tags(record)
        if patterns:
            parsed = [reference.parse(name) for name in record.names]
            tags = [ref.familiar for ref in parsed if not ref.digest and any(
                path_match(pattern, ref.familiar) or path_match(pattern, ref.familiar_name)
                for pattern in patterns)]
            if not tags:
                continue
        chosen.append((record, tags))
    return chosen


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


# -- routes ---------------------------------------------------------------------------------------

def register(app: web.Application, images: ImageBackend, add_route) -> None:
    """Add the image routes to ``app``, answered by ``images``."""

    def run(function, *args, **kwargs):
        return asyncio.to_thread(function, *args, **kwargs)

    async def spool(request: web.Request) -> BinaryIO:
        # spooled to a file first: an archive is read more than once (names, then blobs)
        file = tempfile.TemporaryFile(dir=images.root)
        async for chunk in request.content.iter_chunked(1 << 20):
            file.write(chunk)
        file.seek(0)
        return file

    async def list_images(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"), FILTERS)

        def build() -> list[dict]:
            chosen = select(images.records(), filters, images.lookup)
            parents = images.parents()
            if request.query.get("all") not in ("1", "true", "True"):
                # [IMG-ENG-017] dockerd hides intermediate images: untagged ones others are built on
                built_on = set(parents.values())
                chosen = [(record, tags) for record, tags in chosen if record.names or record.id not in built_on]
            out = [summary(record, images.size(record), tags) for record, tags in chosen]
            for item in out:
                item["ParentId"] = parents.get(item["Id"], "")
            return sorted(out, key=lambda item: item["Created"], reverse=True)

        return web.json_response(await run(build))

    async def image_json(request: web.Request) -> web.Response:
        record = await run(images.lookup, request.match_info["name"])
        size = await run(images.size, record)
        answer = inspect(record, size, images.driver)
        answer["Parent"] = (await run(images.parents)).get(record.id, "")
        return web.json_response(answer)

    async def image_history(request: web.Request) -> web.Response:
        record = await run(images.lookup, request.match_info["name"])

        def build() -> list[dict]:
            out = history(record, images.layer_size)
            parents, chain, at = images.parents(), [], record.id
            while at in parents:
                at = parents[at]
                try:
                    chain.append(images.lookup(at))
                except NotFound:
                    break
            name_steps(out, chain)
            return out

        return web.json_response(await run(build))

    async def tag(request: web.Request) -> web.Response:
        repo, tag_name = request.query.get("repo", ""), request.query.get("tag", "")
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        if tag_name:
            reference.with_tag(reference.parse(repo), tag_name)  # "invalid tag format"
        target = f"{repo}:{tag_name}" if tag_name else repo
        await run(images.tag, request.match_info["name"], target)
        return web.Response(status=201)

    async def delete(request: web.Request) -> web.Response:
        items = await run(images.delete, request.match_info["name"], _flag(request, "force"),
                          not _flag(request, "noprune"))
        return web.json_response(items)

    async def prune(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"), PRUNE_FILTERS)
        dangling = _boolean(filters, "dangling")
        deleted, reclaimed = await run(images.prune, dangling is not False, filters.get("label", []))
        return web.json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    async def save(request: web.Request, names: list[str]) -> web.StreamResponse:
        if not names:
            raise InvalidArgument("no image names given: use names=IMAGE")
        with tempfile.TemporaryFile(dir=images.root) as out:
            await run(images.save_archive, names, out)  # errors leave before the first byte
            out.seek(0)
            response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
            await response.prepare(request)
            while chunk := out.read(1 << 20):
                await response.write(chunk)
            await response.write_eof()
            return response

    async def get_many(request: web.Request) -> web.StreamResponse:
        return await save(request, request.query.getall("names", []))

    async def get_one(request: web.Request) -> web.StreamResponse:
        return await save(request, [request.match_info["name"]])

    async def load(request: web.Request) -> web.Response:
        with await spool(request) as file:
            lines = await run(images.load_archive, file)
        body = "".join(json.dumps({"stream": line + "\n"}) + "\n" for line in lines)
        return web.Response(body=body.encode(), content_type="application/json")

    async def progress_stream(request: web.Request, work) -> web.StreamResponse:
        """Run ``work(emit)`` in a thread, writing each emitted message as a JSON line.

        An error before the first line is the request's status (dockerd's rule); after
        it, the stream's last line: {"errorDetail": {...}, "error": "..."}.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(message: dict) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, message)

        job = asyncio.ensure_future(run(work, emit))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait([job, getter], return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                while not queue.empty():  # what the thread said before it ended
                    await _write(request, response, queue.get_nowait())
                break
            await _write(request, response, getter.result())
        try:
            result = job.result()
        except MinidockError as error:
            if not response.prepared:
                raise
            await _write(request, response, {"errorDetail": {"message": error.message}, "error": error.message})
        else:
            if isinstance(result, dict):  # push's digest, for the CLI
                await _write(request, response, {"progressDetail": {}, "aux": result})
        if not response.prepared:
            await response.prepare(request)
        await response.write_eof()
        return response

    async def pull(request: web.Request) -> web.StreamResponse:
        """POST /images/create?fromImage=NAME&tag=TAG (a tag that is a digest works too)."""
        name, tag_name = request.query["fromImage"], request.query.get("tag", "")
        if tag_name:
            name = f"{name}@{tag_name}" if tag_name.startswith("sha256:") else f"{name}:{tag_name}"
        reference.parse(name)  # [REG-040] a name that is not a reference: 400 before anything
        credentials = credentials_from(request.headers.get("X-Registry-Auth", ""))
        platform = request.query.get("platform") or None
        return await progress_stream(request, lambda emit: images.pull(name, credentials, emit, platform))

    async def push(request: web.Request) -> web.StreamResponse:
        """POST /images/{name}/push?tag=TAG with X-Registry-Auth."""
        name, tag_name = request.match_info["name"], request.query.get("tag", "")
        if tag_name:
            name = f"{name}:{tag_name}"
        reference.parse(name)
        credentials = credentials_from(request.headers.get("X-Registry-Auth", ""))
        return await progress_stream(request, lambda emit: images.push(name, credentials, emit))

    async def login(request: web.Request) -> web.Response:
        """POST /auth: {"username", "password", "serveraddress"} checked against the registry."""
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as error:
            raise InvalidArgument(f"invalid JSON body: {error}") from None
        return web.json_response(await run(images.login, body))

    async def create(request: web.Request) -> web.Response:
        source = request.query.get("fromSrc")
        if request.query.get("fromImage"):
            return await pull(request)
        if source != "-":
            raise NotImplemented(f"importing from {source!r} is not supported: download it and "
                                 "import the file (`minidock import FILE`)")
        repo, tag_name = request.query.get("repo", ""), request.query.get("tag", "")
        names = [f"{repo}:{tag_name}" if tag_name else repo] if repo else []
        with await spool(request) as file:
            image_id = await run(images.import_image, file, names, request.query.getall("changes", []),
                                 request.query.get("message", ""))
        return web.Response(body=(json.dumps({"status": image_id}) + "\r\n").encode(),
                            content_type="application/json")

    add_route(app, "GET", "/images/json", list_images)
    add_route(app, "POST", "/images/load", load)
    add_route(app, "POST", "/images/prune", prune)
    add_route(app, "POST", "/images/create", create)
    add_route(app, "GET", "/images/get", get_many)
    add_route(app, "GET", r"/images/{name:.+}/json", image_json)
    add_route(app, "GET", r"/images/{name:.+}/history", image_history)
    add_route(app, "GET", r"/images/{name:.+}/get", get_one)
    add_route(app, "POST", r"/images/{name:.+}/tag", tag)
    add_route(app, "POST", r"/images/{name:.+}/push", push)
    add_route(app, "POST", "/auth", login)
    add_route(app, "DELETE", r"/images/{name:.+}", delete)
