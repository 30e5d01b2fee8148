"""``pm.native(net)``: the framework's own object over the same parameter storage."""

from __future__ import annotations

import weakref
from typing import Any

from .errors import StateError
from .module import Module
from .module.binding import ready_adapter

_twins: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def native(net: Module) -> Any:
    """Returns a ``torch.nn.Module``, ``keras.Model``, Gluon ``Block`` or JAX twin running ``net``.

    On JAX, which has no model class, the twin is the JAX idiom: ``.params`` (a dict
    pytree), a pure ``.apply(params, *inputs)`` and ``.update(params)`` (docs/jax.md).

    The twin holds the model's own parameter objects, so a step taken through it
    (``torch.optim``, ``model.fit``, ``gluon.Trainer``) is visible in
    ``net.state_dict()`` and the other way round. The same twin is returned on
    every call for the same model while its structure stays the same; after a
    structural change (a parameter or submodule assigned, added or removed) the next
    call builds a new twin, and the old one keeps the old structure: call
    ``pm.native(net)`` again (and make a new optimizer over it) after such a change.

    Raises:
        StateError: the model is not bound to a framework backend yet, or has lazy
            parameters whose shapes are not known (call it once first).

    Example:
        >>> import polymod as pm
        >>> net = pm.nn.Linear(20, 4).to("torch")
        >>> twin = pm.native(net)
        >>> [name for name, _ in twin.named_parameters()]
        ['weight', 'bias']
    """
    if not isinstance(net, Module):
        raise StateError(f"pm.native expects a polymod Module; received "
                         f"{type(net).__qualname__}.")
    adapter = ready_adapter(net, "pm.native")
    handles = net.named_handles()  # the same list object while the tree is unchanged
    cached = _twins.get(net)
    if cached is not None and cached[0] is handles:
        return cached[2]
    layout = _structure(net)
    if cached is not None and cached[1] == layout:
        _twins[net] = (handles, layout, cached[2])
        return cached[2]
    twin = adapter.native_twin(net)
    _twins[net] = (handles, layout, twin)
    return twin


def _structure(net: Module) -> tuple:
    """What a twin is built from: every submodule and every handle's native object, by
    path. A change (``net.weight = pm.Parameter(...)``, a new layer) means a new twin.

    The cached twin holds every parameter object named here, so their ids are not
    reused while it lives; a module id reused by a new module without parameters makes
    no difference to a twin (its forward runs the polymod model).
    """
    modules = tuple((path, id(m)) for path, m in net.named_modules(remove_duplicate=False))
    handles = tuple((name, id(h.native))
                    for name, h in net.named_handles(remove_duplicate=False))
    return modules, handles
