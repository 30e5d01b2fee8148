"""mkdocs hook: a name in a table cell is never broken in the middle.

Browsers may break inline code at a hyphen or anywhere (Material sets
``word-break: break-word``), which in a narrow column gives "BackendUnavailableErro/r"
or "--no-/grads". Each ``<code>`` without whitespace inside a table cell gets the class
``polymod-name`` (``white-space: nowrap`` in docs/assets/stylesheets/polymod.css): the
column widens instead. Code with spaces, such as a signature, still wraps at its spaces.
"""

from __future__ import annotations

import re
from typing import Any

_CELL = re.compile(r"(<t[dh]\b[^>]*>)(.*?)(</t[dh]>)", re.DOTALL)
_NAME = re.compile(r"<code>([^<\s]+)</code>")


def keep_names_whole(html: str) -> str:
    def cell(match: re.Match) -> str:
        body = _NAME.sub(r'<code class="polymod-name">\1</code>', match[2])
        return match[1] + body + match[3]

    return _CELL.sub(cell, html)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    return keep_names_whole(html) if "<td" in html else html
