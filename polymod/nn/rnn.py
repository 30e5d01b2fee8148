"""Recurrent layers ``RNN``, ``GRU`` and ``LSTM`` with PyTorch's signatures and names.

Written once with polymod's ops: the input projection of every time step is one
``linear`` call; the recurrence loops over time in Python. Gate order, parameter
names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), shapes and initialisation
(U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) in PyTorch's parameter order) follow
PyTorch, so a PyTorch ``state_dict`` loads strictly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import init as _init
from ..errors import ShapeError
from ..handles import Parameter
from ..module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}
# the backend functions the recurrence uses (kept in the binding record)
_OPS = ("linear", "tanh", "relu", "sigmoid", "split", "expand_dims", "squeeze", "permute_dims",
        "zeros_like", "stack", "concat", "dropout")


def _native(module: Module, x: Any) -> Any:
    """NumPy data handed to a bound module's forward (beyond its first argument)."""
    if isinstance(x, np.ndarray) and module._bound is not None:
        return module.adopt_array(x)
    return x


def _check_size(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; received {name}={value!r}.")


class RNNBase(Module):
    """Shared machinery of ``RNN``, ``GRU`` and ``LSTM`` (use those)."""

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0):
        super().__init__()
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_size("num_layers", num_layers)
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 \
                or isinstance(dropout, bool):
            raise ValueError(f"dropout must be a number in [0, 1]; received dropout={dropout!r}.")
        if proj_size:
            raise ValueError("polymod's LSTM does not support proj_size yet; use proj_size=0 "
                             "(or a Linear layer after the LSTM).")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        gates = _GATES[mode] * hidden_size
        stdv = 1.0 / math.sqrt(hidden_size)
        directions = 2 if bidirectional else 1
        names = []
        for layer in range(num_layers):
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                fan = input_size if layer == 0 else hidden_size * directions
                shapes = [("weight_ih", (gates, fan)), ("weight_hh", (gates, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for stem, shape in shapes:  # PyTorch's order: its init draws in this order
                    init = _init.Uniform(-stdv, stdv)
                    init.is_default = True
                    self.register_parameter(stem + suffix, Parameter(shape=shape, init=init))
                names.append(tuple(stem + suffix for stem in
                                   ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
        self._weight_names = tuple(names)  # per layer and direction: (w_ih, w_hh, b_ih, b_hh)

    def flatten_parameters(self) -> None:
        """No-op (PyTorch's cuDNN habit), so code that calls it keeps working."""

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {name: getattr(adapter, name) for name in _OPS}

    # -- one time step per mode: x_proj = x_t @ W_ih.T + b_ih, precomputed ---------------------
    def _cell_rnn_tanh(self, xp: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple:
        a = self._bound
        return a.tanh(xp + a.linear(h, w_hh, b_hh)), None

    def _cell_rnn_relu(self, xp: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple:
        a = self._bound
        return a.relu(xp + a.linear(h, w_hh, b_hh)), None

    def _cell_gru(self, xp: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple:
        a = self._bound
        xr, xz, xn = a.split(xp, 3, -1)
        hr, hz, hn = a.split(a.linear(h, w_hh, b_hh), 3, -1)
        r = a.sigmoid(xr + hr)
        z = a.sigmoid(xz + hz)
        n = a.tanh(xn + r * hn)  # b_hn inside r * (...), as PyTorch
        return n + z * (h - n), None  # = (1 - z) * n + z * h

    def _cell_lstm(self, xp: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple:
        a = self._bound
        i, f, g, o = a.split(xp + a.linear(h, w_hh, b_hh), 4, -1)
        c = a.sigmoid(f) * c + a.sigmoid(i) * a.tanh(g)
        return a.sigmoid(o) * a.tanh(c), c

    def forward(self, input: Any, hx: Any = None) -> tuple:
        a = self._bound
        d = self.__dict__
        lstm = self.mode == "LSTM"
        X = input
        batched = len(X.shape) == 3
        if lstm and hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ShapeError("LSTM expects hx to be a tuple (h_0, c_0); received "
                                 f"{type(hx).__name__}.")
            h0, c0 = _native(self, hx[0]), _native(self, hx[1])
        else:
            h0, c0 = _native(self, hx), None
        if not batched:
            X = a.expand_dims(X, 1)
            h0 = None if h0 is None else a.expand_dims(h0, 1)
            c0 = None if c0 is None else a.expand_dims(c0, 1)
        elif self.batch_first:
            X = a.permute_dims(X, (1, 0, 2))
        steps = X.shape[0]
        directions = 2 if self.bidirectional else 1
        cell = getattr(RNNBase, f"_cell_{self.mode.lower()}")
        hidden = self.hidden_size
        h_n, c_n = [], []
        layer_input = X
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                w_ih, w_hh, b_ih, b_hh = (d.get(name) for name in self._weight_names[k])
                xproj = a.linear(layer_input, w_ih, b_ih)  # every time step at once
                if h0 is None:
                    h = a.zeros_like(xproj[0][..., :hidden])
                    c = h if lstm else None
                else:
                    h = h0[k]
                    c = c0[k] if lstm else None
                ys = [None] * steps
                order = range(steps - 1, -1, -1) if direction else range(steps)
                for t in order:
                    h, c = cell(self, xproj[t], h, c, w_hh, b_hh)
                    ys[t] = h
                outputs.append(a.stack(ys, 0))
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if directions == 1 else a.concat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                p = self.dropout  # masks from polymod's seeded generator, as nn.Dropout
                layer_input = a.dropout(layer_input, p) if p < 1 else layer_input * 0.0
        output = layer_input
        h_n = a.stack(h_n, 0)
        c_n = a.stack(c_n, 0) if lstm else None
        if not batched:
            output = a.squeeze(output, 1)
            h_n = a.squeeze(h_n, 1)
            c_n = a.squeeze(c_n, 1) if lstm else None
        elif self.batch_first:
            output = a.permute_dims(output, (1, 0, 2))
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def check_input(self, input: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(input.shape)
        name = type(self).__name__
        if len(shape) not in (2, 3):
            return ShapeError(f"{name} expects input of shape (L, N, H_in) "
                              f"{'(batch_first: (N, L, H_in)) ' if self.batch_first else ''}"
                              f"or unbatched (L, H_in); received shape {shape}.")
        if shape[-1] != self.input_size:
            return ShapeError(f"{name} expects input_size={self.input_size} features (last "
                              f"dimension); received shape {shape}.")
        return None

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity='relu'"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu).

    Same signature, parameter names and outputs as ``torch.nn.RNN``: ``forward(input,
    hx=None)`` returns ``(output, h_n)``; ``output`` is ``(L, N, D * hidden_size)``
    (``(N, L, ...)`` with ``batch_first``), ``h_n`` is ``(D * num_layers, N, hidden_size)``.

    Example:
        >>> import polymod as pm
        >>> rnn = pm.nn.RNN(4, 8, num_layers=2)
        >>> out, h_n = rnn(pm.rand(5, 3, 4, backend="numpy"))
        >>> out.shape, h_n.shape
        ((5, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity {nonlinearity!r}; expected 'tanh' or "
                             f"'relu'.")
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's formulation (gates r, z, n; ``b_hn`` inside ``r * (...)``).

    Same signature, parameter names and outputs as ``torch.nn.GRU``.

    Example:
        >>> import polymod as pm
        >>> gru = pm.nn.GRU(4, 8, batch_first=True)
        >>> out, h_n = gru(pm.rand(3, 5, 4, backend="numpy"))
        >>> out.shape, h_n.shape
        ((3, 5, 8), (1, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gate order (i, f, g, o) and names.

    ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` returns ``(output, (h_n, c_n))``,
    as ``torch.nn.LSTM`` does.

    Example:
        >>> import polymod as pm
        >>> lstm = pm.nn.LSTM(4, 8, bidirectional=True)
        >>> out, (h_n, c_n) = lstm(pm.rand(5, 3, 4, backend="numpy"))
        >>> out.shape, h_n.shape, c_n.shape
        ((5, 3, 16), (2, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size)
