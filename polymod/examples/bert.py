"""A BERT encoder written once, with Hugging Face's ``BertModel`` names and structure.

Module and parameter names follow ``transformers.BertModel``
(``embeddings.word_embeddings.weight``, ``encoder.layer.0.attention.self.query.weight``,
``pooler.dense.bias``, ...), so a Hugging Face ``state_dict`` loads with
``strict=True`` (``pm.load_native(net, hf_model.state_dict())``) and the model
computes what Hugging Face's eager attention computes, dropout included: in
training mode the masks come from polymod's seeded generator, drawn in the
order Hugging Face applies dropout (embeddings; then per layer the attention
probabilities, the attention output, the feed-forward output).

The default configuration is small (BERT-tiny's shape with a 1,000-word
vocabulary); ``BertConfig`` takes Hugging Face's field names.

Example:
    >>> import numpy as np, polymod as pm
    >>> from polymod.examples import bert
    >>> net = bert.BertModel(bert.BertConfig(vocab_size=50, hidden_size=16,
    ...                                      num_attention_heads=2, intermediate_size=32))
    >>> ids = np.array([[2, 7, 9, 3], [2, 5, 3, 0]])
    >>> mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    >>> out = net.eval()(ids, attention_mask=mask)
    >>> out["last_hidden_state"].shape, out["pooler_output"].shape
    ((2, 4, 16), (2, 16))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import polymod as pm
from polymod import nn, ops
from polymod.dtypes import max_value

# Hugging Face masks attention with the dtype's lowest value (added to the scores).
_MASKED = float(np.finfo(np.float32).min)


@dataclasses.dataclass
class BertConfig:
    """The fields of Hugging Face's ``BertConfig`` that ``BertModel`` uses (small defaults)."""

    vocab_size: int = 1000
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 512
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_hf(cls, config: Any) -> BertConfig:
        """The same settings as a Hugging Face ``BertConfig`` (or any object with its fields)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def positions_like(ids: Any) -> Any:
    """Position ids ``[[0, 1, ..., L-1]]`` on the backend (and device) of ``ids`` (int64)."""
    return ops.expand_dims(ops.arange(ops.shape(ids)[1], like=ids), 0)


def additive_mask(attention_mask: Any, dtype: Any = "float32") -> Any:
    """``(N, L)`` 1-keep / 0-pad mask -> ``(N, 1, 1, L)`` float: 0 kept, dtype-min masked
    (the model's dtype: ``pm.float_dtype`` reads any framework's dtype object)."""
    name = pm.float_dtype(dtype).name  # a name, not a NumPy dtype: torch.compile traces it
    keep = ops.astype(attention_mask, name)
    masked = _MASKED if name == "float32" else -max_value(pm.float_dtype(name))
    return ops.reshape((1.0 - keep) * masked, (ops.shape(keep)[0], 1, 1, ops.shape(keep)[1]))


class BertEmbeddings(pm.Module):
    """Word + token-type + position embeddings, LayerNorm, dropout."""

    accepts_integer_input = True

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings,
                                                config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Any, token_type_ids: Any = None,
                position_ids: Any = None) -> Any:
        if position_ids is None:
            position_ids = positions_like(input_ids)
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(pm.Module):
    """Multi-head scaled dot-product attention: ``query``, ``key``, ``value`` projections."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of "
                             f"num_attention_heads ({config.num_attention_heads}).")
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.scaling = self.attention_head_size ** -0.5
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x: Any) -> Any:
        n, length = ops.shape(x)[:2]
        x = ops.reshape(x, (n, length, self.num_attention_heads, self.attention_head_size))
        return ops.permute_dims(x, (0, 2, 1, 3))

    def forward(self, hidden_states: Any, attention_mask: Any = None) -> Any:
        query = self._heads(self.query(hidden_states))
        key = self._heads(self.key(hidden_states))
        value = self._heads(self.value(hidden_states))
        scores = ops.matmul(query, ops.permute_dims(key, (0, 1, 3, 2))) * self.scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(ops.softmax(scores, axis=-1))
        context = ops.permute_dims(ops.matmul(probs, value), (0, 2, 1, 3))
        n, length = ops.shape(context)[:2]
        return ops.reshape(context, (n, length, -1))


class BertSelfOutput(pm.Module):
    """Output projection of the attention, dropout, residual and LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: Any, input_tensor: Any) -> Any:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(pm.Module):
    """``self`` (the attention) followed by ``output``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        # `self` is Hugging Face's attribute name; setattr keeps Python's `self` free.
        setattr(self, "self", BertSelfAttention(config))  # noqa: B010
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: Any, attention_mask: Any = None) -> Any:
        attention = getattr(self, "self")  # noqa: B009 (Hugging Face's name)
        return self.output(attention(hidden_states, attention_mask), hidden_states)


class BertIntermediate(pm.Module):
    """The first feed-forward projection and its activation."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if config.hidden_act != "gelu":
            raise ValueError(f"This BertModel implements hidden_act='gelu' (erf GELU, "
                             f"Hugging Face's default); received {config.hidden_act!r}.")
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, hidden_states: Any) -> Any:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(pm.Module):
    """The second feed-forward projection, dropout, residual and LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: Any, input_tensor: Any) -> Any:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(pm.Module):
    """Attention block then feed-forward block (post-LayerNorm)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: Any, attention_mask: Any = None) -> Any:
        attention_output = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(pm.Module):
    """``num_hidden_layers`` ``BertLayer`` s in ``layer``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states: Any, attention_mask: Any = None) -> Any:
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_mask)
        return hidden_states


class BertPooler(pm.Module):
    """``tanh(dense(hidden state of the first token))``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: Any) -> Any:
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(pm.Module):
    """Hugging Face's ``BertModel`` (encoder and pooler; eager attention).

    ``forward(input_ids, attention_mask=None, token_type_ids=None, position_ids=None)``
    takes integer arrays of shape ``(N, L)`` (``attention_mask``: 1 keep, 0 padding)
    and returns ``{"last_hidden_state": (N, L, H), "pooler_output": (N, H)}``.
    Weights start as Hugging Face initialises them: normal(0, ``initializer_range``)
    for linear and embedding weights, zero biases and padding row, LayerNorm 1 and 0.

    Args:
        config: a ``BertConfig`` (default: the small one).
        add_pooling_layer: whether to build ``pooler`` (as Hugging Face's flag).
        **overrides: fields of ``BertConfig`` to change, e.g. ``num_hidden_layers=4``.
    """

    accepts_integer_input = True

    def __init__(self, config: BertConfig | None = None, add_pooling_layer: bool = True,
                 **overrides: Any):
        super().__init__()
        config = dataclasses.replace(config or BertConfig(), **overrides)
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        init_like_hugging_face(self, config.initializer_range)

    def forward(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None,
                position_ids: Any = None) -> dict[str, Any]:
        hidden = self.embeddings(input_ids, token_type_ids, position_ids)
        mask = None if attention_mask is None else additive_mask(attention_mask, hidden.dtype)
        hidden = self.encoder(hidden, mask)
        out = {"last_hidden_state": hidden}
        if self.pooler is not None:
            out["pooler_output"] = self.pooler(hidden)
        return out


def init_like_hugging_face(model: pm.Module, std: float) -> None:
    """Hugging Face's ``_init_weights``: N(0, std) weights, zero biases and padding rows."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            pm.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                pm.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            pm.init.normal_(module.weight, 0.0, std)
            if module.padding_idx is not None:
                table = pm.to_numpy(module.weight).copy()
                table[module.padding_idx] = 0.0
                module.get_parameter("weight").assign(table)


def bert_inputs(batch: int = 2, length: int = 16, vocab_size: int = 1000,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids, an attention mask with padding at the end of the second sequence,
    and token-type ids (first half 0, second half 1): the keyword inputs of ``BertModel``.

    Example:
        >>> from polymod.examples import bert
        >>> {k: v.shape for k, v in bert.bert_inputs(2, 8).items()}
        {'input_ids': (2, 8), 'attention_mask': (2, 8), 'token_type_ids': (2, 8)}
    """
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab_size, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), np.int64)
    if batch > 1:
        pad = max(1, length // 4)
        mask[1, -pad:] = 0
        ids[1, -pad:] = 0
    types = np.zeros((batch, length), np.int64)
    types[:, length // 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
