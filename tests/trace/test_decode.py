"""The decoder, the table and the formats: pure, no root, no ptrace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from minidock.runtime.trace import calls, render
from minidock.runtime.trace.steps import Decoder, RawCall
from minidock.runtime.trace.tracer import Trace
from tests.harness.book_hooks import load_hook

ROOT = Path(__file__).resolve().parents[2]


def decoded(*raws: RawCall) -> list:
    decoder = Decoder()
    for raw in raws:
        decoder.feed(raw)
    return decoder.steps


@pytest.mark.spec("TRACE-011", "TRACE-014")
def test_flags_are_named_from_the_table():
    mount, unshare, umount, clone = decoded(
        RawCall(7, "mount", (0, 0, 0, 0x4000 | 0x40000, 0), {1: "/"}),
        RawCall(7, "unshare", (0x20000 | 0x20000000,)),
        RawCall(7, "umount2", (0, 2), {0: "."}),
        RawCall(7, "clone", (0x01200000 | 17,), result=42),
    )
    assert mount.text == 'mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)'
    assert mount.anchor == calls.ANCHOR_PROPAGATION and mount.phase == "rootfs"
    assert unshare.text == "unshare(CLONE_NEWNS|CLONE_NEWPID)" and unshare.phase == "namespaces"
    assert umount.text == 'umount2(".", MNT_DETACH)'
    assert clone.text == "clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 42"
    assert calls.flag_names(0x1 | 0x80000000000, calls.MOUNT_FLAGS) == ["MS_RDONLY", hex(0x80000000000)]


@pytest.mark.spec("TRACE-010", "TRACE-011")
def test_cgroup_writes_are_steps_and_other_writes_are_not():
    steps = decoded(
        RawCall(9, "openat", (2**64 - 100, 0, 0o1 | 0o1000, 0), {1: "/sys/fs/cgroup/memory/x/memory.max"}, 3),
        RawCall(9, "write", (3, 0, 8), {1: b"67108864"}, 8),
        RawCall(9, "close", (3,)),
        RawCall(9, "openat", (2**64 - 100, 0, 0o1, 0), {1: "/tmp/state.json"}, 3),
        RawCall(9, "write", (3, 0, 2), {1: b"{}"}, 2),
        RawCall(9, "mkdir", (0, 0o755), {0: "/tmp/elsewhere"}),
        RawCall(9, "prctl", (23, 21)),  # PR_CAPBSET_READ: a question, not a step
        RawCall(9, "prctl", (24, 21)),
        RawCall(9, "prctl", (24, 16)),
        RawCall(9, "execve", (0, 0, 0), {0: "/bin/nothere", 1: ["nothere"]}, 2**64 - 2),
    )
    assert [s.call for s in steps] == ["write", "prctl", "execve"]
    assert steps[0].details == {"path": "/sys/fs/cgroup/memory/x/memory.max", "value": "67108864"}
    assert steps[1].text == "prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN|CAP_SYS_MODULE)"  # a run of drops: one line
    assert steps[2].error == "ENOENT" and steps[2].details["argv"] == ["nothere"]


@pytest.mark.spec("TRACE-011")
def test_capset_names_the_capabilities():
    (step,) = decoded(RawCall(1, "capset", (0, 0), {1: (0b101, 0b101, 0, 0, 0, 0)}))
    assert step.details["sets"]["effective"] == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]
    assert step.text == "capset(effective=CAP_CHOWN|CAP_DAC_READ_SEARCH, permitted=(as effective), inheritable=0)"


def anchors_of(page: Path) -> set[str]:
    from markdown.extensions.toc import slugify

    text, fence = page.read_text(), False
    found = set()
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (match := re.match(r"^#{1,6} (.+)$", line)):
            found.add(slugify(match.group(1).strip(), "-"))
    return found


@pytest.mark.spec("TRACE-013")
def test_every_section_a_step_links_to_exists():
    links = {call.anchor for call in calls.CALLS.values()}
    links |= {value for name, value in vars(calls).items() if name.startswith("ANCHOR_")}
    for link in links:
        page, _, anchor = link.partition("#")
        assert anchor in anchors_of(ROOT / page), f"{link}: no such section"


@pytest.mark.spec("TRACE-007", "TRACE-008", "TRACE-012")
def test_json_and_html_formats():
    steps = decoded(RawCall(5, "unshare", (0x20000,)), RawCall(5, "pivot_root", (0, 0), {0: ".", 1: "."}))
    trace = Trace(steps=steps, exit_code=0)
    document = json.loads(render.render(trace, "json"))
    assert document["phases"] == list(calls.PHASES)
    assert [s["call"] for s in document["steps"]] == ["unshare", "pivot_root"]
    assert document["steps"][0]["anchor"] == "chapters/01-namespaces.md#clone-and-unshare"
    page = render.render(trace, "html", book="../")
    assert "<script" not in page and page.count("<ol>") == 2
    assert '<a href="../chapters/03-runtime.md#private-first-then-pivot_root">' in page
    text = render.render(Trace(steps=steps, interrupted=True), "text")
    assert text.splitlines()[0] == "── namespaces" and "interrupted" in text.splitlines()[-1]


@pytest.mark.spec("TRACE-020")
def test_a_book_excerpt_links_relative_to_its_page():
    steps = decoded(RawCall(5, "pivot_root", (0, 0), {0: ".", 1: "."}),
                    RawCall(5, "mount", (0, 0, 0, 0x1000, 0), {0: "/b/rootfs/x", 1: "/b/rootfs/y"}))
    markdown = render.excerpt(steps, "rootfs", "chapters/04-images.md", limit=1, replacements={"/b": "$BUNDLE"})
    assert markdown.splitlines()[0] == ('1. `pivot_root(".", ".")` (pid 5) — '
                                        "[private first then pivot_root](03-runtime.md#private-first-then-pivot_root)")
    assert "1 more rootfs steps" in markdown


@pytest.mark.spec("TRACE-021")
def test_a_book_built_without_a_trace_says_so():
    hook = load_hook("trace")
    page = "# Chapter\n\n::: trace cgroups\n\n```\n::: trace cgroups\n```\n"
    expanded = hook.expand(page, "chapters/02-cgroups.md", [], "the book was built without root")
    assert '!!! note "No trace of the cgroups phase in this build"' in expanded
    assert "the book was built without root" in expanded
    assert expanded.count("::: trace cgroups") == 1  # the one in a fenced block stays
    with pytest.raises(ValueError, match="the phases are"):
        hook.expand("::: trace everything", "chapters/02-cgroups.md", [], "")
