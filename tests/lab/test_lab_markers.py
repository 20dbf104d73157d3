"""The lab markers: parse_marker, find_regions, make_skeleton (pure, no root).

These are also the tests that grade lab 00 (labs/00-warmup/lab.toml), so they
import minidock.lab.markers, which is the student's copy under `minidock lab check 0`.
"""

from __future__ import annotations

import textwrap

import pytest

from minidock.lab.markers import Kind, Marker, MarkerError, find_regions, make_skeleton, parse_marker

SOURCE = textwrap.dedent(
    '''\
    import socket


    def set_hostname(name: str) -> None:
        """Set the hostname in the new UTS namespace."""
        # lab 01: begin: set the new hostname inside the UTS namespace
        socket.sethostname(name)
        # lab 01: end


    def pivot(new_root: str) -> None:
        for step in range(2):
            # lab 03: begin
            print(step, new_root)
            # lab 03: end
    '''
)


@pytest.mark.spec("LAB-001")
def test_parse_marker_reads_begin_and_end():
    assert parse_marker("# lab 01: begin: do the thing") == Marker(1, Kind.BEGIN, "do the thing")
    assert parse_marker("# lab 12: end") == Marker(12, Kind.END, "")
    assert parse_marker("#lab 3 : begin :  spaced out ") == Marker(3, Kind.BEGIN, "spaced out")


@pytest.mark.spec("LAB-001")
def test_parse_marker_gives_a_default_text():
    assert parse_marker("# lab 03: begin") == Marker(3, Kind.BEGIN, "implement this")


@pytest.mark.spec("LAB-005")
def test_parse_marker_ignores_ordinary_comments():
    assert parse_marker("# a comment about lab 01") is None
    assert parse_marker("# lab 01: beginning of the story") is None
    assert parse_marker("# TODO(lab 01): set the hostname") is None
    assert parse_marker("# lab one: begin") is None


@pytest.mark.spec("LAB-001")
def test_find_regions_pairs_begin_and_end():
    regions = find_regions(SOURCE, "uts.py")
    assert [(r.lab, r.begin, r.end, r.indent) for r in regions] == [
        (1, 6, 8, "    "),
        (3, 13, 15, "        "),
    ]
    assert regions[0].text == "set the new hostname inside the UTS namespace"


@pytest.mark.spec("LAB-005")
def test_markers_in_strings_and_docstrings_are_not_markers():
    source = 'def f():\n    """\n    # lab 01: begin\n    """\n    x = "# lab 01: end"\n    return x  # lab 01: end\n'
    assert find_regions(source, "doc.py") == []


@pytest.mark.spec("LAB-004")
def test_nested_regions_are_rejected():
    source = "# lab 01: begin\n# lab 02: begin\nx = 1\n# lab 02: end\n# lab 01: end\n"
    with pytest.raises(MarkerError) as caught:
        find_regions(source, "nested.py")
    assert caught.value.filename == "nested.py" and caught.value.line == 2
    assert str(caught.value).startswith("nested.py:2:")
    assert "nest" in str(caught.value)


@pytest.mark.spec("LAB-004")
@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("x = 1\n# lab 01: end\n", 2, "no region is open"),
        ("x = 1\n# lab 01: begin: never closed\nx = 2\n", 2, "never ends"),
        ("# lab 01: begin\nx = 1\n# lab 02: end\n", 3, "ends the lab 01 region"),
    ],
    ids=["end-without-begin", "begin-without-end", "end-of-another-lab"],
)
def test_unbalanced_markers_are_rejected(source, line, words):
    with pytest.raises(MarkerError) as caught:
        find_regions(source, "broken.py")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"broken.py:{line}:")
    assert words in str(caught.value)


@pytest.mark.spec("LAB-004")
def test_an_end_indented_unlike_its_begin_is_rejected():
    source = "def f():\n    # lab 01: begin\n    return 1\n# lab 01: end\n"
    with pytest.raises(MarkerError, match=r"^odd\.py:4: .*indented"):
        find_regions(source, "odd.py")


@pytest.mark.spec("LAB-001")
def test_make_skeleton_replaces_the_region_with_a_stub():
    skeleton = make_skeleton(SOURCE, 1, "uts.py")
    assert "socket.sethostname(name)" not in skeleton
    assert "# lab 01" not in skeleton
    assert (
        "    # TODO(lab 01): set the new hostname inside the UTS namespace\n"
        "    raise NotImplementedError('lab 01: set the new hostname inside the UTS namespace')\n"
    ) in skeleton
    compile(skeleton, "uts.py", "exec")


@pytest.mark.spec("LAB-002")
def test_make_skeleton_keeps_the_regions_of_other_labs():
    skeleton = make_skeleton(SOURCE, 3, "uts.py")
    assert "socket.sethostname(name)\n    # lab 01: end\n" in skeleton
    assert "        raise NotImplementedError('lab 03: implement this')\n" in skeleton
    assert make_skeleton(SOURCE, 2, "uts.py") == SOURCE


@pytest.mark.spec("LAB-001")
def test_make_skeleton_replaces_every_region_of_the_lab():
    source = "def a():\n    # lab 01: begin: a\n    return 1\n    # lab 01: end\n\n\ndef b():\n    # lab 01: begin: b\n    return 2\n    # lab 01: end\n"
    skeleton = make_skeleton(source, 1)
    assert skeleton.count("raise NotImplementedError") == 2
    assert "return" not in skeleton
    namespace: dict = {}
    exec(compile(skeleton, "two.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="lab 01: b"):
        namespace["b"]()


@pytest.mark.spec("LAB-004")
def test_make_skeleton_checks_all_markers_not_only_the_labs():
    with pytest.raises(MarkerError, match="never ends"):
        make_skeleton("# lab 07: begin\nx = 1\n", 1, "other.py")
