"""One self-contained HTML file: the template with its style and script inlined, the report's data as JSON,
and the transcript details as gzip-compressed chunks.

Everything from the records is untrusted model output. It enters the page only as data: the JSON sits in a
`<script type="application/json">` whose `<`, `>` and `&` are written as JSON escapes (so no `</script>`
can end it early), the chunks are base64, and the page's script puts every string into the DOM as text
(`textContent`), never as markup.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from importlib import resources
from typing import Any

_TEMPLATE_FILES = ("report.html", "report.css", "report.js")
STYLE_MARK, SCRIPT_MARK, SCRIPT_HASH_MARK, DATA_MARK, CHUNKS_MARK = (
    "/*REPORT:STYLE*/",
    "/*REPORT:SCRIPT*/",
    "'REPORT:SCRIPT_HASH'",
    "<!--REPORT:DATA-->",
    "<!--REPORT:CHUNKS-->",
)
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def template_text(name: str) -> str:
    if name not in _TEMPLATE_FILES:
        raise KeyError(f"no report template file {name!r}; known: {', '.join(_TEMPLATE_FILES)}")
    return (resources.files("skillmix.report") / "template" / name).read_text(encoding="utf-8")


def script_safe_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no character of it can close or open a tag."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for character, escape in _JSON_ESCAPES.items():
        text = text.replace(character, escape)  # these occur only inside JSON strings: escaping is exact
    return text


def compressed_chunk(details: list[dict[str, Any]]) -> str:
    """A chunk of transcript details as base64 of gzip-compressed JSON (the page unpacks it with the
    browser's DecompressionStream when one of its items is shown)."""
    raw = json.dumps(details, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def render_page(data: dict[str, Any], chunks: list[list[dict[str, Any]]]) -> str:
    html = template_text("report.html")
    style, script = template_text("report.css"), template_text("report.js")
    for name, text in (("report.css", style), ("report.js", script)):
        if "</" in text:
            raise ValueError(f"template {name} holds '</', which would end its inline element early")
    chunk_elements = "\n".join(
        f'<script type="application/octet-stream" id="chunk-{index}">{compressed_chunk(chunk)}</script>'
        for index, chunk in enumerate(chunks)
    )
    for mark in (STYLE_MARK, SCRIPT_MARK, SCRIPT_HASH_MARK, DATA_MARK, CHUNKS_MARK):
        if html.count(mark) != 1:
            raise ValueError(f"template report.html must hold {mark} exactly once")
    # The page's Content-Security-Policy runs only this script (by its hash): no inline event handler, no
    # other script and no network request, even if some text were ever taken for markup.
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    html = html.replace(STYLE_MARK, style).replace(SCRIPT_MARK, script)
    html = html.replace(SCRIPT_HASH_MARK, f"'sha256-{script_hash}'")
    # data last, each in one pass: nothing inserted from the records is searched for marks again
    before_data, after_data = html.split(DATA_MARK)
    data_element = f'<script type="application/json" id="report-data">{script_safe_json(data)}</script>'
    before_chunks, after_chunks = after_data.split(CHUNKS_MARK)
    return before_data + data_element + before_chunks + chunk_elements + after_chunks
