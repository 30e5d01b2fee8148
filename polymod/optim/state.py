"""An optimizer's state in torch.optim's ``state_dict`` layout, and gradient errors.

The neutral form is torch's: ``{"state": {index: {key: array}}, "param_groups":
[{hyperparameters..., "params": [index, ...], "param_names": [name, ...]}]}`` with
NumPy arrays, the per-parameter ``step`` a 0-d float32 array as torch keeps it. So
``torch.optim``'s own state dicts load (parameters matched by ``param_names`` when
present, else by position), and polymod's load into ``torch.optim``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import registry
from ..errors import BackendTypeError, ShapeError, StateError

# ``opt`` below is a pm.optim.Optimizer (not imported: optimizer.py imports this file)
Optimizer = Any

# torch.optim flags polymod accepts when loading: implementation choices, not the maths
_IGNORED = {"foreach", "fused", "capturable", "differentiable", "initial_lr", "param_names",
            "params"}


def layout(opt: Optimizer) -> tuple[list[dict[str, Any]], dict[int, tuple[str, dict]]]:
    """torch's numbering: the groups (hyperparameters, ``params`` indices, ``param_names``)
    and ``{index: (parameter name, its live state)}``, the tensors not yet copied."""
    handles = dict(opt.net.named_parameters())
    groups, state, index = [], {}, 0
    for group, names in zip(opt.param_groups, opt._resolve(handles), strict=True):
        out = {k: v for k, v in group.items() if k != "params"}
        out.update({k: v for k, v in opt.TORCH_FLAGS.items() if k not in out})
        out["param_names"] = list(names)
        out["params"] = list(range(index, index + len(names)))
        for name in names:
            if opt.state.get(name):
                state[index] = (name, opt.state[name])
            index += 1
        groups.append(out)
    return groups, state


def export(opt: Optimizer) -> dict[str, Any]:
    groups, state = layout(opt)
    return {"state": {index: {key: to_numpy(value, key) for key, value in per_param.items()}
                      for index, (_, per_param) in state.items()},
            "param_groups": groups}


def to_numpy(value: Any, key: str) -> np.ndarray:
    """A NumPy copy of one state entry (``step`` as torch keeps it: 0-d float32)."""
    if key == "step":
        return np.array(value, dtype=np.float32)
    if isinstance(value, np.ndarray):
        return value.copy()
    return registry.adapter_of(value).to_numpy(value)


def _array(value: Any, owned: bool = False) -> np.ndarray:
    """NumPy data from an array, a tensor of any backend, or a number; a copy unless the
    caller hands over an array nothing else holds (``owned``)."""
    if isinstance(value, np.ndarray):
        return value if owned else value.copy()
    try:
        return registry.adapter_of(value).to_numpy(value)
    except BackendTypeError:
        return np.array(value)


def plan_load(opt: Optimizer, state_dict: Mapping[str, Any],
              shapes: Mapping[str, tuple] | None = None, owned: bool = False) -> tuple:
    """Checks ``state_dict`` against ``opt`` completely; returns what to assign:
    (hyperparameters per group, {name: {key: NumPy array or step count}}).

    ``shapes`` gives the shapes of parameters that are still lazy (a checkpoint knows
    them from its model tensors); with ``owned`` its arrays are taken without a copy."""
    kind = type(opt).__name__
    if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
        raise StateError(f"{kind}.load_state_dict expects a dict with 'state' and "
                         f"'param_groups' (what state_dict() returns); received "
                         f"{_describe(state_dict)}.")
    saved_groups = list(state_dict["param_groups"])
    handles = dict(opt.net.named_parameters())
    current = opt._resolve(handles)
    if len(saved_groups) != len(current):
        raise StateError(f"{kind}.load_state_dict: the state has {len(saved_groups)} "
                         f"parameter groups, the optimizer {len(current)}.")
    groups, index_to_name = [], {}
    for g, (saved, names) in enumerate(zip(saved_groups, current, strict=True)):
        groups.append(_hyper(opt, g, saved))
        indices = list(saved["params"])
        saved_names = saved.get("param_names")
        if len(indices) != len(names):
            raise StateError(f"{kind}.load_state_dict: group {g} of the state has "
                             f"{len(indices)} parameters, the optimizer's has {len(names)} "
                             f"({names}).")
        if saved_names is not None:
            unknown = sorted(set(saved_names) - set(names))
            if unknown:
                raise StateError(f"{kind}.load_state_dict: group {g} of the state names "
                                 f"{unknown}, which are not in the optimizer's group {g} "
                                 f"({names}).")
            pairs = zip(indices, saved_names, strict=True)
        else:  # torch without names: by position, as torch.optim itself loads
            pairs = zip(indices, names, strict=True)
        index_to_name.update({int(i): name for i, name in pairs})
    state, problems = {}, []
    for index, per_param in state_dict["state"].items():
        name = index_to_name.get(int(index))
        if name is None:
            raise StateError(f"{kind}.load_state_dict: state entry {index} belongs to no "
                             f"parameter group.")
        state[name] = _checked_state(opt, name, handles[name], per_param, problems,
                                     (shapes or {}).get(name), owned)
    if problems:
        raise ShapeError(f"{kind}.load_state_dict: " + "; ".join(problems) + ". Nothing was "
                         "loaded.")
    return groups, state


def _hyper(opt: Optimizer, index: int, saved: Mapping[str, Any]) -> dict[str, Any]:
    from .groups import validate_group

    kind = type(opt).__name__
    unknown = sorted(set(saved) - set(opt.defaults) - set(opt.TORCH_FLAGS) - _IGNORED)
    if unknown:
        raise ValueError(f"{kind}.load_state_dict: group {index} has {unknown}, which "
                         f"{kind} does not take; is it the state of another optimizer?")
    for flag, expected in opt.TORCH_FLAGS.items():
        if flag in saved and flag not in _IGNORED and bool(saved[flag]) != bool(expected):
            raise ValueError(f"{kind}.load_state_dict: group {index} has {flag}="
                             f"{saved[flag]}; polymod's {kind} supports only {flag}="
                             f"{expected}.")
    group = {k: saved[k] for k in opt.defaults if k in saved}
    for k, v in group.items():  # tensors (torch's lr may be one) become numbers
        if not isinstance(v, (bool, int, float, tuple, list)):
            group[k] = _array(v).item()
    if "initial_lr" in saved:
        group["initial_lr"] = float(saved["initial_lr"])
    validate_group(kind, index, group)
    opt._check({**opt.defaults, **group}, index)
    return group


def _checked_state(opt: Optimizer, name: str, handle: Any, per_param: Mapping[str, Any],
                   problems: list[str], lazy_shape: tuple | None,
                   owned: bool) -> dict[str, Any]:
    kind = type(opt).__name__
    unknown = sorted(set(per_param) - set(opt.STATE) - {"step"})
    if unknown:
        raise ValueError(f"{kind}.load_state_dict: the state of {name!r} has {unknown}; "
                         f"{kind} keeps {['step', *opt.STATE]}.")
    if not handle.materialized and lazy_shape is None:
        raise StateError(f"{kind}.load_state_dict: parameter {name!r} is still lazy; call "
                         f"the model once (or load its weights) before the optimizer state.")
    shape = handle.shape if handle.materialized else tuple(lazy_shape)
    out: dict[str, Any] = {}
    for key, value in per_param.items():
        array = _array(value, owned)
        if key == "step":
            out[key] = int(array.item())
            continue
        if array.shape != shape:
            problems.append(f"{name!r} {key} has shape {array.shape}, the parameter "
                            f"{shape}")
            continue
        if array.dtype.kind != "f" and array.dtype.name != "bfloat16":
            problems.append(f"{name!r} {key} has dtype {array.dtype}, not float")
            continue
        out[key] = np.ascontiguousarray(array, dtype=handle.dtype)
    return out


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))}"
    return type(value).__qualname__


def gradient_error(kind: str, adapter: Any, handles: dict, grads: Mapping[str, Any],
                   unknown: list[str], bad: list[str]) -> Exception:
    """One error naming every unknown name and every unfit gradient, each with what
    was expected and what was received."""
    lines = []
    if unknown:
        lines.append(f"gradients for unknown parameters {sorted(unknown)} (the model has "
                     f"{sorted(handles)})")
    kinds = set()
    for name in bad:
        handle, g = handles[name], grads[name]
        expected = (f"a {adapter.NAME} tensor of shape {handle.shape} and dtype {handle.dtype}"
                    if handle.materialized else "no gradient: the parameter is still lazy")
        try:
            owner = registry.adapter_of(g)
            shape, dtype = tuple(owner.shape(g)), owner.dtype_of(g)
            got = f"a {owner.NAME} tensor of shape {shape} and dtype {dtype}"
            kinds.add("shape" if owner is adapter and dtype == handle.dtype else "type")
        except Exception:
            got = f"{type(g).__module__}.{type(g).__qualname__}"
            kinds.add("type")
        lines.append(f"{name!r}: expected {expected}; received {got}")
    message = (f"{kind}.step refused the gradients, nothing was updated: " + "; ".join(lines)
               + ".")
    if unknown:
        return StateError(message)
    return ShapeError(message) if kinds == {"shape"} else BackendTypeError(message)
