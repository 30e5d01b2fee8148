"""A module's state as data: ``state_dict``, loading, copying and pickling.

Loading checks everything first (names, shapes, dtypes, every problem listed at
once) and writes only then; if the framework still fails midway, the values already
written are restored, so a load is all-or-nothing.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from .. import registry
from ..dtypes import is_float, max_value
from ..errors import (
    BackendTypeError,
    StateError,
    UninitializedParameterError,
    WeightsFileError,
)
from .binding import adapter_of_module, bind_tree
from .tree import KINDS_ALL, Traversal

T = TypeVar("T")

# Per-module state a copy must not inherit: the handles (copied one by one), the
# binding record, the caches, and a ``forward`` set on the instance by an instrument
# (compare's recorder, a torch twin's hook router) that belongs to the original.
_NOT_COPIED = frozenset({"_params", "_bound", "_cache", "forward"})


class LoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (as in PyTorch)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def compatible(source: np.dtype, target: np.dtype) -> bool:
    """Whether values of dtype ``source`` may be cast into a handle of dtype ``target``
    (the same kind; integers and bools mix)."""
    return (source.kind == target.kind or (source.kind in "iub" and target.kind in "iub")
            or (is_float(source) and is_float(target)))


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return registry.adapter_of(value).to_numpy(value)


def load_into(net: Any, state: Mapping[str, Any], strict: bool, source: str) -> LoadResult:
    """Validates ``state`` against ``net`` completely, then writes it (all or nothing).

    Names may be any name that reaches a handle (also the second name of a shared
    module); a handle reached under two names with different values is refused.
    """
    if not isinstance(state, Mapping):
        raise WeightsFileError(f"Expected a mapping of names to arrays; received "
                               f"{type(state).__qualname__}.")
    expected = dict(net.named_handles(KINDS_ALL))  # one name per handle
    aliases = dict(net.named_handles(KINDS_ALL, remove_duplicate=False))  # every name
    present = {id(aliases[k]) for k in state if k in aliases}
    missing = [k for k, handle in expected.items() if id(handle) not in present]
    unexpected = [k for k in state if k not in aliases]
    problems = []
    if strict:
        problems += [f"missing {k!r}" for k in missing]
        problems += [f"unexpected {k!r}" for k in unexpected]
    chosen: dict[int, tuple[str, Any, np.ndarray]] = {}
    for name in state:
        handle = aliases.get(name)
        if handle is None:
            continue
        try:
            array = _as_numpy(state[name])
        except BackendTypeError:
            problems.append(f"{name!r}: not an array ({type(state[name]).__qualname__})")
            continue
        if handle.materialized and tuple(array.shape) != handle.shape:
            problems.append(f"{name!r}: shape {tuple(array.shape)} in {source}, model has "
                            f"{handle.shape}")
            continue
        if not compatible(array.dtype, handle.dtype):
            problems.append(f"{name!r}: dtype {array.dtype} in {source}, model has "
                            f"{handle.dtype}")
            continue
        if _overflows(array, handle.dtype):
            problems.append(f"{name!r}: values beyond the range of the model's "
                            f"{handle.dtype} in {source} (they would become inf)")
            continue
        earlier = chosen.get(id(handle))
        if earlier is not None:
            if earlier[2].shape != array.shape or not np.array_equal(
                    earlier[2], array, equal_nan=is_float(array.dtype)):
                problems.append(f"{name!r} and {earlier[0]!r} name the same shared tensor "
                                f"but hold different values")
            continue
        chosen[id(handle)] = (name, handle, array)
    problems += _lazy_shape_problems(net, {h: a for _, h, a in chosen.values()})
    if problems:
        raise WeightsFileError(
            f"Cannot load {source!r} into {type(net).__name__} ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}; the model is unchanged):\n  - "
            + "\n  - ".join(problems))
    write_all([(handle, array) for _, handle, array in chosen.values()])
    return LoadResult(missing, unexpected)


def _overflows(array: np.ndarray, dtype: np.dtype) -> bool:
    """Whether casting float ``array`` to the narrower float ``dtype`` turns finite values
    into inf."""
    if not (is_float(array.dtype) and is_float(dtype)):
        return False
    limit = max_value(dtype)
    if limit >= max_value(array.dtype):
        return False
    with np.errstate(invalid="ignore"):
        values = array.astype(np.float32) if array.dtype.name == "bfloat16" else array
        return bool(np.any(np.abs(values[np.isfinite(values)]) > limit))


def _lazy_shape_problems(net: Any, arrays: dict) -> list[str]:
    """Shapes given to lazy handles must fit their modules (``Module.check_lazy_shapes``)."""
    problems = []
    for path, module in net.named_modules():
        own = {name: arrays[h].shape for name, h in module.__dict__["_params"].items()
               if h in arrays and not h.materialized}
        if own:
            problem = module.check_lazy_shapes(own)
            if problem:
                problems.append(f"{path or '<root>'}: {problem}")
    return problems


def write_all(pairs: list[tuple[Any, Any]]) -> None:
    """Assigns each ``(handle, data)``; if one write fails, restores the ones before it
    (a lazy handle the load gave a shape becomes lazy again), then re-raises."""
    done: list[tuple[Any, np.ndarray | None]] = []
    try:
        for handle, data in pairs:
            before = handle.numpy() if handle.materialized else None
            done.append((handle, before))
            handle.assign(data)
    except BaseException as err:
        for handle, before in reversed(done):
            try:
                if before is not None:
                    handle.assign(before)
                elif handle.materialized:
                    handle.make_lazy()
            except Exception as again:  # keep restoring the others; say what is left
                err.add_note(f"polymod: could not restore {handle.path or handle.name!r} "
                             f"after the failed write ({type(again).__name__}: {again})")
        raise


class State:
    """Module's ``state_dict``, ``load_state_dict``, copies and pickling."""

    __dict__: dict[str, Any]

    def state_dict(self, include_constants: bool = True) -> collections.OrderedDict:
        """An ordered dict of NumPy copies in the neutral (PyTorch) layout.

        Raises:
            StateError: some parameters are still lazy (their shapes are not known).

        Example:
            >>> import polymod as pm
            >>> list(pm.nn.Linear(3, 2).state_dict())
            ['weight', 'bias']
        """
        kinds = KINDS_ALL if include_constants else ("parameter", "buffer")
        handles = self.named_handles(kinds)
        lazy = [name for name, handle in handles if not handle.materialized]
        if lazy:
            raise UninitializedParameterError(
                f"{type(self).__name__}.state_dict(): parameters {lazy} are "
                             f"still lazy. Call the model once (net(X)) or net.initialize(X) "
                             f"first.")
        return collections.OrderedDict((name, handle.numpy()) for name, handle in handles)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copies values into the model; checks everything first and changes nothing on error.

        Lazy parameters whose shape is not known yet take the shape of the data (it
        must fit the layer's declared sizes).

        Returns:
            ``(missing_keys, unexpected_keys)``, as PyTorch does.

        Raises:
            WeightsFileError: with ``strict``, any missing or unexpected key; always, a
                shape or dtype that does not fit. All problems are listed at once.
        """
        return load_into(self, state_dict, strict, source="state_dict")

    def check_lazy_shapes(self, shapes: dict[str, tuple]) -> str | None:
        """Hook for layers: a problem with the shapes loaded into lazy parameters, or None."""
        return None

    def unbound_copy(self: T) -> T:
        """A deep copy whose values are NumPy again (bound to no backend)."""
        memo: dict[int, Any] = {}

        def copy_value(value: Any) -> Any:
            if isinstance(value, Traversal):
                return copy_module(value)
            if type(value) in (list, tuple):
                return type(value)(copy_value(v) for v in value)
            if type(value) is dict:
                return {k: copy_value(v) for k, v in value.items()}
            return value

        def copy_module(module: Any) -> Any:
            if id(module) in memo:
                return memo[id(module)]
            twin = object.__new__(type(module))
            memo[id(module)] = twin
            params = module.__dict__["_params"]
            d = twin.__dict__
            d.update({k: copy_value(v) for k, v in module.__dict__.items()
                      if k not in params and k not in _NOT_COPIED})
            d.update(_params={}, _bound=None, _cache={}, _ready=False)
            for name, handle in params.items():
                if id(handle) not in memo:
                    memo[id(handle)] = handle.unbound_copy()
                twin._register(name, memo[id(handle)])
            return twin

        return copy_module(self)

    def __deepcopy__(self: T, memo: dict) -> T:
        """``copy.deepcopy(net)``: an independent copy on the same backend (PyTorch habit,
        e.g. for a target network or an EMA of the weights)."""
        twin = self.unbound_copy()
        bound = self.__dict__["_bound"]
        return twin if bound is None else bind_tree(twin, bound.adapter, bound.device)

    def __getstate__(self) -> dict:
        adapter = adapter_of_module(self)
        if adapter is not None:
            raise StateError(
                f"Cannot pickle {type(self).__name__}: it is bound to {adapter.NAME!r} "
                f"and holds that framework's tensors. Save the weights with pm.save(net, "
                f"path) (or net.state_dict()), or pickle net.unbound_copy().")
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__["_cache"] = {}  # never another process's cache
