"""Lab markers: turn the real source into a student's skeleton.

Implements: spec/lab.md LAB-001 .. LAB-006
Explained:  labs/README.md#for-authors
Modelled on: rubber-docker's levels, where each level is the last one's solution

A region of the real code is marked with two comments. Written here with a
leading `>` so that this docstring is not itself a marker:

    >   # lab 01: begin: set the new hostname inside the UTS namespace
    >   socket.sethostname(name)
    >   # lab 01: end

make_skeleton(source, 1) replaces the region, markers included, with a stub at
the indentation of the begin marker:

    >   # TODO(lab 01): set the new hostname inside the UTS namespace
    >   raise NotImplementedError("lab 01: set the new hostname inside the UTS namespace")

Rules:
  - a marker is a comment alone on its line; Python's tokenizer, not a regex over
    raw lines, decides what is a comment, so a docstring that shows the syntax
    (like this one) is never mistaken for a marker;
  - regions do not nest, every begin has an end for the same lab, and the end
    sits at the begin's indentation; anything else is a MarkerError that names
    the file and the line;
  - only the regions of the lab asked for are replaced: every other region stays
    solved, so the solution of lab N is the starting point of lab N+1.

This file is also lab 00 (labs/00-warmup): the student writes parse_marker()
and the pairing loop of find_regions().
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from enum import Enum

from minidock.errors import InvalidArgument

# The text of one marker comment: "# lab 01: begin: what to do" or "# lab 01: end".
MARKER = re.compile(
    r"#\s*lab\s+(?P<lab>\d+)\s*:\s*(?P<kind>begin|end)\s*(?::\s*(?P<text>.*))?"
)

# What a stub says when the author gave no description.
DEFAULT_TEXT = "implement this"


class MarkerError(InvalidArgument):
    """The markers of a source file do not pair up; the message names file and line."""

    def __init__(self, filename: str, line: int, problem: str) -> None:
        super().__init__(f"{filename}:{line}: {problem}")
        self.filename = filename
        self.line = line
        self.problem = problem


class Kind(Enum):
    """The two sides of a region."""

    BEGIN = "begin"
    END = "end"


@dataclass(frozen=True)
class Marker:
    """One marker comment, as parsed from its text."""

    lab: int
    kind: Kind
    text: str = ""


@dataclass(frozen=True)
class Region:
    """A solution region: the lines from its begin marker to its end marker, 1-based, inclusive."""

    lab: int
    text: str
    begin: int
    end: int
    indent: str


def lab_label(lab: int) -> str:
    """'lab 01': how stubs, TODOs and messages name a lab."""
    return f"lab {lab:02d}"


def parse_marker(comment: str) -> Marker | None:
    """Return the Marker that a comment spells, or None for an ordinary comment.

    `comment` is the comment's text from its `#` to the end of the line.
    A begin marker without a description gets DEFAULT_TEXT.
    """
    # lab 00: begin: match the comment against MARKER and build a Marker from its groups
    match = MARKER.fullmatch(comment.strip())
    if match is None:
        return None
    kind = Kind(match["kind"])
    text = (match["text"] or "").strip()
    if kind is Kind.BEGIN and not text:
        text = DEFAULT_TEXT
    return Marker(lab=int(match["lab"]), kind=kind, text=text)
    # lab 00: end


def comment_lines(source: str, filename: str = "<source>") -> dict[int, str]:
    """Map line number -> comment text, for each comment that stands alone on its line."""
    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT and token.line.strip().startswith("#"):
                comments[token.start[0]] = token.string
    except tokenize.TokenError as error:  # args: (message, (line, column))
        raise MarkerError(filename, error.args[1][0], f"cannot tokenize: {error.args[0]}") from error
    except SyntaxError as error:  # IndentationError: an unindent that matches nothing
        raise MarkerError(filename, error.lineno or 0, f"cannot tokenize: {error.msg}") from error
    return comments


def find_markers(source: str, filename: str = "<source>") -> list[tuple[int, Marker]]:
    """Every marker of a source file, as (line number, Marker), in order."""
    markers = []
    for line, comment in sorted(comment_lines(source, filename).items()):
        marker = parse_marker(comment)
        if marker is not None:
            markers.append((line, marker))
    return markers


def find_regions(source: str, filename: str = "<source>") -> list[Region]:
    """Pair the markers of a source file into regions, or raise MarkerError."""
    lines = source.splitlines()
    regions: list[Region] = []
    # lab 00: begin: pair each begin with the next end; reject nesting, strays and mismatches
    open_line: int | None = None
    open_marker: Marker | None = None
    for line, marker in find_markers(source, filename):
        indent = _indent_of(lines[line - 1])
        if marker.kind is Kind.BEGIN:
            if open_marker is not None:
                raise MarkerError(
                    filename, line,
                    f"{lab_label(marker.lab)} begins inside the {lab_label(open_marker.lab)} "
                    f"region opened at line {open_line}: regions do not nest",
                )
            open_line, open_marker = line, marker
            continue
        if open_marker is None or open_line is None:
            raise MarkerError(filename, line, f"{lab_label(marker.lab)} ends but no region is open")
        if marker.lab != open_marker.lab:
            raise MarkerError(
                filename, line,
                f"{lab_label(marker.lab)} ends the {lab_label(open_marker.lab)} region "
                f"opened at line {open_line}",
            )
        begin_indent = _indent_of(lines[open_line - 1])
        if indent != begin_indent:
            raise MarkerError(
                filename, line,
                f"the end of the {lab_label(marker.lab)} region is not indented like its "
                f"begin at line {open_line}",
            )
        regions.append(Region(open_marker.lab, open_marker.text, open_line, line, begin_indent))
        open_line, open_marker = None, None
    if open_marker is not None and open_line is not None:
        raise MarkerError(
            filename, open_line, f"{lab_label(open_marker.lab)} begins here and never ends"
        )
    # lab 00: end
    return regions


def make_skeleton(source: str, lab: int, filename: str = "<source>") -> str:
    """The student's copy of `source`: every region of `lab` replaced by a TODO stub.

    Regions of other labs are left as they are, markers included. Raises
    MarkerError when the markers of the file do not pair up, for any lab.
    """
    regions = [region for region in find_regions(source, filename) if region.lab == lab]
    if not regions:
        return source
    lines = source.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    position = 0  # 0-based index of the next line to copy
    for region in regions:
        out.extend(lines[position : region.begin - 1])
        out.extend(line + newline for line in stub_lines(region))
        position = region.end
    out.extend(lines[position:])
    return "".join(out)


def stub_lines(region: Region) -> list[str]:
    """The two lines that stand in for a region: a TODO and a raise that says what to do."""
    label = lab_label(region.lab)
    message = f"{label}: {region.text}"
    return [
        f"{region.indent}# TODO({label}): {region.text}",
        f"{region.indent}raise NotImplementedError({message!r})",
    ]


def labs_marked(source: str, filename: str = "<source>") -> set[int]:
    """The lab numbers that have at least one region in `source`."""
    return {region.lab for region in find_regions(source, filename)}


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]
