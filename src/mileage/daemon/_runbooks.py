"""The runbooks page the daemon serves at ``/runbooks``: docs/runbooks.md, shipped with the
package, as plain HTML whose section ids are the anchors alert links end with
(``/runbooks#slo-burn``).

The Markdown is the small subset the page uses (headings, paragraphs, lists, tables, code
spans, bold, links), converted here rather than with a Markdown library the daemon does not
otherwise need. Everything is escaped; the page holds no scripts.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib import resources

#: The packaged copy of docs/runbooks.md (a test keeps the two equal).
RUNBOOKS_FILE = "runbooks.md"
_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def runbooks_markdown() -> str:
    """The text of the packaged runbooks."""
    return (resources.files("mileage.daemon") / RUNBOOKS_FILE).read_text(encoding="utf-8")


def anchor(heading: str) -> str:
    """The id of a heading, as Markdown renderers make it: ``Pushed alerts`` ->
    ``pushed-alerts``."""
    slug = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[\s]+", "-", slug)


def anchors(markdown: str) -> set[str]:
    """The ids of every heading in ``markdown``."""
    return {
        anchor(m.group(2)) for line in markdown.splitlines() if (m := _HEADING.match(line.strip()))
    }


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        piece = html.escape(part, quote=False)
        piece = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", piece)

        def link(m: re.Match[str]) -> str:
            target = m.group(2)
            if not target.startswith(("#", "http://", "https://")):
                return m.group(1)  # a page of the docs site: not served here
            return f'<a href="{html.escape(target)}">{m.group(1)}</a>'

        out.append(_LINK.sub(link, piece))
    return "".join(out)


def render_html(markdown: str) -> str:
    """``markdown`` as an HTML page."""
    body: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if rows:
            head, *rest = [r for r in rows if not all(set(c) <= set("-: ") for c in r)]
            cells = "".join(f"<th>{_inline(c)}</th>" for c in head)
            lines = [f"<tr>{cells}</tr>"]
            lines += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rest]
            body.append("<table>" + "".join(lines) + "</table>")
            rows.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        heading = _HEADING.match(line)
        if not line or heading:
            flush()
        if heading:
            level, text = len(heading.group(1)), heading.group(2)
            body.append(f'<h{level} id="{anchor(text)}">{_inline(text)}</h{level}>')
        elif line.startswith("|"):
            if paragraph or items:
                flush()
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif line.startswith(("- ", "* ")):
            if paragraph:
                flush()
            items.append(line[2:])
        elif line and items and raw.startswith("  "):
            items[-1] += " " + line  # a list item's continuation
        elif line:
            paragraph.append(line)
    flush()
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Mileage runbooks</title></head><body>" + "\n".join(body) + "</body></html>\n"
    )


@cache
def runbooks_page() -> bytes:
    """The served page (rendered once)."""
    return render_html(runbooks_markdown()).encode()


__all__ = ["anchor", "anchors", "render_html", "runbooks_markdown", "runbooks_page"]
