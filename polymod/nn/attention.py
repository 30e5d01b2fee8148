"""``MultiheadAttention``, ``TransformerEncoderLayer`` and ``TransformerEncoder``.

Written once with polymod's ops, following ``torch.nn.functional.multi_head_attention_forward``
(the ``need_weights`` path): parameter names (``in_proj_weight``, ``in_proj_bias``,
``out_proj.weight``, ``out_proj.bias``), submodule names and mask conventions are
PyTorch's, so a PyTorch ``state_dict`` loads strictly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import init as _init
from ..errors import ShapeError
from ..handles import Parameter
from ..module import Module
from .linear import Linear
from .rnn import _native

# the backend functions attention uses (kept in the binding record)
_OPS = ("linear", "split", "expand_dims", "squeeze", "permute_dims", "reshape", "matmul",
        "masked_fill", "softmax", "mean", "dropout", "from_numpy", "dtype_of")


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    ``(attn_output, attn_weights)``. Inputs are ``(L, N, E)`` (``(N, L, E)`` with
    ``batch_first=True``) or unbatched ``(L, E)``. Masks follow PyTorch: a boolean mask
    is True where attention is *not* allowed; a float mask is added to the scores.
    ``key_padding_mask`` is ``(N, S)``; ``attn_mask`` is ``(L, S)`` or
    ``(N * num_heads, L, S)``. ``attn_weights`` is ``(N, L, S)`` averaged over the heads,
    ``(N, num_heads, L, S)`` with ``average_attn_weights=False``, None with
    ``need_weights=False``.

    Args:
        embed_dim: model dimension E.
        num_heads: number of heads; must divide ``embed_dim``.
        dropout: dropout probability on the attention weights (training mode only).
        bias: whether the input and output projections have biases.
        kdim, vdim: feature sizes of key and value (default ``embed_dim``); when they
            differ, the projections are ``q_proj_weight``, ``k_proj_weight`` and
            ``v_proj_weight``, as in PyTorch.
        batch_first: whether inputs and outputs are ``(N, L, E)``.

    Example:
        >>> import polymod as pm
        >>> mha = pm.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> X = pm.rand(3, 5, 8, backend="numpy")
        >>> out, weights = mha(X, X, X)
        >>> out.shape, weights.shape
        ((3, 5, 8), (3, 5, 5))
    """

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False):
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int; received {name}={value!r}.")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads; received "
                             f"embed_dim={embed_dim}, num_heads={num_heads}.")
        if add_bias_kv or add_zero_attn:
            raise ValueError("polymod's MultiheadAttention does not support add_bias_kv or "
                             "add_zero_attn; leave them False.")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be in [0, 1]; received dropout={dropout!r}.")
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = embed_dim // num_heads
        # PyTorch's draw order: out_proj is made (and drawn) first, then _reset_parameters
        # draws xavier_uniform for the input projection and zeroes both biases.
        out_proj = Linear(embed_dim, embed_dim, bias=bias)
        xavier = _init.XavierUniform()
        xavier.is_default = True
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(shape=(3 * embed_dim, embed_dim), init=xavier)
        else:
            self.q_proj_weight = Parameter(shape=(embed_dim, embed_dim), init=xavier)
            self.k_proj_weight = Parameter(shape=(embed_dim, self.kdim), init=xavier)
            self.v_proj_weight = Parameter(shape=(embed_dim, self.vdim), init=xavier)
        if bias:
            self.in_proj_bias = Parameter(shape=(3 * embed_dim,), init="zeros")
            out_proj._params["bias"].assign(np.zeros(embed_dim, np.float32))
        self.out_proj = out_proj

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {name: getattr(adapter, name) for name in _OPS}

    def _project(self, query: Any, key: Any, value: Any) -> tuple:
        a = self._bound
        d = self.__dict__
        E = self.embed_dim
        b = d.get("in_proj_bias")
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._qkv_same_embed_dim:
            return (a.linear(query, d["q_proj_weight"], bq),
                    a.linear(key, d["k_proj_weight"], bk),
                    a.linear(value, d["v_proj_weight"], bv))
        w = d["in_proj_weight"]
        if query is key and key is value:  # self-attention: one projection
            return tuple(a.split(a.linear(query, w, b), 3, -1))
        if key is value:
            k, v = a.split(a.linear(key, w[E:], None if b is None else b[E:]), 2, -1)
            return a.linear(query, w[:E], bq), k, v
        return (a.linear(query, w[:E], bq), a.linear(key, w[E:2 * E], bk),
                a.linear(value, w[2 * E:], bv))

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        a = self._bound
        key, value = _native(self, key), _native(self, value)
        key_padding_mask, attn_mask = _native(self, key_padding_mask), _native(self, attn_mask)
        batched = len(query.shape) == 3
        if not batched:
            query, key, value = (a.expand_dims(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = a.expand_dims(key_padding_mask, 0)
        elif not self.batch_first:  # work in (N, L, E)
            same_kv = key is value
            if query is key and same_kv:
                query = key = value = a.permute_dims(query, (1, 0, 2))
            else:
                query = a.permute_dims(query, (1, 0, 2))
                key = a.permute_dims(key, (1, 0, 2))
                value = key if same_kv else a.permute_dims(value, (1, 0, 2))
        q, k, v = self._project(query, key, value)
        L, S = q.shape[1], k.shape[1]
        h, hd = self.num_heads, self.head_dim
        q = a.permute_dims(a.reshape(q, (-1, L, h, hd)), (0, 2, 1, 3))  # (N, h, L, hd)
        k = a.permute_dims(a.reshape(k, (-1, S, h, hd)), (0, 2, 3, 1))  # (N, h, hd, S)
        v = a.permute_dims(a.reshape(v, (-1, S, h, hd)), (0, 2, 1, 3))  # (N, h, S, hd)
        scores = a.matmul(q * math.sqrt(1.0 / hd), k)  # (N, h, L, S)
        if attn_mask is None and is_causal:
            attn_mask = a.from_numpy(np.triu(np.ones((L, S), bool), 1), a.device)
        if attn_mask is not None:
            if len(attn_mask.shape) == 3:
                attn_mask = a.reshape(attn_mask, (-1, h, L, S))
            scores = self._apply_mask(scores, attn_mask)
        if key_padding_mask is not None:
            mask = a.reshape(key_padding_mask, (-1, 1, 1, S))
            scores = self._apply_mask(scores, mask)
        weights = a.softmax(scores, -1)
        if self.dropout > 0 and self.training:  # masks from polymod's seeded generator
            weights = a.dropout(weights, self.dropout) if self.dropout < 1 else weights * 0.0
        out = a.matmul(weights, v)  # (N, h, L, hd)
        out = a.reshape(a.permute_dims(out, (0, 2, 1, 3)), (-1, L, self.embed_dim))
        out = self.out_proj(out)
        if not batched:
            out = a.squeeze(out, 0)
        elif not self.batch_first:
            out = a.permute_dims(out, (1, 0, 2))
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = a.mean(weights, 1, False)
        if not batched:
            weights = a.squeeze(weights, 0)
        return out, weights

    def _apply_mask(self, scores: Any, mask: Any) -> Any:
        a = self._bound
        kind = a.dtype_of(mask).kind
        if kind == "b":
            return a.masked_fill(scores, mask, -math.inf)
        if kind != "f":
            raise ShapeError(f"MultiheadAttention masks must be bool or float; received dtype "
                             f"{a.dtype_of(mask)}.")
        return scores + mask

    def check_input(self, query: Any, *rest: Any) -> ShapeError | None:
        shape = tuple(query.shape)
        if len(shape) not in (2, 3) or shape[-1] != self.embed_dim:
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            return ShapeError(f"MultiheadAttention expects query of shape {layout} or (L, E) "
                              f"with E=embed_dim={self.embed_dim}; received shape {shape}.")
        return None

    def extra_repr(self) -> str:
        text = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text + (", batch_first=True" if self.batch_first else "")


_ACTIVATIONS = ("relu", "gelu")


class TransformerEncoderLayer(Module):
    """Self-attention and feed-forward block, as ``torch.nn.TransformerEncoderLayer``.

    Submodules ``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2`` (PyTorch's names, so its ``state_dict`` loads strictly).
    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``.

    Example:
        >>> import polymod as pm
        >>> layer = pm.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
        ...                                       batch_first=True)
        >>> layer(pm.rand(3, 5, 8, backend="numpy")).shape
        (3, 5, 8)
    """

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Any = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True):
        super().__init__()
        from .dropout import Dropout
        from .norm import LayerNorm

        if isinstance(activation, str) and activation not in _ACTIVATIONS:
            raise ValueError(f"activation should be 'relu' or 'gelu' (or a callable); received "
                             f"{activation!r}.")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.batch_first = bool(batch_first)
        self.activation_name = activation if isinstance(activation, str) else None
        self.activation = activation

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        act = self.activation
        return {"activation": getattr(adapter, act) if isinstance(act, str) else act}

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Any, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Any:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Any) -> Any:
        x = self.linear2(self.dropout(self._bound.activation(self.linear1(x))))
        return self.dropout2(x)

    def extra_repr(self) -> str:
        return "batch_first=True" if self.batch_first else ""


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...),
    then an optional ``norm``, as ``torch.nn.TransformerEncoder``.

    Like PyTorch, every layer starts as a copy of ``encoder_layer`` (same initial
    weights). ``forward(src, mask=None, src_key_padding_mask=None, is_causal=False)``.

    Example:
        >>> import polymod as pm
        >>> layer = pm.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        >>> enc = pm.nn.TransformerEncoder(layer, num_layers=2)
        >>> enc(pm.rand(3, 5, 8, backend="numpy")).shape
        (3, 5, 8)
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None):
        super().__init__()
        from .container import ModuleList

        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int; received {num_layers!r}.")
        if encoder_layer.backend is not None:
            encoder_layer = encoder_layer.unbound_copy()
        self.layers = ModuleList([encoder_layer.unbound_copy() for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)
