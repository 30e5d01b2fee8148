"""``pm.summary(net, *inputs)``: a table of submodules, as torchinfo and Keras print.

With inputs, the model runs once (eval mode, no gradients; lazy shapes get built) with
every submodule's ``forward`` wrapped to record the shape of its output. The wrappers
are swapped in for that call only and always removed; the training flags and polymod's
random generator are restored, so a summary changes nothing but a lazy model's shapes
(and an unbound model's backend, as any first call does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import ops
from . import random as _random
from .errors import StateError
from .module import Module


@dataclass(frozen=True)
class Row:
    """One submodule: its dotted name ('' for the model), depth, type, output shape (None
    if it did not run or returned no tensor), own parameter count and trainable flag."""

    name: str
    depth: int
    type: str
    output_shape: Any
    params: int
    trainable: str  # 'yes', 'no', 'partly', or '--' without parameters of its own


@dataclass(frozen=True)
class Summary:
    """What ``pm.summary`` returns; ``str()`` and ``repr()`` are the table.

    Attributes:
        rows: one ``Row`` per submodule, the model first, in ``named_modules`` order.
        total_params: the number of parameter elements (a shared one counted once).
        trainable_params: of which trainable.
    """

    rows: list[Row]
    total_params: int
    trainable_params: int

    @property
    def non_trainable_params(self) -> int:
        """Parameter elements that are frozen."""
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        header = ("Module", "Type", "Output shape", "Params", "Trainable")
        table = [header] + [
            ("  " * row.depth + (row.name.rpartition(".")[2] if row.name else "(model)"),
             row.type, _shape_text(row.output_shape),
             f"{row.params:,}" if row.params or row.trainable != "--" else "--",
             row.trainable) for row in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

        def line(cells: tuple) -> str:
            return "  ".join(c.rjust(w) if i == 3 else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                             ).rstrip()

        return "\n".join([line(header), rule, *map(line, table[1:]), rule,
                          f"Total params: {self.total_params:,}",
                          f"Trainable params: {self.trainable_params:,}",
                          f"Non-trainable params: {self.non_trainable_params:,}"])

    __repr__ = __str__


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "--"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_shape_text(s)}" for k, s in shape.items()) + "}"
    return str(tuple(shape))


def _shape_of(out: Any) -> Any:
    """The shape of a tensor output; lists of shapes for tuples/lists, dicts for dicts."""
    if isinstance(out, (list, tuple)):
        return [_shape_of(x) for x in out]
    if isinstance(out, dict):
        return {k: _shape_of(v) for k, v in out.items()}
    try:
        return tuple(int(n) if n is not None else None for n in ops.shape(out))
    except Exception:  # not a tensor (a Python number, None)
        return None


def summary(net: Module, *inputs: Any, **kwinputs: Any) -> Summary:
    """Summarises ``net``: every submodule's type, output shape and parameters.

    Args:
        net: the model.
        *inputs: inputs to run the model on (tensors of any backend, or NumPy data),
            to record the output shapes and build lazy shapes. Without inputs, output
            shapes are left out and every parameter must have its shape already.
        **kwinputs: keyword inputs of the model's ``forward``.

    Returns:
        A ``Summary``: print it for the table; ``total_params`` and
        ``trainable_params`` hold the totals.

    Raises:
        StateError: no inputs, and some parameters are still lazy.

    Example:
        >>> import polymod as pm
        >>> from polymod import nn
        >>> net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(2))
        >>> s = pm.summary(net, pm.rand(4, 3, backend="numpy"))
        >>> s.total_params
        50
        >>> print(s)
        Module   Type        Output shape  Params  Trainable
        ----------------------------------------------------
        (model)  Sequential  (4, 2)            --  --
          0      Linear      (4, 8)            32  yes
          1      ReLU        (4, 8)            --  --
          2      Linear      (4, 2)            18  yes
        ----------------------------------------------------
        Total params: 50
        Trainable params: 50
        Non-trainable params: 0
    """
    if not isinstance(net, Module):
        raise StateError(f"pm.summary expects a polymod Module; received "
                         f"{type(net).__qualname__}.")
    shapes: dict[str, Any] = {}
    if inputs or kwinputs:
        _run_recorded(net, inputs, kwinputs, shapes)
    lazy = [name for name, p in net.named_parameters() if not p.materialized]
    if lazy:
        raise StateError(f"pm.summary: parameters {lazy} are still lazy; pass an input "
                         f"(pm.summary(net, X)) so that their shapes are known.")
    rows, counted, total, trainable = [], set(), 0, 0
    for name, module in net.named_modules():
        own = [h for _, h in module.named_parameters(recurse=False)]  # not a child's
        flags = {h.trainable for h in own}
        params = sum(h.size for h in own)
        rows.append(Row(name, name.count(".") + bool(name), type(module).__name__,
                        shapes.get(name), params,
                        "--" if not own else "partly" if len(flags) > 1
                        else "yes" if flags == {True} else "no"))
        for handle in own:
            if id(handle) not in counted:
                counted.add(id(handle))
                total += handle.size
                trainable += handle.size if handle.trainable else 0
    return Summary(rows, total, trainable)


def _run_recorded(net: Module, inputs: tuple, kwinputs: dict, shapes: dict) -> None:
    """Runs ``net`` once in eval mode with every submodule's output shape recorded; the
    wrappers, training flags and random generator are restored whatever happens."""
    modes = [(module, module.training) for module in net.modules()]
    rng = _random.generator().bit_generator.state
    wrapped = []
    try:
        for name, module in net.named_modules():
            previous = module.__dict__.get("forward")
            original = module.forward

            def recorder(*args: Any, _forward: Any = original, _name: str = name,
                         **kwargs: Any) -> Any:
                out = _forward(*args, **kwargs)
                shapes[_name] = _shape_of(out)
                return out

            module.__dict__["forward"] = recorder
            wrapped.append((module, previous))
        net.eval()
        net(*inputs, **kwinputs)
    finally:
        for module, previous in wrapped:
            if previous is None:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = previous
        for module, flag in modes:  # parents first: a child's own flag comes after
            module.train(flag)
        _random.generator().bit_generator.state = rng
