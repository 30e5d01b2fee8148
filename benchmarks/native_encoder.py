"""A BERT encoder as each framework writes it: the references of ``real_models.py``.

Nothing here imports polymod. Every builder takes Hugging Face ``BertModel`` weights as
NumPy arrays under Hugging Face's names (``embeddings.word_embeddings.weight``,
``encoder.layer.0.attention.self.query.weight`` (out, in), ...) and a ``cfg`` dict
(``hidden_size``, ``num_attention_heads``, ``num_hidden_layers``, ``layer_norm_eps``, ...),
and returns a callable ``f(input_ids, attention_mask, token_type_ids, positions) ->
(last_hidden_state, pooler_output)`` on the framework's tensors, computing what Hugging
Face's eager attention computes with dropout off:

* torch: ``transformers.BertModel`` (``attn_implementation="eager"``), when installed;
* Keras: ``keras.layers`` Embedding / Dense / LayerNormalization in a ``keras.Model``;
* Gluon: a ``HybridBlock`` (``F.np`` / ``F.npx`` ops), so it can be hybridized;
* JAX: a pure function of the weights dict (``apply(params, ids, mask, types, positions)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MASKED = float(np.finfo(np.float32).min)
LAYER = "encoder.layer.{}."
#: Each layer's dense projections: Hugging Face name.
DENSES = ("attention.self.query", "attention.self.key", "attention.self.value",
          "attention.output.dense", "intermediate.dense", "output.dense")
NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


def torch_bert(sd: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    """``transformers.BertModel`` holding ``sd`` (raises ImportError without transformers)."""
    import torch
    import transformers

    config = transformers.BertConfig(**cfg, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0)
    config._attn_implementation = "eager"
    model = transformers.BertModel(config)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()},
                          strict=False)  # position_ids / token_type_ids buffers stay

    def call(ids, mask, types, positions):
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                    position_ids=positions)
        return out.last_hidden_state, out.pooler_output

    call.model = model
    return call


def keras_bert(sd: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    """A ``keras.Model`` BERT holding ``sd``; ``.model`` is the Keras model."""
    import keras
    from keras import ops as K

    heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
    eps = cfg["layer_norm_eps"]
    L = keras.layers

    def dense(name, units, activation=None):
        layer = L.Dense(units, activation=activation)
        layer.build((None, sd[f"{name}.weight"].shape[1]))
        layer.set_weights([sd[f"{name}.weight"].T, sd[f"{name}.bias"]])
        return layer

    def norm(name):
        layer = L.LayerNormalization(epsilon=eps)
        layer.build((None, hidden))
        layer.set_weights([sd[f"{name}.weight"], sd[f"{name}.bias"]])
        return layer

    def embedding(name):
        table = sd[f"embeddings.{name}.weight"]
        layer = L.Embedding(*table.shape)
        layer.build((None,))
        layer.set_weights([table])
        return layer

    class Bert(keras.Model):
        def __init__(self):
            super().__init__()
            self.words, self.positions, self.types = (
                embedding(n) for n in ("word_embeddings", "position_embeddings",
                                       "token_type_embeddings"))
            self.embed_norm = norm("embeddings.LayerNorm")
            self.blocks = [{n: dense(LAYER.format(i) + n, sd[LAYER.format(i) + n + ".bias"]
                                     .shape[0]) for n in DENSES}
                           | {n: norm(LAYER.format(i) + n) for n in NORMS}
                           for i in range(cfg["num_hidden_layers"])]
            self.pool = dense("pooler.dense", hidden, "tanh")

        def heads(self, x):
            n, length = K.shape(x)[0], K.shape(x)[1]
            return K.transpose(K.reshape(x, (n, length, heads, hidden // heads)), (0, 2, 1, 3))

        def call(self, ids, mask, types, positions):
            x = self.words(ids) + self.types(types) + self.positions(positions)
            x = self.embed_norm(x)
            add = K.reshape((1.0 - K.cast(mask, "float32")) * _MASKED,
                            (K.shape(mask)[0], 1, 1, K.shape(mask)[1]))
            scale = (hidden // heads) ** -0.5
            for b in self.blocks:
                q, k, v = (self.heads(b[f"attention.self.{n}"](x))
                           for n in ("query", "key", "value"))
                scores = K.matmul(q, K.transpose(k, (0, 1, 3, 2))) * scale + add
                ctx = K.transpose(K.matmul(K.softmax(scores, axis=-1), v), (0, 2, 1, 3))
                ctx = K.reshape(ctx, (K.shape(ctx)[0], K.shape(ctx)[1], hidden))
                x = b["attention.output.LayerNorm"](b["attention.output.dense"](ctx) + x)
                inner = keras.activations.gelu(b["intermediate.dense"](x), approximate=False)
                x = b["output.LayerNorm"](b["output.dense"](inner) + x)
            return x, self.pool(x[:, 0])

    model = Bert()

    def call(ids, mask, types, positions):
        return model(ids, mask, types, positions)

    call.model = model
    return call


def gluon_bert(sd: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    """A Gluon ``HybridBlock`` BERT holding ``sd``; ``.model`` is the block."""
    import mxnet as mx
    from mxnet import np as mnp
    from mxnet.gluon import nn

    heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
    eps = cfg["layer_norm_eps"]
    loads: list[tuple[Any, str]] = []

    def dense(name, activation=None):
        out_units, in_units = sd[f"{name}.weight"].shape
        layer = nn.Dense(out_units, in_units=in_units, flatten=False, activation=activation)
        loads.append((layer, name))
        return layer

    def norm(name):
        layer = nn.LayerNorm(epsilon=eps, in_channels=hidden)
        loads.append((layer, name))
        return layer

    class Layer(nn.HybridBlock):
        def __init__(self, i):
            super().__init__()
            with self.name_scope():
                self.q, self.k, self.v, self.o, self.inner, self.out = (
                    dense(LAYER.format(i) + n) for n in DENSES)
                self.norm1, self.norm2 = (norm(LAYER.format(i) + n) for n in NORMS)

        def hybrid_forward(self, F, x, add):
            def split(t):
                return F.np.transpose(F.npx.reshape(t, (-2, -2, heads, -1)), (0, 2, 1, 3))

            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            scores = F.np.matmul(q, F.np.swapaxes(k, 2, 3)) * ((hidden // heads) ** -0.5)
            ctx = F.np.matmul(F.npx.softmax(scores + add, axis=-1), v)
            ctx = F.npx.reshape(F.np.transpose(ctx, (0, 2, 1, 3)), (-2, -2, -1))
            x = self.norm1(self.o(ctx) + x)
            return self.norm2(self.out(F.npx.leaky_relu(self.inner(x), act_type="gelu")) + x)

    class Bert(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.embeds = []
                for n in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
                    table = sd[f"embeddings.{n}.weight"]
                    layer = nn.Embedding(*table.shape)
                    loads.append((layer, f"embeddings.{n}"))
                    self.register_child(layer)
                    self.embeds.append(layer)
                self.embed_norm = norm("embeddings.LayerNorm")
                self.layers = nn.HybridSequential()
                for i in range(cfg["num_hidden_layers"]):
                    self.layers.add(Layer(i))
                self.pool = dense("pooler.dense", "tanh")

        def hybrid_forward(self, F, ids, mask, types, positions):
            words, where, kinds = self.embeds
            x = self.embed_norm(words(ids) + kinds(types) + where(positions))
            add = F.np.expand_dims(F.np.expand_dims((1.0 - mask.astype("float32")) * _MASKED,
                                                    1), 1)
            for layer in self.layers:
                x = layer(x, add)
            return x, self.pool(F.npx.reshape(F.npx.slice(x, (None, 0, None), (None, 1, None)),
                                              (-2, -1)))

    model = Bert()
    model.initialize(ctx=mx.cpu())
    for layer, name in loads:
        if isinstance(layer, nn.LayerNorm):
            layer.gamma.set_data(mnp.array(sd[f"{name}.weight"]))
            layer.beta.set_data(mnp.array(sd[f"{name}.bias"]))
        else:
            layer.weight.set_data(mnp.array(sd[f"{name}.weight"]))
            if getattr(layer, "bias", None) is not None:
                layer.bias.set_data(mnp.array(sd[f"{name}.bias"]))

    def call(ids, mask, types, positions):
        return model(ids, mask, types, positions)

    call.model = model
    return call


def jax_bert(cfg: dict[str, Any]) -> Any:
    """``apply(params, ids, mask, types, positions) -> (last_hidden_state, pooler_output)``."""
    import jax
    import jax.numpy as jnp

    heads, hidden, eps = cfg["num_attention_heads"], cfg["hidden_size"], cfg["layer_norm_eps"]

    def dense(p, name, x):
        return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]

    def norm(p, name, x):
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + eps) * p[f"{name}.weight"] + p[f"{name}.bias"]

    def apply(p, ids, mask, types, positions):
        x = (p["embeddings.word_embeddings.weight"][ids]
             + p["embeddings.token_type_embeddings.weight"][types]
             + p["embeddings.position_embeddings.weight"][positions])
        x = norm(p, "embeddings.LayerNorm", x)
        n, length = ids.shape
        add = ((1.0 - mask.astype(jnp.float32)) * _MASKED).reshape(n, 1, 1, length)
        for i in range(cfg["num_hidden_layers"]):
            name = LAYER.format(i)

            def split(t):
                return t.reshape(n, length, heads, -1).transpose(0, 2, 1, 3)

            q, k, v = (split(dense(p, name + f"attention.self.{s}", x))
                       for s in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) * ((hidden // heads) ** -0.5) + add
            ctx = (jax.nn.softmax(scores, axis=-1) @ v).transpose(0, 2, 1, 3)
            ctx = ctx.reshape(n, length, hidden)
            x = norm(p, name + "attention.output.LayerNorm",
                     dense(p, name + "attention.output.dense", ctx) + x)
            inner = jax.nn.gelu(dense(p, name + "intermediate.dense", x), approximate=False)
            x = norm(p, name + "output.LayerNorm", dense(p, name + "output.dense", inner) + x)
        return x, jnp.tanh(dense(p, "pooler.dense", x[:, 0]))

    return apply
