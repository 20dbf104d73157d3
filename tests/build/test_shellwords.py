"""Variable substitution as Docker's shell lexer does it: the documented cases. Pure."""

from __future__ import annotations

import pytest

from minidock.build.shellwords import expand_word, expand_words
from minidock.errors import InvalidArgument

ENV = {"A": "a", "EMPTY": "", "SPACED": "x y", "HOME": "/root"}


@pytest.mark.spec("BUILD-003")
@pytest.mark.parametrize("text, expected", [
    ("$A", "a"), ("${A}", "a"), ("${A}b", "ab"), ("$Ab", ""), ("$UNSET", ""), ("pre$A-post", "prea-post"),
    ("${UNSET:-def}", "def"), ("${EMPTY:-def}", "def"), ("${EMPTY-def}", ""), ("${UNSET-def}", "def"),
    ("${A:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    ("${UNSET:-$A}", "a"), ("${UNSET:-${HOME}/x}", "/root/x"),
    ("'$A'", "$A"), ('"$A"', "a"), ('"\\$A"', "$A"), ("\\$A", "$A"), ('"a\\"b"', 'a"b'), ('"c:\\d"', "c:\\d"),
    ("$", "$"), ("a$", "a$"), ("$1", ""), ('"$SPACED"', "x y"), ("a\\ b", "a b"),
])
def test_one_word(text, expected):
    assert expand_word(text, ENV) == expected


@pytest.mark.spec("BUILD-003")
def test_words_split_outside_quotes_only():
    # an unquoted value is split after substitution; a quoted one is not
    assert expand_words("a 'b c' \"$SPACED\" $SPACED ${UNSET:-d}", ENV) == ["a", "b c", "x y", "x", "y", "d"]
    assert expand_words("p$SPACED $EMPTY q", ENV) == ["px", "y", "q"]
    assert expand_words("  ", ENV) == []


@pytest.mark.spec("BUILD-003")
def test_the_backtick_escape():
    assert expand_word("C:\\dir`$A", ENV, escape="`") == "C:\\dir$A"


@pytest.mark.spec("BUILD-003")
@pytest.mark.parametrize("text, words", [
    ("${UNSET:?must be set}", "UNSET: must be set"), ("'open", "matching single-quote"),
    ('"open', "matching double-quote"), ("${A", "missing '}'"), ("${}", "missing variable name"),
    ("${A%x}", "unsupported modifier"),
])
def test_bad_substitutions(text, words):
    with pytest.raises(InvalidArgument) as caught:
        expand_word(text, ENV)
    assert words in caught.value.message
