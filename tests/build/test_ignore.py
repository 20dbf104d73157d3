""".dockerignore's rules: the patterns Docker documents, and exceptions. Pure."""

from __future__ import annotations

import pytest

from minidock.build.ignore import Ignore

TEXT = """
# comment
*/temp*
*/*/temp*
temp?
**/*.pyc
/build/
!build/keep.txt
node_modules
!node_modules/important
docs/[ab]*.md
"""


@pytest.mark.spec("BUILD-004")
@pytest.mark.parametrize("path, excluded", [
    ("somedir/temporary.txt", True), ("somedir/subdir/temporary.txt", True), ("temp", False), ("tempa", True),
    ("temp/x", False), ("x.pyc", True), ("a/b/c/x.pyc", True), ("x.py", False),
    ("build", True), ("build/out.o", True), ("build/keep.txt", False),
    ("node_modules/lib/x.js", True), ("node_modules/important", False),
    ("docs/a1.md", True), ("docs/c1.md", False), ("src/main.c", False), ("./x.pyc", True),
])
def test_documented_patterns(path, excluded):
    assert Ignore.parse(TEXT).excluded(path) is excluded


@pytest.mark.spec("BUILD-004")
def test_the_last_matching_pattern_wins():
    assert Ignore.parse("*.md\n!README*.md\nREADME-secret.md\n").excluded("README-secret.md")
    assert not Ignore.parse("*.md\n!README*.md\nREADME-secret.md\n").excluded("README.md")
    assert not Ignore.parse("").excluded("anything")
