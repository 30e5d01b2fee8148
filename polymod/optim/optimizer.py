"""The optimizer base class: parameter groups, checked all-or-nothing steps, state.

An optimizer takes the polymod model, not a list of tensors, and finds its parameters by
name at every step: a parameter that appears later (built at a lazy model's first call)
is trained too, and the state and checkpoints name every parameter. The update rules
(``sgd.py``, ``adam.py``, ``rmsprop.py``) are written once, with the adapters' in-place
update kernels (``axpby_``, ``addcmul_``, ``addcdiv_sqrt_``, ``adam_``; see
``polymod/adapter.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from .. import registry
from ..errors import BackendTypeError, StateError
from ..handles import Parameter
from ..module import Module
from . import state as _state
from .groups import resolve_groups, validate_group


class Optimizer:
    """Base class of polymod's optimizers (torch.optim's behaviour, the model as input).

    Subclasses set ``defaults`` (hyperparameters with torch.optim's names), ``STATE``
    (the per-parameter state keys, torch's names) and define ``_update``.

    Attributes:
        net: the model it trains.
        param_groups: a list of dicts, torch.optim's layout: each holds the group's
            hyperparameters (``lr``, ...) and ``params``, the names of its parameters.
            Schedulers change ``group["lr"]``; so may the user.
        state: ``{parameter name: {key: native tensor or step count}}``.
        steps: how many ``step`` calls have succeeded.
    """

    defaults: dict[str, Any]
    #: tensor state keys a parameter may have (torch's names); "step" is a count
    STATE: ClassVar[tuple[str, ...]] = ()
    #: torch.optim's implementation flags, written into state_dict so torch can load it
    TORCH_FLAGS: ClassVar[dict[str, Any]] = {}

    def __init__(self, net: Module, defaults: dict[str, Any],
                 param_groups: Iterable[Mapping[str, Any]] | None = None):
        if not isinstance(net, Module):
            raise StateError(f"An optimizer takes the polymod model; received "
                             f"{type(net).__qualname__}. Example: pm.optim.SGD(net, lr=0.1).")
        self.net = net
        self.defaults = dict(defaults)
        self.state: dict[str, dict[str, Any]] = {}
        self.steps = 0
        self.param_groups: list[dict[str, Any]] = []
        self._fixed: list[list[str] | None] = []  # None: the group of every other parameter
        self._pending = False  # state loaded as NumPy while the model was unbound
        for group in ([{}] if param_groups is None else _as_list(param_groups)):
            self.add_param_group(group)

    # -- groups ---------------------------------------------------------------------------
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Adds a parameter group (torch.optim's method), e.g. layers unfrozen later.

        ``group["params"]`` lists parameter names (``"0.weight"``) or handles from
        ``net.named_parameters()``; left out, the group takes every parameter that no
        other group names (at most one such group). Other keys override ``defaults``.
        A parameter in no group is not updated, as in torch.optim.
        """
        if not isinstance(group, Mapping):
            raise BackendTypeError(f"A parameter group is a dict with 'params' and "
                                   f"hyperparameters; received {type(group).__qualname__}.")
        index = len(self.param_groups)
        unknown = sorted(set(group) - set(self.defaults) - {"params", "initial_lr"})
        if unknown:
            raise ValueError(f"param_groups[{index}] has unknown keys {unknown}; "
                             f"{type(self).__name__} takes {sorted(self.defaults)} and "
                             f"'params'.")
        names = self._names_of(group.get("params"), index)
        complete = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        validate_group(type(self).__name__, index, complete)
        self._check(complete, index)
        complete["params"] = list(names) if names is not None else []
        self.param_groups.append(complete)
        self._fixed.append(names)
        self._resolve(name for name, _ in self.net.named_parameters())  # fills the rest group

    def _names_of(self, params: Any, index: int) -> list[str] | None:
        if params is None:
            if None in self._fixed:
                raise ValueError(f"param_groups[{index}] leaves out 'params', and so does "
                                 f"group {self._fixed.index(None)}; only one group may take "
                                 f"every other parameter.")
            return None
        if isinstance(params, (str, Parameter)):
            params = [params]
        by_id = {id(h): n for n, h in self.net.named_parameters()}
        known = set(by_id.values())
        taken = {n: i for i, names in enumerate(self._fixed) for n in names or ()}
        names = []
        for item in params:
            name = item if isinstance(item, str) else by_id.get(id(item))
            if name is None or name not in known:
                shown = item if isinstance(item, str) else repr(item)
                raise ValueError(f"param_groups[{index}] names {shown}, which is not a "
                                 f"parameter of {type(self.net).__name__}; its parameters "
                                 f"are {sorted(known)}.")
            if name in taken or name in names:
                where = taken.get(name, index)
                raise ValueError(f"Parameter {name!r} is in param_groups[{where}] and again "
                                 f"in param_groups[{index}]; a parameter belongs to one group.")
            names.append(name)
        return names

    def _check(self, group: dict[str, Any], index: int) -> None:
        """Hook: a subclass refuses hyperparameter combinations (nesterov without momentum)."""

    # -- the step ---------------------------------------------------------------------------
    def step(self, grads: Mapping[str, Any]) -> None:
        """Applies one update from ``grads`` ({parameter name: native gradient}).

        Every gradient is checked first (a parameter of the model, a tensor of the
        model's backend with the parameter's shape and dtype); any problem raises, naming
        each parameter, and nothing is written: no parameter, no state, no step count.
        A parameter without a gradient (absent or None) or frozen is left as it is.
        """
        adapter = self._adapter()
        work = self._checked(grads, adapter)
        if self._pending:
            self._adopt_pending(adapter)
        with adapter.no_grad():
            for group, names, handles, gs in work:
                if names:
                    self._update(adapter, group, names, handles, gs)
        self.steps += 1

    def _update(self, adapter: Any, group: dict[str, Any], names: list[str],
                handles: list[Parameter], grads: list[Any]) -> None:
        """Updates the parameters of one group; subclasses define the rule."""
        raise NotImplementedError

    def _adapter(self) -> Any:
        backend = self.net.backend
        if backend is None:
            choices = "|".join(repr(name) for name in registry.FRAMEWORKS)
            raise StateError(f"{type(self).__name__}.step: {type(self.net).__name__} is not "
                             f"bound to a backend yet. Call the model once (or "
                             f"pm.value_and_grad, which does), or net.to({choices}), before "
                             f"stepping.")
        return registry.adapter(backend)

    def _resolve(self, names_in_model: Iterable[str]) -> list[list[str]]:
        return resolve_groups(self.param_groups, self._fixed, names_in_model, self.net)

    def _checked(self, grads: Mapping[str, Any], adapter: Any) -> list[tuple]:
        """Per group: (group, names, handles, gradients) to update, all checked first."""
        if not isinstance(grads, Mapping):
            raise BackendTypeError(
                f"{type(self).__name__}.step expects the gradients as a dict {{parameter name: "
                f"tensor}}, what pm.value_and_grad returns; received {type(grads).__qualname__}.")
        handles = dict(self.net.named_parameters())
        by_type = registry.adapter_by_type
        work, bad = [], []
        for group, names in zip(self.param_groups, self._resolve(handles), strict=True):
            take_names, take_handles, take_grads = [], [], []
            for name in names:
                g = grads.get(name)
                if g is None:
                    continue
                handle = handles[name]
                if not handle.trainable:
                    continue
                value = handle.value
                try:
                    fits = ((by_type.get(type(g)) or registry.adapter_of(g)) is adapter
                            and g.shape == value.shape and g.dtype == value.dtype)
                except Exception:  # not a tensor, a lazy parameter: explained below
                    fits = False
                if not fits:
                    bad.append(name)
                    continue
                take_names.append(name)
                take_handles.append(handle)
                take_grads.append(g)
            work.append((group, take_names, take_handles, take_grads))
        unknown = [name for name in grads if name not in handles]
        if unknown or bad:
            raise _state.gradient_error(type(self).__name__, adapter, handles, grads, unknown,
                                        bad)
        return work

    # -- state helpers for the rules ----------------------------------------------------------
    def _zeros(self, adapter: Any, handle: Parameter) -> Any:
        """New optimizer state for ``handle``: zeros the adapter may change in place."""
        return adapter.create_buffer(np.zeros(handle.shape, handle.dtype),
                                     adapter.device_of(handle.value))

    @staticmethod
    def _repoint(handles: list[Parameter], values: list[Any]) -> None:
        """After an adapter returned new values (immutable arrays): the handles follow."""
        for handle, value in zip(handles, values, strict=True):
            if value is not handle.value:
                handle.replace_value(value)

    # -- state_dict -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch.optim's layout, with NumPy arrays.

        ``{"state": {index: {key: array}}, "param_groups": [{hyperparameters, "params":
        [index, ...], "param_names": [name, ...]}]}``; indices count the parameters
        group by group, as torch numbers them. It loads on any backend and into
        ``torch.optim`` (convert the arrays with ``torch.from_numpy``).
        """
        return _state.export(self)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Loads ``state_dict()`` of this optimizer type, from any backend, or a
        ``torch.optim`` optimizer's state dict (tensors of any framework are accepted).

        Parameters are matched by ``param_names`` where the dict has them (torch 2.6+
        writes them when given ``named_parameters()``), else by position, group by
        group. Everything is checked first; on any problem nothing changes.

        Raises:
            StateError: a group or parameter count or a name that does not match.
            ShapeError: a state tensor whose shape differs from its parameter's.
            ValueError: a hyperparameter or flag this optimizer does not support.
        """
        self._apply_load(self._plan_load(state_dict))

    def _plan_load(self, state_dict: Mapping[str, Any],
                   shapes: Mapping[str, tuple] | None = None, owned: bool = False) -> tuple:
        """Checks ``state_dict`` completely and returns what ``_apply_load`` assigns."""
        return _state.plan_load(self, state_dict, shapes, owned)

    def _apply_load(self, plan: tuple) -> None:
        groups, state = plan
        for group, loaded in zip(self.param_groups, groups, strict=True):
            group.update(loaded)
        backend = self.net.backend
        if backend is None:
            self.state, self._pending = state, True
            return
        self.state, self._pending = state, False
        self._adopt(registry.adapter(backend))

    def _adopt_pending(self, adapter: Any) -> None:
        self._adopt(adapter)
        self._pending = False

    def _adopt(self, adapter: Any) -> None:
        """NumPy state (loaded, owned) becomes the adapter's mutable tensors."""
        handles = dict(self.net.named_parameters())
        for name, per_param in self.state.items():
            device = adapter.device_of(handles[name].value)
            for key, value in per_param.items():
                if isinstance(value, np.ndarray):
                    per_param[key] = adapter.create_buffer(value, device)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])


def _as_list(groups: Any) -> list:
    if isinstance(groups, Mapping) or isinstance(groups, str):
        raise BackendTypeError("param_groups is a list of dicts, e.g. [{'params': ['0.bias'], "
                               "'weight_decay': 0.0}]; received one "
                               f"{type(groups).__qualname__}.")
    return list(groups)

