"""Sequence models written once: a small Transformer encoder and a small LSTM classifier.

Both run unchanged on every backend, take integer token ids ``(N, L)`` and return
class scores ``(N, num_classes)``. Their parameter names are those of the same
models written with ``torch.nn`` (``embedding.weight``,
``layers.0.self_attn.in_proj_weight``, ``lstm.weight_ih_l0``, ...), so a PyTorch
``state_dict`` of the native twin loads strictly.

Example:
    >>> import numpy as np, polymod as pm
    >>> from polymod.examples import sequence
    >>> tokens = np.array([[1, 5, 7, 2], [3, 3, 9, 0]])
    >>> sequence.TransformerClassifier()(tokens).shape
    (2, 5)
    >>> sequence.LSTMClassifier()(tokens).shape
    (2, 5)
"""

from __future__ import annotations

from typing import Any

import polymod as pm
from polymod import nn, ops


class TransformerClassifier(pm.Module):
    """Token and learned position embeddings, ``num_layers`` encoder layers, mean pooling,
    then a linear head.

    ``forward(tokens, key_padding_mask=None)``: ``tokens`` is ``(N, L)`` integer ids with
    ``L <= max_len``; ``key_padding_mask`` is ``(N, L)``, True at padding positions.
    """

    accepts_integer_input = True  # token ids: NumPy integer input is data, not an error

    def __init__(self, vocab_size: int = 100, d_model: int = 32, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 64, num_classes: int = 5,
                 max_len: int = 64, dropout: float = 0.0, norm_first: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.pos_embedding = pm.Parameter(shape=(max_len, d_model), init=pm.init.Normal(0.02))
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                       batch_first=True, norm_first=norm_first)
            for _ in range(num_layers)])
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: Any, key_padding_mask: Any = None) -> Any:
        length = ops.shape(tokens)[1]
        X = self.embedding(tokens) + self.pos_embedding[:length]
        for layer in self.layers:
            X = layer(X, src_key_padding_mask=key_padding_mask)
        return self.head(ops.mean(X, axis=1))


class LSTMClassifier(pm.Module):
    """Embedding, an LSTM (batch first), and a linear head on the last layer's final state."""

    accepts_integer_input = True

    def __init__(self, vocab_size: int = 100, embed_dim: int = 16, hidden_size: int = 32,
                 num_layers: int = 1, num_classes: int = 5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: Any) -> Any:
        _, (h_n, _) = self.lstm(self.embedding(tokens))
        return self.head(h_n[-1])
