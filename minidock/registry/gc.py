"""Garbage collection: delete the blobs no manifest of any repository reaches.

Implements: spec/registry.md REG-016
Explained:  chapters/09-registry.md#garbage-collection
Modelled on: distribution's `registry garbage-collect` (mark, then sweep; --dry-run)

    collect(storage, dry_run=False) -> (kept, removed)   digests

    mark:  every manifest revision of every repository, and what it names
           (config, layers, an index's manifests), all of them reachable
    sweep: every blob not marked; then the repositories' links to blobs gone

Rules: run it while nothing pushes (as distribution asks): an upload finished but not
yet named by a manifest is unreachable, and would be collected.
"""

from __future__ import annotations

import json
import os

from minidock.registry.storage import Storage


def _children(document: dict) -> list[str]:
    found = []
    if isinstance(document.get("config"), dict):
        found.append(document["config"].get("digest"))
    for key in ("layers", "manifests", "blobs"):
        for item in document.get(key) or []:
            if isinstance(item, dict):
                found.append(item.get("digest"))
    return [digest for digest in found if isinstance(digest, str)]


def mark(storage: Storage) -> set[str]:
    """The digests some manifest reaches (manifests included)."""
    reached: set[str] = set()
    for name in storage.repositories():
        pending = [digest for digest, _ in storage.revisions(name)]
        while pending:
            digest = pending.pop()
            if digest in reached:
                continue
            reached.add(digest)
            try:
                document = json.loads(storage.content.read(digest))
            except (OSError, ValueError, Exception):
                continue  # a layer, or a blob gone: nothing below it
            if isinstance(document, dict) and document.get("schemaVersion") == 2:
                pending.extend(_children(document))
    return reached


def collect(storage: Storage, dry_run: bool = False) -> tuple[list[str], list[str]]:
    """Mark and sweep; with ``dry_run`` only report. Returns (kept, removed) digests."""
    reached = mark(storage)
    kept, removed = [], []
    for blob in list(storage.content.walk()):
        if blob.digest in reached:
            kept.append(blob.digest)
            continue
        removed.append(blob.digest)
        if not dry_run:
            storage.content.delete(blob.digest)
    if not dry_run:
        # [REG-016] links to blobs that are gone go too: a HEAD must not find a ghost
        for name in storage.repositories():
            folder = os.path.join(storage.repositories_dir, name, "_layers")
            for hex_digest in os.listdir(folder) if os.path.isdir(folder) else []:
                if not storage.content.exists(f"sha256:{hex_digest}"):
                    os.unlink(os.path.join(folder, hex_digest))
    return kept, removed
