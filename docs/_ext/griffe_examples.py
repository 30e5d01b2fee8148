"""Griffe extension for the API page: read ``Example:`` sections as ``Examples:``.

polymod's docstrings title their doctests ``Example:``; Griffe's Google parser
only knows the plural, and would render the doctest as Markdown prose.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class DoctestExamples(griffe.Extension):
    def on_instance(self, **kwargs: Any) -> None:
        docstring = kwargs["obj"].docstring
        if docstring is not None:
            docstring.value = _SINGULAR.sub(r"\1Examples:", docstring.value)
