"""Chapter 9's figures: the requests of one push, resolved by the registry's own route table.

Explained:  chapters/09-registry.md#the-server

    push_flow()   each request a push sends, and the handler `minidock.registry.server.route` finds for it
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, quoted

DIGEST = "sha256:" + "0" * 64
UUID = "0" * 32
# what `minidock push` sends for one layer, then the manifest: (method, path, what the answer says)
PUSH = (
    ("HEAD", f"/v2/team/app/blobs/{DIGEST}", "404: not there yet\n(200: skip it)"),
    ("POST", "/v2/team/app/blobs/uploads/", "202, Location: .../uploads/<uuid>\n(?mount=&from=: 201, no bytes)"),
    ("PATCH", f"/v2/team/app/blobs/uploads/{UUID}", "202, Range: 0-<last byte>\n(optional chunks)"),
    ("PUT", f"/v2/team/app/blobs/uploads/{UUID}", "?digest=: hashed, checked,\nrenamed into blobs/: 201"),
    ("PUT", "/v2/team/app/manifests/v1", "every blob it names is here?\n201, Docker-Content-Digest"),
)


def push_flow() -> str:
    """One push, request by request: the handler each one reaches is looked up in the server's `ROUTES` table when the book is built. Blobs go first, each checked against its digest; the manifest goes last, and only once every blob it names is in the repository."""
    from minidock.registry.server import route

    code_name("minidock.registry.server:ROUTES")
    lines = [f"client [label={quoted('minidock push (the engine: registry_client.push)')}, fillcolor={quoted(HOST)}];"]
    previous, answer_before = "client", ""
    for number, (method, path, answer) in enumerate(PUSH):
        handler, _, action = route(method, path)
        shown = path.replace(DIGEST, "<digest>").replace(UUID, "<uuid>").replace("team/app", "<name>")
        label = f"{method} {shown}\n{handler.__name__}()   action: {action}"
        fill = NEW if method == "PUT" else FILL
        lines.append(f"step{number} [label={quoted(label)}, fillcolor={quoted(fill)}];")
        lines.append(f"{previous} -> step{number} [label={quoted(answer_before)}];")
        previous, answer_before = f"step{number}", " " + answer.replace(chr(10), chr(10) + " ")
    lines.append(f"{previous} -> done [label={quoted(answer_before)}];")
    lines.append(f"done [label={quoted('pullable by tag and by digest')}, fillcolor={quoted(HOST)}];")
    return digraph(lines)
