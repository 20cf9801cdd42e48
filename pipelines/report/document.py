"""The report as plain data (sections of paragraphs, tables and figures) and its HTML and Markdown forms."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

DASH = "—"


@dataclass
class Table:
    """A table as strings: header [C] and rows [R][C]."""

    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One report section: paragraphs, tables and figures (path relative to the report folder, caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #bbb;padding:3px 8px;text-align:left}
th{background:#eee}figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#555}
p{line-height:1.4}code{background:#f3f3f3}"""


def to_html(title: str, sections: list[Section]) -> str:
    """A self-contained HTML page (inline CSS, figures by relative path); every data string escaped."""
    e = html.escape
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">", f"<title>{e(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{e(s.title)}</h2>")
        for t in s.tables:
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr></thead><tbody>")
            for row in t.rows:
                out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
        for p in s.paragraphs:
            out.append(f"<p>{e(p)}</p>")
        for path, caption in s.figures:
            out.append(f"<figure><img src=\"{e(path, quote=True)}\" alt=\"{e(caption, quote=True)}\">"
                       f"<figcaption>{e(caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, sections: list[Section]) -> str:
    """The same report as GitHub Markdown: pipe tables and image links."""
    out = [f"# {_md(title)}", ""]
    for s in sections:
        out += [f"## {_md(s.title)}", ""]
        for t in s.tables:
            out.append("| " + " | ".join(_md(h) for h in t.header) + " |")
            out.append("|" + " --- |" * len(t.header))
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in t.rows]
            out.append("")
        for p in s.paragraphs:
            out += [_md(p), ""]
        for path, caption in s.figures:
            out += [f"![{_md(caption)}]({path})", ""]
    return "\n".join(out)
