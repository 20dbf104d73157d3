"""The Dockerfile parser: a table of Dockerfiles and the instructions they give. Pure."""

from __future__ import annotations

import pytest

from minidock.build.dockerfile import DockerfileError, parse

CASES = [
    # continuations, comments inside them, case of the command
    ("FROM busybox\nrun echo a \\\n  # a comment\n  && echo b\n",
     [("RUN", ("echo a   && echo b",), False)]),
    # exec form, and Docker's fall-back to the shell form for JSON that is not a list of strings
    ('FROM busybox\nCMD ["sh", "-c", "echo hi"]\nENTRYPOINT [1, 2]\nCMD [broken\n',
     [("CMD", ("sh", "-c", "echo hi"), True), ("ENTRYPOINT", ("[1, 2]",), False), ("CMD", ("[broken",), False)]),
    # ENV both forms; LABEL with quotes kept for the expansion to remove
    ('FROM busybox\nENV A=1 B="two words"\nENV OLD some value\nLABEL "a.b"=c d=\'e f\'\n',
     [("ENV", ("A", "1", "B", '"two words"'), False), ("ENV", ("OLD", "some value"), False),
      ("LABEL", ('"a.b"', "c", "d", "'e f'"), False)]),
    # the escape directive: backtick continuations (Windows style), backslashes are plain
    ("# escape=`\nFROM busybox\nRUN echo C:\\dir `\n  more\n",
     [("RUN", ("echo C:\\dir   more",), False)]),
    # heredocs: the body follows the instruction; quoted word: no expansion; <<- strips tabs
    ("FROM busybox\nRUN <<EOF\necho $A\nEOF\nCOPY <<'X' /x\nraw $B\nX\nRUN <<-T\n\techo t\n\tT\n",
     [("RUN", ("<<EOF",), False), ("COPY", ("<<'X'", "/x"), False), ("RUN", ("<<-T",), False)]),
    # flags before the arguments
    ("FROM busybox AS base\nCOPY --from=base --chown=1:2 --chmod=600 a b /d/\nHEALTHCHECK --interval=5s CMD true\n",
     [("COPY", ("a", "b", "/d/"), False), ("HEALTHCHECK", ("CMD", "true"), False)]),
]


@pytest.mark.spec("BUILD-001")
@pytest.mark.parametrize("text, expected", CASES)
def test_instructions_as_docker_reads_them(text, expected):
    dockerfile = parse(text)
    got = [(i.command, i.args, i.json) for i in dockerfile.stages[-1].instructions]
    assert got == expected


@pytest.mark.spec("BUILD-001")
def test_heredoc_bodies_and_flags():
    stage = parse("FROM busybox\nRUN <<EOF\necho $A\nEOF\nCOPY <<'X' /x\nraw $B\nX\nRUN <<-T\n\techo t\n\tT\n").stages[0]
    run, copy, tabs = stage.instructions
    assert (run.heredocs[0].content, run.heredocs[0].expand) == ("echo $A\n", True)
    assert (copy.heredocs[0].name, copy.heredocs[0].content, copy.heredocs[0].expand) == ("X", "raw $B\n", False)
    assert tabs.heredocs[0].content == "echo t\n"
    flagged = parse("FROM busybox\nCOPY --from=base --chown=1:2 a /d/\n").stages[0].instructions[0]
    assert (flagged.flag("from"), flagged.flag("chown"), flagged.flag("chmod")) == ("base", "1:2", None)


@pytest.mark.spec("BUILD-001")
def test_stages_meta_args_and_directives():
    dockerfile = parse("# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=busybox\nFROM $BASE AS One\n"
                       "RUN true\nFROM one\nFROM --platform=linux/amd64 scratch\n")
    assert dockerfile.directives == {"syntax": "docker/dockerfile:1", "escape": "\\"}
    assert [a.args for a in dockerfile.meta_args] == [("BASE=busybox",)]
    assert [(s.base, s.name, s.platform, s.line) for s in dockerfile.stages] == [
        ("$BASE", "one", None, 4), ("one", None, None, 6), ("scratch", None, "linux/amd64", 7)]
    assert dockerfile.stage("ONE") is dockerfile.stages[0] and dockerfile.stage("2") is dockerfile.stages[2]
    # a directive after a comment is a comment
    assert parse("# hello\n# escape=`\nFROM x\n").escape == "\\"


@pytest.mark.spec("BUILD-002")
@pytest.mark.parametrize("text, line, words", [
    ("FROM busybox\nFROBNICATE x\n", 2, "unknown instruction: FROBNICATE"),
    ("RUN true\n", 1, "no build stage in current context"),
    ("FROM busybox\nCOPY onlyone\n", 2, "COPY requires at least two arguments"),
    ("FROM busybox\nSHELL sh -c\n", 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM busybox\nCOPY --frm=x a b\n", 2, "unknown flag: --frm"),
    ("FROM busybox\nENV\n", 2, "ENV requires at least one argument"),
    ("FROM busybox\nENV A=1 B\n", 2, "can't find = in 'B'"),
    ("FROM a AS x\nFROM b AS X\n", 2, "duplicate stage name"),
    ("FROM a AS 1x\n", 1, "invalid name for build stage"),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a\nRUN <<EOF\necho\n", 2, "unterminated heredoc EOF"),
    ("FROM a\nONBUILD FROM b\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nHEALTHCHECK CMD\n", 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM a\nWORKDIR\n", 2, "WORKDIR requires at least one argument"),
    ("# escape=x\nFROM a\n", 1, "invalid escape token"),
    ("", 1, "file with no instructions"),
])
def test_bad_dockerfiles_name_the_line(text, line, words):
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    assert caught.value.line == line and words in str(caught.value)
    assert f"line {line}" in caught.value.message
