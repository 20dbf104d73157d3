"""`minidock` registry verbs: pull, push, login, logout, and `registry serve` / `registry gc`.

Implements: spec/registry.md REG-032, REG-040 .. REG-042
Explained:  chapters/09-registry.md#from-the-engine
Modelled on: docker/cli's cli/command/image/pull.go, push.go, cli/command/registry (login,
             logout) and its jsonmessage progress display; distribution's `registry serve`

    pull NAME[:TAG|@DIGEST]           POST /images/create?fromImage=&tag=, progress per layer
    push NAME[:TAG]                   POST /images/{name}/push?tag=, X-Registry-Auth
    login [-u U] [-p P|--password-stdin] [SERVER]    POST /auth, then ~/.minidock/config.json
    logout [SERVER]
    registry serve --addr HOST:PORT --root DIR [--htpasswd F] [--tls-cert C --tls-key K]
                   [--token-realm URL [--token-service S] [--acl F]]
    registry gc --root DIR [--dry-run]

Rules: handlers import what they need when they run (the CLI starts fast); the
password never goes on a command line we print, and stdin is read for --password-stdin.
"""

from __future__ import annotations

import argparse
import json
import sys

from minidock.cli.common import client as _client
from minidock.errors import InvalidArgument, MinidockError


def auth_header(name: str) -> dict[str, str]:
    """X-Registry-Auth for the registry of image ``name``, from `login`'s file; {} if none."""
    from minidock.images import reference
    from minidock.registry import credentials

    try:
        stored = credentials.load(reference.parse(name).domain)
    except MinidockError:
        return {}  # not a reference: the daemon says so, in its words
    return {"X-Registry-Auth": credentials.header(stored)} if stored else {}


# a layer's last word: its bar is full
FINISHED = ("Pull complete", "Download complete", "Already exists", "Layer already exists", "Pushed")


def show_progress(lines, out=sys.stdout) -> dict | None:
    """Print Docker's JSON progress messages: a bar per layer on a terminal, lines otherwise.

    Returns the last "aux" object (push's digest); an "error" message raises.
    """
    bars = None
    if out.isatty():
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        bars = Progress(TextColumn("{task.fields[layer]}: {task.description}"), BarColumn(),
                        DownloadColumn(), transient=False)
        bars.start()
    tasks: dict[str, int] = {}
    last_status: dict[str, str] = {}
    aux = None
    try:
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("error"):
                failure = MinidockError(message["error"])
                failure.from_daemon = True
                raise failure
            if "aux" in message:
                aux = message["aux"]
                continue
            layer, status = message.get("id"), message.get("status", "")
            detail = message.get("progressDetail") or {}
            if bars is not None and layer and len(layer) == 12:  # a layer's line: its bar
                if layer not in tasks:
                    tasks[layer] = bars.add_task(status, layer=layer, total=None)
                task = bars.tasks[tasks[layer]]
                total = detail.get("total") or task.total
                completed = detail.get("current") or task.completed
                if status in FINISHED or status.startswith("Mounted from"):
                    total = total or 1
                    completed = total
                bars.update(tasks[layer], description=status, completed=completed, total=total)
                continue
            if layer and last_status.get(layer) == status:
                continue  # without a terminal: each change once (no Downloading flood)
            last_status[layer or ""] = status
            text = f"{layer}: {status}" if layer else status
            (bars.console.print(text, highlight=False) if bars is not None else print(text, file=out, flush=True))
    finally:
        if bars is not None:
            bars.stop()
    return aux


def cmd_pull(args: argparse.Namespace) -> int:
    """`docker pull`: the daemon pulls; we show its progress."""
    from urllib.parse import urlencode

    from minidock.images import reference

    parsed = reference.parse(args.name, default_tag=not args.all_tags)
    query = {"fromImage": parsed.familiar_name}
    if parsed.digest:
        query["fromImage"] = f"{parsed.familiar_name}@{parsed.digest}"
    elif parsed.tag:
        query["tag"] = parsed.tag
    if args.platform:
        query["platform"] = args.platform
    response = _client(args).stream("POST", f"/images/create?{urlencode(query)}",
                                    headers=auth_header(args.name))
    try:
        if args.quiet:
            show_progress(response, out=open("/dev/null", "w"))
        else:
            show_progress(response)
    finally:
        response.close()
    print(str(parsed) if parsed.domain != "docker.io" else f"docker.io/{parsed.path}{_suffix(parsed)}")
    return 0


def _suffix(parsed) -> str:
    return (f":{parsed.tag}" if parsed.tag else "") + (f"@{parsed.digest}" if parsed.digest else "")


def cmd_push(args: argparse.Namespace) -> int:
    """`docker push`: the daemon pushes; we show its progress."""
    from urllib.parse import quote, urlencode

    from minidock.images import reference

    parsed = reference.parse(args.name)
    query = urlencode({"tag": parsed.tag or ""})
    response = _client(args).stream("POST", f"/images/{quote(parsed.familiar_name, safe='/:')}/push?{query}",
                                    headers=auth_header(args.name) or
                                    {"X-Registry-Auth": "e30="})  # {} : docker sends it even empty
    try:
        show_progress(response, out=open("/dev/null", "w") if args.quiet else sys.stdout)
    finally:
        response.close()
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    """`docker login`: the daemon checks the credentials; we keep them (mode 0600)."""
    import getpass

    from minidock.registry import credentials

    server = args.server or "docker.io"
    domain = server.removeprefix("https://").removeprefix("http://").rstrip("/").removesuffix("/v1")
    if args.password_stdin:
        if args.password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not args.username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        args.password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    username = args.username or input("Username: ")
    password = args.password if args.password is not None else getpass.getpass("Password: ")
    if not username or not password:
        raise InvalidArgument("Error: Non-null Username and Password Required")
    answer = _client(args).json("POST", "/auth", {"username": username, "password": password,
                                                  "serveraddress": credentials.key(domain)})
    credentials.store(domain, username, password)
    print(f"WARNING! Your password will be stored unencrypted in {credentials.path()}.", file=sys.stderr)
    print(answer.get("Status") or "Login Succeeded")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    """`docker logout`: forget the stored credentials."""
    from minidock.registry import credentials

    server = args.server or "docker.io"
    domain = server.removeprefix("https://").removeprefix("http://").rstrip("/").removesuffix("/v1")
    if credentials.erase(domain):
        print(f"Removing login credentials for {credentials.key(domain)}")
    else:
        print(f"Not logged in to {credentials.key(domain)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """`minidock registry serve`: run a registry until SIGTERM or SIGINT."""
    import asyncio
    import os
    import secrets

    from minidock.registry import auth, server
    from minidock.registry.access import Access
    from minidock.registry.storage import Storage

    host, _, port = args.addr.rpartition(":")
    if not port.isdigit():
        raise InvalidArgument(f"invalid --addr {args.addr!r}: expected HOST:PORT")
    access = Access()
    if args.htpasswd:
        access = Access(mode="basic", users=auth.read_htpasswd(args.htpasswd))
    if args.token_realm:
        access.mode = "token"
        access.realm = args.token_realm
        key = open(args.token_key, "rb").read() if args.token_key else secrets.token_bytes(32)
        access.issuer = auth.TokenIssuer(key, args.token_service)
        access.acl = auth.Acl.from_file(args.acl) if args.acl else auth.Acl()
    context = None
    if args.tls_cert:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    os.makedirs(args.root, exist_ok=True)
    storage = Storage(args.root)

    def ready(bound: int) -> None:
        scheme = "https" if context else "http"
        print(f"minidock registry listening on {scheme}://{host or '0.0.0.0'}:{bound} "
              f"(root {args.root}, auth {access.mode})", flush=True)

    asyncio.run(server.serve(host or "0.0.0.0", int(port), server.make_app(storage, access), context, ready))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    """`minidock registry gc`: delete blobs no manifest reaches."""
    from minidock.registry import gc
    from minidock.registry.storage import Storage

    kept, removed = gc.collect(Storage(args.root), dry_run=args.dry_run)
    for digest in removed:
        print(f"{'would delete' if args.dry_run else 'deleted'} blob {digest}")
    print(f"{len(kept)} blobs marked, {len(removed)} blobs {'eligible for deletion' if args.dry_run else 'deleted'}")
    return 0


def add_parsers(verbs, only: str | None = None) -> None:
    """Add pull, push, login, logout and registry to the top-level subparsers ``verbs``."""
    pull = verbs.add_parser("pull", help="download an image from a registry")
    pull.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    pull.add_argument("-a", "--all-tags", action="store_true", help="(not supported: one tag at a time)")
    pull.add_argument("-q", "--quiet", action="store_true", help="suppress the progress output")
    pull.add_argument("--platform", help="os/arch[/variant] from a multi-platform image")
    pull.set_defaults(handler=cmd_pull)

    push = verbs.add_parser("push", help="upload an image to a registry")
    push.add_argument("name", metavar="NAME[:TAG]")
    push.add_argument("-q", "--quiet", action="store_true", help="suppress the progress output")
    push.set_defaults(handler=cmd_push)

    login = verbs.add_parser("login", help="log in to a registry")
    login.add_argument("server", nargs="?", help="the registry (default: Docker Hub)")
    login.add_argument("-u", "--username")
    login.add_argument("-p", "--password")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.set_defaults(handler=cmd_login)

    logout = verbs.add_parser("logout", help="log out from a registry")
    logout.add_argument("server", nargs="?")
    logout.set_defaults(handler=cmd_logout)

    registry = verbs.add_parser("registry", help="run a registry").add_subparsers(dest="registry_verb", required=True)
    serve = registry.add_parser("serve", help="serve the OCI distribution API")
    serve.add_argument("--addr", default="127.0.0.1:5000", help="HOST:PORT to listen on (port 0: any)")
    serve.add_argument("--root", required=True, help="where blobs, manifests and tags are kept")
    serve.add_argument("--htpasswd", help="users and bcrypt/sha-crypt hashes: Basic auth (or the token server's)")
    serve.add_argument("--tls-cert", help="serve HTTPS with this certificate")
    serve.add_argument("--tls-key", help="the certificate's key")
    serve.add_argument("--token-realm", help="bearer tokens: the URL of the token endpoint (this server's /token)")
    serve.add_argument("--token-service", default="minidock-registry", help="the service name in tokens")
    serve.add_argument("--token-key", help="a file with the tokens' HMAC key (default: random at start)")
    serve.add_argument("--acl", help="JSON rules [{account, name, actions}] for the token server")
    serve.set_defaults(handler=cmd_serve)
    gc = registry.add_parser("gc", help="delete blobs no manifest references")
    gc.add_argument("--root", required=True)
    gc.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    gc.set_defaults(handler=cmd_gc)
