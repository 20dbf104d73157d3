""".dockerignore: which files of the build context the build does not see. Pure.

Implements: spec/build.md BUILD-004
Explained:  chapters/08-build.md#the-context
Modelled on: moby/patternmatcher (the rules `docker build` applies to the context)

    Ignore.parse(text).excluded("src/app.pyc") -> True / False

    # a comment          blank lines and comments are skipped
    *.pyc                at the top level only: patterns are relative to the context
    **/*.pyc             at any depth (** is any number of directories, none too)
    build/               a directory (cleaned to "build"): everything under it too
    !build/keep.txt      an exception: the last pattern that matches decides

Rules: patterns are cleaned like paths (leading "/" and "./" dropped); `*` and `?`
never cross a "/"; a pattern that matches a directory excludes what is in it.
"""

from __future__ import annotations

import posixpath
import re


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern.strip()).lstrip("/")
    return "" if cleaned == "." else cleaned


def _regex(pattern: str) -> re.Pattern:
    """The pattern as a regular expression over a whole path (Go's filepath.Match, plus **)."""
    # lab 08: begin: the pattern as a regex over the whole path (* and ? stay in one name, ** crosses them)
    out, at = "^", 0
    while at < len(pattern):
        char = pattern[at]
        if char == "*":
            if pattern[at:at + 2] == "**":
                at += 2
                if pattern[at:at + 1] == "/":
                    out += "(.*/)?"  # **/ : none or any directories
                    at += 1
                else:
                    out += ".*"
                continue
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", at + 1)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[at + 1:end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out += f"[{body}]"
                at = end
        elif char == "\\" and at + 1 < len(pattern):
            at += 1
            out += re.escape(pattern[at])
        else:
            out += re.escape(char)
        at += 1
    return re.compile(out + "$")
    # lab 08: end


class Ignore:
    """The patterns of one .dockerignore, in order."""

    def __init__(self, patterns: list[tuple[bool, str]]) -> None:
        self.rules = [(exception, _regex(pattern)) for exception, pattern in patterns if pattern]
        self.patterns = patterns

    @classmethod
    def parse(cls, text: str) -> "Ignore":
        patterns = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            pattern = _clean(line[1:] if exception else line)
            patterns.append((exception, pattern))
        return cls(patterns)

    def excluded(self, path: str) -> bool:
        """Is ``path`` (relative to the context) left out of the build?"""
        # lab 08: begin: the last rule matching the path or a directory above it decides (! keeps it)
        path = _clean(path)
        parents = [path]
        while "/" in parents[-1]:
            parents.append(parents[-1].rsplit("/", 1)[0])
        verdict = False
        for exception, regex in self.rules:
            # a pattern that matches the path or one of its directories
            if any(regex.match(candidate) for candidate in parents):
                verdict = not exception
        return verdict
        # lab 08: end

    def may_hold_exceptions(self, directory: str) -> bool:
        """Could an exception pattern re-include something under ``directory``? (walk pruning)"""
        directory = _clean(directory)
        return any(exception and (pattern.startswith(directory + "/") or "*" in pattern)
                   for exception, pattern in self.patterns)
