"""A GPT-2 decoder written once, with Hugging Face's ``GPT2Model`` names and structure.

Module and parameter names follow ``transformers.GPT2Model`` and
``GPT2LMHeadModel`` (``wte``, ``wpe``, ``h.0.attn.c_attn.weight``, ``ln_f``,
``transformer.h.0.mlp.c_proj.bias``, ``lm_head.weight``), so their ``state_dict``
loads with ``strict=True``. As in Hugging Face:

* ``Conv1D`` is a linear layer whose weight is stored ``(in, out)`` (``x @ W + b``);
* the feed-forward activation is the tanh approximation of GELU (``gelu_new``);
* attention is causal (a position sees itself and the positions before it), with an
  optional padding mask; masked scores get the dtype's lowest value added;
* the language-model head shares its weight with the token embedding (tied weights:
  one parameter, reachable under both names).

In training mode the dropout masks come from polymod's seeded generator, drawn in
Hugging Face's order (embeddings; per block the attention probabilities, the
attention output, the feed-forward output).

Example:
    >>> import numpy as np, polymod as pm
    >>> from polymod.examples import gpt2
    >>> net = gpt2.GPT2LMHeadModel(gpt2.GPT2Config(vocab_size=50, n_embd=16, n_head=2))
    >>> net.eval()(np.array([[5, 7, 9], [1, 2, 3]]))["logits"].shape
    (2, 3, 50)
    >>> [n for n, _ in net.named_parameters()][:2]
    ['transformer.wte.weight', 'transformer.wpe.weight']
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import polymod as pm
from polymod import nn, ops

from .bert import positions_like

_MASKED = float(np.finfo(np.float32).min)


@dataclasses.dataclass
class GPT2Config:
    """The fields of Hugging Face's ``GPT2Config`` that the model uses (small defaults)."""

    vocab_size: int = 1000
    n_positions: int = 128
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True

    @classmethod
    def from_hf(cls, config: Any) -> GPT2Config:
        """The same settings as a Hugging Face ``GPT2Config``."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def gelu_new(x: Any) -> Any:
    """GELU's tanh approximation, as Hugging Face's ``NewGELUActivation`` writes it."""
    return 0.5 * x * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


class NewGELUActivation(pm.Module):
    """``gelu_new`` as a module (Hugging Face's class name)."""

    def forward(self, x: Any) -> Any:
        return gelu_new(x)


class Conv1D(pm.Module):
    """Hugging Face's ``Conv1D``: ``x @ weight + bias`` with ``weight`` of shape (nx, nf).

    Args:
        nf: output features.
        nx: input features.
    """

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.nf = nf
        self.weight = pm.Parameter(shape=(nx, nf), init=pm.init.Normal(0.02))
        self.bias = pm.Parameter(shape=(nf,), init="zeros")

    def forward(self, x: Any) -> Any:
        return ops.matmul(x, self.weight) + self.bias

    def extra_repr(self) -> str:
        return f"nf={self.nf}, nx={self.weight.shape[0]}"


def causal_mask(length: int, attention_mask: Any, like: Any) -> Any:
    """Additive mask, ``(L, L)`` or with a padding mask ``(N, 1, L, L)``: 0 where a query
    may attend, the dtype's lowest value elsewhere."""
    position = ops.arange(length, like=like)  # on like's backend and device
    allowed = ops.astype(ops.expand_dims(position, 1) >= ops.expand_dims(position, 0),
                         "float32")  # (L, L): a query sees itself and what comes before
    if attention_mask is not None:
        keep = ops.astype(attention_mask, "float32")
        allowed = allowed * ops.reshape(keep, (ops.shape(keep)[0], 1, 1, length))
    return (1.0 - allowed) * _MASKED


class GPT2Attention(pm.Module):
    """Causal multi-head self-attention: ``c_attn`` (q, k, v in one), ``c_proj``."""

    def __init__(self, config: GPT2Config):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd ({config.n_embd}) must be a multiple of n_head "
                             f"({config.n_head}).")
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.scaling = self.head_dim ** -0.5 if config.scale_attn_weights else 1.0
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def _heads(self, x: Any) -> Any:
        n, length = ops.shape(x)[:2]
        x = ops.reshape(x, (n, length, self.num_heads, self.head_dim))
        return ops.permute_dims(x, (0, 2, 1, 3))

    def forward(self, hidden_states: Any, attention_mask: Any = None) -> Any:
        query, key, value = (self._heads(t) for t in ops.split(self.c_attn(hidden_states), 3,
                                                               axis=2))
        scores = ops.matmul(query, ops.permute_dims(key, (0, 1, 3, 2))) * self.scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.attn_dropout(ops.softmax(scores, axis=-1))
        context = ops.permute_dims(ops.matmul(probs, value), (0, 2, 1, 3))
        n, length = ops.shape(context)[:2]
        return self.resid_dropout(self.c_proj(ops.reshape(context, (n, length, -1))))


class GPT2MLP(pm.Module):
    """``c_fc``, ``gelu_new``, ``c_proj``, dropout."""

    def __init__(self, intermediate_size: int, config: GPT2Config):
        super().__init__()
        if config.activation_function != "gelu_new":
            raise ValueError(f"This GPT-2 implements activation_function='gelu_new' (Hugging "
                             f"Face's default); received {config.activation_function!r}.")
        self.c_fc = Conv1D(intermediate_size, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, intermediate_size)
        self.act = NewGELUActivation()
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states: Any) -> Any:
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden_states))))


class GPT2Block(pm.Module):
    """Pre-LayerNorm block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPT2Config):
        super().__init__()
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner, config)

    def forward(self, hidden_states: Any, attention_mask: Any = None) -> Any:
        hidden_states = self.attn(self.ln_1(hidden_states), attention_mask) + hidden_states
        return self.mlp(self.ln_2(hidden_states)) + hidden_states


class GPT2Model(pm.Module):
    """Hugging Face's ``GPT2Model``: embeddings, ``n_layer`` blocks, final LayerNorm.

    ``forward(input_ids, attention_mask=None, position_ids=None)`` takes integer
    arrays ``(N, L)`` (``attention_mask``: 1 keep, 0 padding) and returns
    ``{"last_hidden_state": (N, L, n_embd)}``. Weights start as Hugging Face
    initialises them, the scaled ``c_proj`` of each block included.

    Args:
        config: a ``GPT2Config`` (default: the small one).
        **overrides: fields of ``GPT2Config`` to change, e.g. ``n_layer=4``.
    """

    accepts_integer_input = True

    def __init__(self, config: GPT2Config | None = None, **overrides: Any):
        super().__init__()
        config = dataclasses.replace(config or GPT2Config(), **overrides)
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        std = config.initializer_range
        pm.init.normal_(self.wte.weight, 0.0, std)
        pm.init.normal_(self.wpe.weight, 0.0, std)
        for block in self.h:  # GPT-2's scaled init of the residual projections
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                pm.init.normal_(proj.weight, 0.0, std / math.sqrt(2 * config.n_layer))

    def forward(self, input_ids: Any, attention_mask: Any = None,
                position_ids: Any = None) -> dict[str, Any]:
        if position_ids is None:
            position_ids = positions_like(input_ids)
        hidden = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        mask = causal_mask(ops.shape(input_ids)[1], attention_mask, hidden)
        for block in self.h:
            hidden = block(hidden, mask)
        return {"last_hidden_state": self.ln_f(hidden)}


class GPT2LMHeadModel(pm.Module):
    """``GPT2Model`` plus a language-model head tied to the token embedding.

    ``forward(input_ids, attention_mask=None, position_ids=None)`` returns
    ``{"logits": (N, L, vocab_size)}``. ``lm_head.weight`` and
    ``transformer.wte.weight`` are one parameter: ``named_parameters()`` lists it
    once (as ``transformer.wte.weight``), and a Hugging Face ``state_dict`` naming
    both loads strictly.
    """

    accepts_integer_input = True

    def __init__(self, config: GPT2Config | None = None, **overrides: Any):
        super().__init__()
        self.transformer = GPT2Model(config, **overrides)
        cfg = self.transformer.config
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.get_parameter("weight")

    def forward(self, input_ids: Any, attention_mask: Any = None,
                position_ids: Any = None) -> dict[str, Any]:
        hidden = self.transformer(input_ids, attention_mask, position_ids)["last_hidden_state"]
        return {"logits": self.lm_head(hidden)}


def gpt2_inputs(batch: int = 2, length: int = 16, vocab_size: int = 1000,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids and an attention mask with padding at the end of the second
    sequence: the keyword inputs of ``GPT2Model`` / ``GPT2LMHeadModel``.

    Example:
        >>> from polymod.examples import gpt2
        >>> sorted(gpt2.gpt2_inputs(2, 8))
        ['attention_mask', 'input_ids']
    """
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab_size, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), np.int64)
    if batch > 1:
        mask[1, -max(1, length // 4):] = 0
    return {"input_ids": ids, "attention_mask": mask}
