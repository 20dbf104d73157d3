"""Chapter 6's figures: where a container's mounts come from.

Explained:  chapters/06-volumes.md#from-flags-to-mount-points

    container_mounts()   the mount plan of one `docker run`, drawn from `plan()` and `oci_entry()`
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, quoted

# docker run -v web-data:/data -v /srv/conf:/etc/app:ro --tmpfs /run \
#            --mount type=tmpfs,dst=/scratch,tmpfs-size=64m  app   (its image has VOLUME /cache)
CONFIG = {"Volumes": {"/cache": {}}}
HOST_CONFIG = {"Binds": ["web-data:/data", "/srv/conf:/etc/app:ro"], "Tmpfs": {"/run": ""},
               "Mounts": [{"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 64 << 20}}]}


def container_mounts() -> str:
    """One `docker run -v web-data:/data -v /srv/conf:/etc/app:ro --tmpfs /run --mount type=tmpfs,dst=/scratch,tmpfs-size=64m` of an image with `VOLUME /cache`, as `plan()` decides it and `oci_entry()` writes it: volumes and bind mounts are rbind mounts of host directories (a volume's is under the data root, an anonymous one named by 64 hex digits), tmpfs mounts are made in the container's mount namespace and exist nowhere else."""
    from minidock.volumes import mounts

    code_name("minidock.volumes.mounts:plan")
    code_name("minidock.volumes.mounts:oci_entry")
    entries = []
    for point in mounts.plan(CONFIG, HOST_CONFIG):
        if point.type == "volume":
            name = point.name or "3f2a…e5 (anonymous)"
            point = mounts.MountPoint(**{**point.to_record(), "tmpfs_options": point.tmpfs_options,
                                         "source": f"<data-root>/volumes/{name}/_data"})
        entries.append((point, mounts.oci_entry(point)))
    entries += [(None, entry) for entry in mounts.tmpfs_entries(HOST_CONFIG)]
    lines = ['subgraph cluster_host { label="the host"; style="rounded,filled"; fillcolor="' + HOST
             + '"; color="#bcaaa4";']
    for index, (point, entry) in enumerate(entries):
        if entry["type"] == "bind":
            kind = "volume" if point.type == "volume" else "bind mount"
            lines.append(f'  h{index} [label={quoted(entry["source"] + chr(10) + "(" + kind + ")")}, fillcolor="white"];')
    lines.append("}")
    lines.append('subgraph cluster_container { label="the container\'s mount namespace"; style="rounded,filled"; '
                 f'fillcolor="{FILL}"; color="#90a4ae";')
    lines.append('  root [label="/\\n(the overlay: the image\'s layers\\nand the container\'s writable one)", '
                 'fillcolor="white"];')
    for index, (point, entry) in enumerate(entries):
        lines.append(f'  c{index} [label={quoted(entry["destination"])}, fillcolor="{NEW}"];')
        if entry["type"] == "tmpfs":
            options = ",".join(entry["options"])
            lines.append(f'  t{index} [label={quoted("tmpfs" + chr(10) + options)}, shape=note, fillcolor="white"];')
            lines.append(f"  t{index} -> c{index};")
    lines.append("}")
    for index, (point, entry) in enumerate(entries):
        if entry["type"] == "bind":
            lines.append(f"  h{index} -> c{index} [label={quoted(','.join(entry['options']))}];")
    return digraph(lines, rankdir="LR")
