"""Benchmarks as pictures: `::: bench` becomes one SVG bar chart per benchmark.

Implements: spec/docs.md DOCS-050 .. DOCS-052
Explained:  docs/bench/README.md
Modelled on: docs/hooks/figures.py (drawn at build time, SVG without scripts)

`make bench` writes docs/bench/results.json (bench/results.py): every row of a real
run, with the machine, the date and the tools' versions. A page writes one line,

    ::: bench

and the build puts there: when and where the numbers were measured, the versions, and
for each benchmark a horizontal bar chart of each contender's median (minidock's bars
dark, its peers' light), the contenders that were not measured listed with the
harness's note. Without the file, a note says how to make it.

    bar_chart(benchmark, rows) -> SVG text      pure
    expand(markdown, document) -> markdown      pure
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

DIRECTIVE = re.compile(r"^:::[ \t]+bench[ \t]*$", re.M)
RESULTS = Path("docs") / "bench" / "results.json"
WIDTH, LABEL, BAR_HEIGHT, GAP = 640, 230, 22, 8


def bar_chart(benchmark: str, rows: list[dict]) -> str:
    """One benchmark's medians as horizontal bars, longest = the chart's width."""
    measured = [row for row in rows if row["median"] is not None]
    top = max((row["median"] for row in measured), default=1.0) or 1.0
    unit = rows[0]["unit"] if rows else "ms"
    height = 30 + len(measured) * (BAR_HEIGHT + GAP)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{html.escape(benchmark)}" '
             'font-family="sans-serif" font-size="12">',
             f'<text x="0" y="16" font-weight="bold">{html.escape(benchmark)} '
             f'(median, {html.escape(unit)}, lower is better)</text>']
    span = WIDTH - LABEL - 90
    for index, row in enumerate(measured):
        y = 26 + index * (BAR_HEIGHT + GAP)
        length = max(1.0, span * row["median"] / top)
        subject = row["contender"].startswith("minidock")
        colour = "#37474f" if subject else "#90a4ae"
        value = f'{row["median"]:.1f}' if unit == "ms" else f'{row["median"]:.0f}'
        parts += [f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{html.escape(row["contender"])}</text>',
                  f'<rect x="{LABEL}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{colour}"/>',
                  f'<text x="{LABEL + length + 4:.1f}" y="{y + 15}">{value} {html.escape(unit)}</text>']
    parts.append("</svg>")
    return "".join(parts)


def by_benchmark(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["benchmark"], []).append(row)
    return grouped


def expand(markdown: str, document: dict | None) -> str:
    """Replace the `::: bench` line with the charts (or with a note when there are no results)."""
    if document is None:
        block = ('!!! note "No benchmark results yet"\n\n'
                 "    `make bench` runs the benchmarks and writes `docs/bench/results.json`; "
                 "the next build draws them here.")
        return DIRECTIVE.sub(lambda _: block, markdown)
    machine, versions = document["machine"], document["versions"]
    lines = [f"Measured **{document['measured']}** on {machine['cpus']} × {machine['cpu'] or machine['arch']}, "
             f"{machine['memory_gib']} GiB, Linux {machine['kernel']}; rounds: {document['rounds']}"
             + (f"; load average at the end {' / '.join(map(str, machine['load_average']))} (1/5/15 min)"
                if machine.get("load_average") else "") + ".",
             *([f"Command: `{document['command']}`."] if document.get("command") else []),
             "", "| tool | version |", "|---|---|"]
    lines += [f"| {name} | {html.escape(str(version))} |" for name, version in versions.items()]
    for benchmark, rows in by_benchmark(document["rows"]).items():
        lines += ["", f"### {benchmark}", "", bar_chart(benchmark, rows), ""]
        for row in rows:
            if row["median"] is None:
                lines.append(f"- *{html.escape(row['contender'])}: not measured ({html.escape(row['note'] or 'no samples')})*")
            elif row["ratio"] is not None or row["note"]:
                ratio = f"minidock / it = {row['ratio']:.2f}x" if row["ratio"] is not None else ""
                lines.append(f"- {html.escape(row['contender'])}: "
                             + "; ".join(filter(None, [ratio, html.escape(row["note"])])))
    return DIRECTIVE.sub(lambda _: "\n".join(lines), markdown)


def on_page_markdown(markdown, page, config, files):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    """Draw the results where a page says `::: bench`."""
    if not DIRECTIVE.search(markdown):
        return markdown
    path = Path(config["config_file_path"]).parent / RESULTS
    document = json.loads(path.read_text()) if path.is_file() else None
    return expand(markdown, document)
