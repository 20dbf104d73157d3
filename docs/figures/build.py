"""Chapter 8's figures: the stages of a multi-stage Dockerfile, and which ones a build needs.

Explained:  chapters/08-build.md#multi-stage-builds

    needed_stages()   SAMPLE parsed by minidock.build.dockerfile.parse, the stages each target
                      needs asked of Builder.needed: for the last stage and for --target test

Rules: nothing here decides what a stage depends on; the parser and the builder do,
so the figure shows what `minidock build` would really build.
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, escape, quoted

# The chapter quotes this (`::: code docs.figures.build:SAMPLE`): the figure is drawn from it.
SAMPLE = """\
FROM busybox AS base
WORKDIR /app
COPY src/ ./

FROM base AS build
RUN sh make-hello.sh > hello && chmod +x hello

FROM base AS test
COPY --from=build /app/hello /app/
RUN /app/hello | grep -q hello

FROM busybox AS docs
COPY docs/ /srv/docs/

FROM busybox
COPY --from=build /app/hello /usr/local/bin/
CMD ["hello"]
"""

TARGETS = (None, "test")  # `minidock build .` and `minidock build --target test .`


def _stage_label(stage, needed: bool) -> str:
    """A stage as an HTML-like table: its name, its FROM, its instructions."""
    name = stage.name or f"stage {stage.index} (the last)"
    colour = NEW if needed else "white"
    rows = [f'<TR><TD BGCOLOR="{colour}"><B>{escape(name)}</B></TD></TR>',
            f'<TR><TD ALIGN="LEFT" BGCOLOR="{colour}">FROM {escape(stage.base)}</TD></TR>']
    for instruction in stage.instructions:
        text = instruction.original if len(instruction.original) <= 40 else instruction.original[:39] + "…"
        rows.append(f'<TR><TD ALIGN="LEFT" BGCOLOR="{colour}">{escape(text)}</TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" COLOR="#90a4ae">'
            + "".join(rows) + "</TABLE>>")


def needed_stages() -> str:
    """The stages of the sample Dockerfile, once per target: `minidock build .` (left) and `minidock build --target test .` (right). An arrow is a stage that another builds on (FROM) or copies from (COPY --from); the filled stages are the ones `Builder.needed` returns for that target, and the only ones BuildKit builds. Docker 20.10's classic builder builds the white ones too."""
    from minidock.build.builder import Builder, Options
    from minidock.build.dockerfile import parse

    code_name("minidock.build.builder:Builder.needed")
    dockerfile = parse(SAMPLE)
    lines = []
    for number, target in enumerate(TARGETS):
        builder = Builder(None, "/", Options(target=target), lambda text: None)  # type: ignore[arg-type]
        needed = {stage.index for stage in builder.needed(dockerfile)}
        title = "minidock build ." if target is None else f"minidock build --target {target} ."
        lines.append(f"subgraph cluster_{number} {{")
        lines.append(f'  label={quoted(title)}; labeljust="l"; style="rounded,filled"; '
                     f'fillcolor={quoted(HOST)}; color={quoted(FILL)};')
        lines.append(f'  base_{number} [shape=box, style="rounded,filled", fillcolor="white", label="busybox (image)"];')
        for stage in dockerfile.stages:
            style = "" if stage.index in needed else ', color="#b0bec5", fontcolor="#78909c"'
            lines.append(f'  s{number}_{stage.index} [shape=plaintext, style="", '
                         f'label={_stage_label(stage, stage.index in needed)}{style}];')
            on = dockerfile.stage(stage.base.lower())
            source = f"s{number}_{on.index}" if on is not None else f"base_{number}"
            lines.append(f'  {source} -> s{number}_{stage.index} [label=" FROM"];')
            for instruction in stage.instructions:
                other = instruction.flag("from")
                if other is not None and dockerfile.stage(other.lower()) is not None:
                    lines.append(f'  s{number}_{dockerfile.stage(other.lower()).index} -> s{number}_{stage.index} '
                                 f'[label=" COPY --from", style=dashed];')
        lines.append("}")
    return digraph(lines)
