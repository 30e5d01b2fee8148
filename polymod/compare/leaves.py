"""Nests of tensors (a model's inputs and outputs) taken apart into named leaves and rebuilt.

A model may return one tensor or any nest of tuples, lists and dicts of tensors.
Its leaves are named the way a user would index them: ``out``, ``out[0]``,
``out['logits']``, ``out[1]['h']``. ``None`` leaves are skipped; other non-tensor
leaves (Python numbers, strings) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import registry
from ..errors import BackendTypeError


def named_leaves(value: Any, name: str = "out") -> Iterator[tuple[str, Any]]:
    """``(name, leaf)`` for every leaf of a nest of tuples, lists and dicts, in order.

    Example:
        >>> from polymod.compare.leaves import named_leaves
        >>> [n for n, _ in named_leaves({"logits": 1, "hidden": (2, None, 3)})]
        ["out['logits']", "out['hidden'][0]", "out['hidden'][2]"]
    """
    if value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from named_leaves(item, f"{name}[{key!r}]")
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from named_leaves(item, f"{name}[{index}]")
    else:
        yield name, value


def map_leaves(value: Any, fn: Callable[[Any], Any]) -> Any:
    """The same nest with ``fn`` applied to every leaf (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, dict):
        items = {key: map_leaves(item, fn) for key, item in value.items()}
        return items if type(value) is dict else _rebuilt(value, items)
    if isinstance(value, (tuple, list)):
        items = [map_leaves(item, fn) for item in value]
        if type(value) in (tuple, list):
            return type(value)(items)
        if hasattr(value, "_fields"):  # a namedtuple
            return type(value)(*items)
        return _rebuilt(value, items)
    return fn(value)


def _rebuilt(value: Any, items: Any) -> Any:
    try:
        return type(value)(items)
    except Exception:  # a container type that cannot be rebuilt from its items
        return items


def tensor_array(leaf: Any) -> np.ndarray | None:
    """A fresh NumPy copy of a tensor leaf of any backend (or a number); None otherwise."""
    if isinstance(leaf, (bool, int, float, complex, np.generic)):
        return np.asarray(leaf)
    try:
        adapter = registry.adapter_of(leaf)
    except BackendTypeError:
        return None
    return np.array(adapter.to_numpy(leaf), copy=True)


def as_data(value: Any) -> Any:
    """User inputs as NumPy data: tensors of any backend and NumPy scalars become arrays;
    nests are walked; other values (Python numbers, None, strings) are kept."""
    def convert(leaf: Any) -> Any:
        if isinstance(leaf, np.ndarray):
            return leaf
        if isinstance(leaf, np.generic):
            return np.asarray(leaf)
        if isinstance(leaf, (bool, int, float, complex, str, bytes)):
            return leaf
        try:
            adapter = registry.adapter_of(leaf)
        except BackendTypeError:
            return leaf
        return np.asarray(adapter.to_numpy(leaf))

    return map_leaves(value, convert)
