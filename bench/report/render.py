"""Render a report, as a list of blocks, to Markdown and to self-contained HTML; tables to LaTeX.

Block text may use two bits of inline Markdown: `code` and **bold**.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.evaluate.summary import markdown_table
from bench.report.plots import Plot
from bench.report.style import RC
from bench.report.tables import Table


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Text:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class TableBlock:
    table: Table
    files: bool = True


@dataclass
class Image:
    plot: Plot


Block = Heading | Text | Bullets | TableBlock | Image


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---- Markdown ---------------------------------------------------------------------------------

def _md_cell(text: str, bold: bool) -> str:
    text = str(text)
    return f"**{text}**" if bold and text else text


def table_to_markdown(table: Table) -> str:
    """The displayed cells as a markdown table: numeric columns right-aligned, best cells in bold."""
    display = table.display
    numeric = [_is_numeric_column(display[c]) for c in display.columns]
    rows = [[_md_cell(display.iat[i, j], table.is_bold(i, j)) for j in range(len(display.columns))]
            for i in range(len(display))]
    return markdown_table([str(c) for c in display.columns], rows, numeric)


def render_markdown(blocks: list[Block], out_dir: Path) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Text):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, TableBlock):
            parts.append(table_to_markdown(block.table))
            if block.files:
                name = block.table.name
                parts.append(f"Files: [tables/{name}.csv](tables/{name}.csv) · [tables/{name}.tex](tables/{name}.tex)")
        elif isinstance(block, Image):
            png, svg = (p.relative_to(out_dir).as_posix() for p in (block.plot.png, block.plot.svg))
            parts.append(f"![{block.plot.title}]({png})\n\n{block.plot.caption} ([SVG]({svg}))")
    return "\n\n".join(parts) + "\n"


# ---- HTML -------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 15px;
       line-height: 1.45; color: #1d1d1f; max-width: 1220px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 21px; margin-top: 36px; border-bottom: 1px solid #ddd;
     padding-bottom: 4px; } h3 { font-size: 17px; margin-top: 26px; }
code { background: #f2f2f4; padding: 1px 4px; border-radius: 3px; font-size: 13px; }
nav ul { columns: 2; font-size: 14px; }
.wrap { overflow-x: auto; margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 13.5px; }
th, td { border-bottom: 1px solid #e3e3e6; padding: 4px 10px; text-align: left; vertical-align: top;
         white-space: nowrap; }
td.prose { white-space: normal; min-width: 12em; }
th { background: #f6f6f8; border-bottom: 2px solid #c9c9cf; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fbfbfc; }
td.ok { color: #1a7f37; font-weight: 600; } td.off { color: #b42318; font-weight: 600; }
td.nc { color: #6e6e73; }
.files { font-size: 13px; color: #6e6e73; }
figure { margin: 16px 0 28px; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 14px; color: #3a3a3c; max-width: 900px; }
"""


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


_NUMBER = re.compile(r"^[+\-−<]?\d|^–$")


def _is_numeric_column(column: pd.Series) -> bool:
    values = [str(v) for v in column if str(v)]
    return bool(values) and all(_NUMBER.match(v) for v in values)


#: Columns of sentences: these wrap, every other cell stays on one line.
_PROSE = {"reason", "note", "fix", "files", "source", "benchmark"}


def table_to_html(table: Table) -> str:
    display = table.display
    numeric = [_is_numeric_column(display[c]) for c in display.columns]
    head = "".join(f'<th class="{"num" if n else ""}">{html.escape(str(c))}</th>'
                   for c, n in zip(display.columns, numeric, strict=True))
    rows = []
    for i in range(len(display)):
        cells = []
        for j, column in enumerate(display.columns):
            text = html.escape(str(display.iat[i, j]))
            if table.is_bold(i, j):
                text = f"<strong>{text}</strong>"
            css = "num" if numeric[j] else "prose" if column in _PROSE and text else ""
            if column == "status":
                value = str(display.iat[i, j])
                css = "ok" if value == "OK" else "off" if value.startswith("OFF") else "nc"
            cells.append(f'<td class="{css}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _css_width(png: Path) -> int:
    """Display width in CSS px (96 per inch), so every plot shows its fonts at the same size."""
    header = png.read_bytes()[:24]
    return round(int.from_bytes(header[16:20], "big") * 96 / RC["savefig.dpi"])


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(blocks: list[Block], title: str) -> str:
    body = []
    sections = [b.text for b in blocks if isinstance(b, Heading) and b.level == 2]
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f'<h{block.level} id="{slug(block.text)}">{_inline(block.text)}</h{block.level}>')
            if block.level == 1 and sections:
                links = "".join(f'<li><a href="#{slug(s)}">{_inline(s)}</a></li>' for s in sections)
                body.append(f"<nav><ul>{links}</ul></nav>")
        elif isinstance(block, Text):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, TableBlock):
            body.append(table_to_html(block.table))
            if block.files:
                name = block.table.name
                body.append(f'<p class="files">Files: tables/{name}.csv · tables/{name}.tex</p>')
        elif isinstance(block, Image):
            plot = block.plot
            body.append(f'<figure id="plot-{plot.name}"><img alt="{html.escape(plot.title)}" '
                        f'width="{_css_width(plot.png)}" src="{_data_uri(plot.png)}">'
                        f"<figcaption>{_inline(plot.caption)}</figcaption></figure>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f"<body>\n" + "\n".join(body) + "\n</body></html>\n")


# ---- LaTeX ------------------------------------------------------------------------------------

_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "†": r"\textsuperscript{\dag}", "‡": r"\textsuperscript{\ddag}",
    "Δ": r"$\Delta$", "−": "-", "–": "--", "—": "---", "±": r"$\pm$", "×": r"$\times$", "…": r"\dots{}",
    "≤": r"$\leq$", "≥": r"$\geq$", "·": r"$\cdot$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(char, char) for char in str(text))


def table_to_latex(table: Table) -> str:
    """A booktabs `table` environment with the displayed cells; best cells in bold."""
    display = table.display
    numeric = [_is_numeric_column(display[c]) for c in display.columns]
    spec = "".join("r" if n else "l" for n in numeric)
    lines = [
        "% Generated by bench report; needs \\usepackage{booktabs}.",
        "\\begin{table}[ht]", "\\centering", "\\small",
        f"\\caption{{{latex_escape(table.title)}}}", f"\\label{{tab:{table.name}}}",
        f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
        " & ".join(latex_escape(c) for c in display.columns) + " \\\\", "\\midrule",
    ]
    for i in range(len(display)):
        cells = []
        for j in range(len(display.columns)):
            text = latex_escape(display.iat[i, j])
            cells.append(f"\\textbf{{{text}}}" if table.is_bold(i, j) else text)
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)
