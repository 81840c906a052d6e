"""One self-contained HTML page: inline CSS, PNGs as data: URIs, plotly.js inlined. No network access."""

from __future__ import annotations

import base64
from html import escape

import numpy as np

CSS = """
:root { --ink: #1d2530; --muted: #5b6675; --line: #dde3ea; --accent: #1f3b73; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: #f6f8fa; }
header { background: var(--accent); color: white; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; opacity: .85; }
nav { padding: 8px 32px; background: white; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 9; }
nav a { color: var(--accent); margin-right: 18px; text-decoration: none; font-weight: 600; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 24px 48px; }
section { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 8px 24px 20px; margin: 20px 0; }
h2 { color: var(--accent); border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin-bottom: 6px; }
figure { margin: 16px 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #eef2f6; }
td.l, th.l { text-align: left; }
tr.chosen td { background: #e7f5e7; font-weight: 600; }
table.inner td { border: none; padding: 1px 6px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px;
          vertical-align: -1px; border: 1px solid rgba(0,0,0,.3); }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 8px 12px; margin: 10px 0; }
.estimate { color: #8a4b00; font-weight: 600; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; }
code { background: #eef2f6; padding: 0 4px; border-radius: 3px; }
"""


def fmt(v: float | int | None, spec: str = ".4g") -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not np.isfinite(v):
        return "–"
    return format(v, spec)


def e(text: object) -> str:
    return escape(str(text), quote=True)


def figure(name: str, data: bytes, alt: str, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="{uri}" alt="{e(alt)}" data-file="{e(name)}">'
        f"<figcaption>{caption} <code>{e(name)}</code></figcaption></figure>"
    )


def table(head: list[str], rows: list[list[str]], left: int = 0, row_classes: list[str] | None = None) -> str:
    """Cells are HTML already; the first ``left`` columns are left-aligned."""

    def cls(i: int) -> str:
        return ' class="l"' if i < left else ""

    out = ["<table><thead><tr>"]
    out += [f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for r, cells in enumerate(rows):
        rc = row_classes[r] if row_classes else ""
        out.append(f'<tr class="{rc}">' if rc else "<tr>")
        out += [f"<td{cls(i)}>{c}</td>" for i, c in enumerate(cells)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def matrix(values: np.ndarray) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{fmt(float(v))}</td>" for v in row) + "</tr>" for row in values)
    return f'<table class="inner">{rows}</table>'


def swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{e(colour)}"></span>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """sections: (anchor, heading, body HTML)."""
    nav = "".join(f'<a href="#{a}">{e(h)}</a>' for a, h, _ in sections)
    body = "\n".join(f'<section id="{a}"><h2>{e(h)}</h2>\n{b}\n</section>' for a, h, b in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>\n"
        f"<body><header><h1>{e(title)}</h1><p>{e(subtitle)}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main></body></html>\n"
    )
