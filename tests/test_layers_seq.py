"""Sequence layers against their torch.nn counterparts (PyTorch is the oracle).

Each polymod layer's ``state_dict`` is loaded strictly into the torch layer; outputs
are compared on every backend and gradients on the three frameworks. Sizes are small.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_same_numbers, installed_framework

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples import sequence

RTOL, ATOL = 1e-4, 1e-5
GRAD_BACKENDS = pytest.mark.backends(*registry.FRAMEWORKS)


def _load_into_torch(net: pm.Module, tnet: torch.nn.Module) -> torch.nn.Module:
    tnet.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()},
                         strict=True)
    return tnet.eval()


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _t(x):
    return None if x is None else torch.from_numpy(np.asarray(x))


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    assert_same_numbers(actual, expected.detach() if isinstance(expected, torch.Tensor)
                        else expected, rtol=rtol, atol=atol)


def _check_grads(net, tnet, loss_fn, torch_loss_fn, *inputs, rtol=RTOL, atol=ATOL):
    """polymod's gradients of loss_fn(net, *inputs) against torch's of torch_loss_fn()."""
    _, grads = pm.value_and_grad(loss_fn)(net, *inputs)
    tnet.zero_grad()
    torch_loss_fn().backward()
    expected = dict(tnet.named_parameters())
    assert sorted(grads) == sorted(expected)
    for name, g in grads.items():
        ref = expected[name].grad
        ref = torch.zeros_like(expected[name]) if ref is None else ref
        try:
            _close(g, ref, rtol, atol)
        except AssertionError as err:
            raise AssertionError(f"gradient of {name}: {err}") from None


# -- Embedding ------------------------------------------------------------------------------
def test_embedding_matches_torch(backend):
    pm.seed(0)
    emb = nn.Embedding(10, 4)
    assert list(emb.state_dict()) == ["weight"]
    temb = _load_into_torch(emb, torch.nn.Embedding(10, 4))
    idx = np.array([[1, 2, 4, 5], [4, 3, 2, 9]])
    out = emb(pm.asarray(idx, backend=backend))
    assert pm.backend_of(out) == backend
    _close(out, temb(_t(idx)))
    _close(emb(idx[0]), temb(_t(idx[0])))  # NumPy integer input is data too


def test_embedding_init_is_standard_normal_and_same_everywhere():
    pm.seed(3)
    w = nn.Embedding(2000, 8).state_dict()["weight"]
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05
    pm.seed(3)
    assert np.array_equal(nn.Embedding(2000, 8).to("torch").state_dict()["weight"], w)


@GRAD_BACKENDS
def test_embedding_gradients_and_padding_idx(backend):
    pm.seed(0)
    emb = nn.Embedding(6, 3, padding_idx=1)
    assert np.all(emb.state_dict()["weight"][1] == 0)
    temb = _load_into_torch(emb, torch.nn.Embedding(6, 3, padding_idx=1))
    idx = np.array([[1, 2, 2], [0, 1, 5]])
    R = _rng().standard_normal((2, 3, 3)).astype(np.float32)
    emb = emb.to(backend)
    _close(emb(idx), temb(_t(idx)))
    Rb = pm.asarray(R, backend=backend)
    _check_grads(emb, temb, lambda m, i: ops.sum(m(i) * Rb),
                 lambda: (temb(_t(idx)) * _t(R)).sum(), pm.asarray(idx, backend=backend))


def test_embedding_from_pretrained_and_errors():
    emb = nn.Embedding.from_pretrained(np.eye(3, dtype=np.float32))
    assert not next(emb.parameters()).trainable
    assert_same_numbers(emb(np.array([2, 0])), np.eye(3, dtype=np.float32)[[2, 0]])
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=5)
    with pytest.raises(ValueError, match="max_norm"):
        nn.Embedding(3, 2, max_norm=1.0)
    emb = nn.Embedding(3, 2).to("torch")
    with pytest.raises(TypeError, match="integer indices"):
        emb(pm.asarray(np.array([0.0, 1.0]), backend="torch"))


# -- RNN, GRU, LSTM ---------------------------------------------------------------------------
RNN_CASES = [
    ("RNN", dict()),
    ("RNN", dict(nonlinearity="relu", num_layers=2, batch_first=True)),
    ("GRU", dict(num_layers=2)),
    ("GRU", dict(bidirectional=True, batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(batch_first=True, bias=False)),
]
RNN_IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
           for kind, kw in RNN_CASES]


def _rnn_pair(kind, kw, input_size=3, hidden=4):
    pm.seed(0)
    net = getattr(nn, kind)(input_size, hidden, **kw)
    tnet = _load_into_torch(net, getattr(torch.nn, kind)(input_size, hidden, **kw))
    return net, tnet


def _rnn_inputs(kw, hidden=4, steps=5, batch=2, input_size=3):
    rng = _rng(1)
    shape = (batch, steps, input_size) if kw.get("batch_first") else (steps, batch, input_size)
    X = rng.random(shape, dtype=np.float32)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    h0 = rng.standard_normal((layers, batch, hidden)).astype(np.float32)
    c0 = rng.standard_normal((layers, batch, hidden)).astype(np.float32)
    return X, h0, c0


def _flat(result):
    out, state = result
    return [out, *(state if isinstance(state, tuple) else (state,))]


@pytest.mark.parametrize(("kind", "kw"), RNN_CASES, ids=RNN_IDS)
def test_rnn_matches_torch(backend, kind, kw):
    net, tnet = _rnn_pair(kind, kw)
    assert list(net.state_dict()) == list(tnet.state_dict())
    X, h0, c0 = _rnn_inputs(kw)
    hx = (h0, c0) if kind == "LSTM" else h0
    thx = (_t(h0), _t(c0)) if kind == "LSTM" else _t(h0)
    Xb = pm.asarray(X, backend=backend)
    for got, want in zip(_flat(net(Xb)), _flat(tnet(_t(X))), strict=True):
        assert pm.backend_of(got) == backend
        _close(got, want)
    for got, want in zip(_flat(net(Xb, hx)), _flat(tnet(_t(X), thx)), strict=True):
        _close(got, want)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_rnn_unbatched_input(backend, kind):
    net, tnet = _rnn_pair(kind, dict(num_layers=2))
    X = _rng(2).random((5, 3), dtype=np.float32)
    for got, want in zip(_flat(net(pm.asarray(X, backend=backend))), _flat(tnet(_t(X))),
                         strict=True):
        _close(got, want)


@GRAD_BACKENDS
@pytest.mark.parametrize(("kind", "kw"), [RNN_CASES[1], RNN_CASES[2], RNN_CASES[4]],
                         ids=[RNN_IDS[1], RNN_IDS[2], RNN_IDS[4]])
def test_rnn_gradients_match_torch(backend, kind, kw):
    net, tnet = _rnn_pair(kind, kw)
    net = net.to(backend)
    X, h0, c0 = _rnn_inputs(kw)
    steps_first = not kw.get("batch_first")
    R = _rng(3).standard_normal((5, 2, 8 if kw.get("bidirectional") else 4)
                                if steps_first else (2, 5, 4)).astype(np.float32)
    Rb = pm.asarray(R, backend=backend)

    def loss(m, X):
        out = _flat(m(X))
        return ops.sum(out[0] * Rb) + ops.sum(out[1]) * 0.5

    def torch_loss():
        out = _flat(tnet(_t(X)))
        return (out[0] * _t(R)).sum() + out[1].sum() * 0.5

    _check_grads(net, tnet, loss, torch_loss, pm.asarray(X, backend=backend))


def test_rnn_init_and_errors():
    pm.seed(0)
    lstm = nn.LSTM(3, 16, num_layers=2)
    names = list(lstm.state_dict())
    assert names == list(torch.nn.LSTM(3, 16, num_layers=2).state_dict())
    bound = 1 / 4
    assert all(np.abs(v).max() <= bound for v in lstm.state_dict().values())
    assert all(np.abs(v).max() > 0.9 * bound for v in lstm.state_dict().values())
    pm.seed(0)
    assert all(np.array_equal(a, b) for a, b in zip(
        lstm.state_dict().values(),
        nn.LSTM(3, 16, 2).to(installed_framework("gluon", "keras")).state_dict().values(),
        strict=True))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="input_size=3"):
        nn.GRU(3, 4).to("torch")(pm.rand(5, 2, 7, backend="torch"))
    assert repr(nn.GRU(3, 4, num_layers=2, batch_first=True)) == \
        "GRU(3, 4, num_layers=2, batch_first=True)"


# -- MultiheadAttention -------------------------------------------------------------------
def _mha_pair(embed_dim=8, num_heads=2, **kw):
    pm.seed(0)
    net = nn.MultiheadAttention(embed_dim, num_heads, **kw)
    tnet = _load_into_torch(net, torch.nn.MultiheadAttention(embed_dim, num_heads, **kw))
    return net, tnet


def _qkv(batch_first, L=4, S=5, N=3, E=8, kdim=None, vdim=None):
    rng = _rng(4)

    def make(length, dim):
        shape = (N, length, dim) if batch_first else (length, N, dim)
        return rng.standard_normal(shape).astype(np.float32)

    return make(L, E), make(S, kdim or E), make(S, vdim or E)


def _masks(kind, L=4, S=5, N=3, heads=2):
    rng = _rng(5)
    kpm = np.zeros((N, S), bool)
    kpm[0, 3:] = True
    kpm[2, 0] = True
    attn = rng.random((L, S)) < 0.3
    attn[:, 1] = False  # every query keeps at least one key
    attn3 = np.broadcast_to(attn, (N * heads, L, S)).copy()
    attn3[::2, :, 2] = True
    if kind == "bool":
        return kpm, attn, attn3
    to_float = lambda m: np.where(m, -np.inf, 0.0).astype(np.float32)  # noqa: E731
    noise = rng.standard_normal((L, S)).astype(np.float32)
    return to_float(kpm), to_float(attn) + noise, to_float(attn3)


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
def test_mha_matches_torch(backend, batch_first):
    net, tnet = _mha_pair(batch_first=batch_first)
    assert list(net.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                      "out_proj.bias"]
    q, k, v = (pm.asarray(a, backend=backend) for a in _qkv(batch_first))
    tq, tk, tv = (_t(a) for a in _qkv(batch_first))
    for args, targs in [((q, k, v), (tq, tk, tv)), ((q, k, k), (tq, tk, tk)),
                        ((q, q, q), (tq, tq, tq))]:
        out, weights = net(*args)
        tout, tweights = tnet(*targs)
        assert pm.backend_of(out) == backend
        _close(out, tout)
        _close(weights, tweights)
    out, weights = net(q, k, v, need_weights=True, average_attn_weights=False)
    tout, tweights = tnet(tq, tk, tv, need_weights=True, average_attn_weights=False)
    _close(weights, tweights)
    out, weights = net(q, k, v, need_weights=False)
    assert weights is None
    _close(out, tnet(tq, tk, tv, need_weights=False)[0])


@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_mha_masks_match_torch(backend, mask_kind):
    net, tnet = _mha_pair(batch_first=True)
    q, k, v = _qkv(True)
    kpm, attn, attn3 = _masks(mask_kind)
    b = lambda a: pm.asarray(a, backend=backend)  # noqa: E731
    cases = [dict(key_padding_mask=kpm), dict(attn_mask=attn), dict(attn_mask=attn3),
             dict(key_padding_mask=kpm, attn_mask=attn)]
    for masks in cases:
        out, weights = net(b(q), b(k), b(v), **{n: b(m) for n, m in masks.items()})
        tout, tweights = tnet(_t(q), _t(k), _t(v), **{n: _t(m) for n, m in masks.items()})
        _close(out, tout)
        _close(weights, tweights)
    # NumPy masks are data, as NumPy inputs are
    out, _ = net(b(q), b(k), b(v), key_padding_mask=kpm)
    _close(out, tnet(_t(q), _t(k), _t(v), key_padding_mask=_t(kpm))[0])


def test_mha_unbatched_kdim_vdim_and_causal(backend):
    net, tnet = _mha_pair(kdim=6, vdim=5)
    assert list(net.state_dict()) == list(tnet.state_dict())
    q, k, v = _qkv(False, N=1, kdim=6, vdim=5)
    q, k, v = q[:, 0], k[:, 0], v[:, 0]  # unbatched (L, E)
    b = lambda a: pm.asarray(a, backend=backend)  # noqa: E731
    out, weights = net(b(q), b(k), b(v))
    tout, tweights = tnet(_t(q), _t(k), _t(v))
    _close(out, tout)
    _close(weights, tweights)
    net, tnet = _mha_pair(batch_first=True)
    x = _qkv(True, L=5)[0]
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
    out, _ = net(b(x), b(x), b(x), is_causal=True)
    _close(out, tnet(_t(x), _t(x), _t(x), attn_mask=causal)[0])


@GRAD_BACKENDS
@pytest.mark.parametrize("self_attention", [True, False], ids=["self", "cross"])
def test_mha_gradients_match_torch(backend, self_attention):
    net, tnet = _mha_pair(batch_first=True)
    net = net.to(backend)
    q, k, v = _qkv(True)
    if self_attention:
        k = v = q
    kpm, attn, _ = _masks("bool", S=k.shape[1])
    R = _rng(6).standard_normal((3, 4, 8)).astype(np.float32)
    b = lambda a: pm.asarray(a, backend=backend)  # noqa: E731
    Rb, kpm_b = b(R), b(kpm)

    def loss(m, q, k, v):
        out, weights = m(q, k, v, key_padding_mask=kpm_b)
        return ops.sum(out * Rb) + ops.sum(weights * weights)

    def torch_loss():
        tk = _t(k)
        tq = tk if self_attention else _t(q)
        tv = tk if self_attention else _t(v)
        out, weights = tnet(tq, tk, tv, key_padding_mask=_t(kpm))
        return (out * _t(R)).sum() + (weights * weights).sum()

    qb = b(q)
    kb = qb if self_attention else b(k)
    vb = qb if self_attention else b(v)
    _check_grads(net, tnet, loss, torch_loss, qb, kb, vb)


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    net = nn.MultiheadAttention(8, 2).to("torch")
    x = pm.rand(4, 2, 6, backend="torch")
    with pytest.raises(ValueError, match="embed_dim=8"):
        net(x, x, x)


# -- TransformerEncoderLayer ------------------------------------------------------------------
LAYER_CASES = [dict(batch_first=True), dict(batch_first=False, norm_first=True,
                                            activation="gelu")]
LAYER_IDS = ["post_norm-batch_first", "pre_norm-gelu-seq_first"]


def _layer_pair(**kw):
    pm.seed(0)
    net = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **kw)
    tnet = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **kw)
    return net, _load_into_torch(net, tnet)


def _layer_inputs(batch_first, N=3, L=5):
    x = _rng(7).standard_normal((N, L, 8) if batch_first else (L, N, 8)).astype(np.float32)
    kpm = np.zeros((N, L), bool)
    kpm[1, 3:] = True
    causal = np.triu(np.ones((L, L), bool), 1)
    return x, kpm, causal


@pytest.mark.parametrize("kw", LAYER_CASES, ids=LAYER_IDS)
def test_transformer_encoder_layer_matches_torch(backend, kw):
    net, tnet = _layer_pair(**kw)
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()
                                                    if n != "activation"]
    x, kpm, causal = _layer_inputs(kw["batch_first"])
    b = lambda a: pm.asarray(a, backend=backend)  # noqa: E731
    out = net(b(x))
    assert pm.backend_of(out) == backend
    _close(out, tnet(_t(x)))
    _close(net(b(x), src_key_padding_mask=b(kpm)), tnet(_t(x), src_key_padding_mask=_t(kpm)))
    _close(net(b(x), src_mask=b(causal), src_key_padding_mask=b(kpm)),
           tnet(_t(x), src_mask=_t(causal), src_key_padding_mask=_t(kpm)))


@GRAD_BACKENDS
@pytest.mark.parametrize("kw", LAYER_CASES, ids=LAYER_IDS)
def test_transformer_encoder_layer_gradients_match_torch(backend, kw):
    net, tnet = _layer_pair(**kw)
    net = net.to(backend)
    x, kpm, _ = _layer_inputs(kw["batch_first"])
    R = _rng(8).standard_normal(x.shape).astype(np.float32)
    Rb, kpm_b = pm.asarray(R, backend=backend), pm.asarray(kpm, backend=backend)
    _check_grads(net, tnet, lambda m, x: ops.sum(m(x, src_key_padding_mask=kpm_b) * Rb),
                 lambda: (tnet(_t(x), src_key_padding_mask=_t(kpm)) * _t(R)).sum(),
                 pm.asarray(x, backend=backend))


def test_transformer_dropout_masks_agree_across_backends():
    """In training mode, a seeded step draws the same dropout masks on every backend."""
    outputs = {}
    for backend in pm.available_backends():  # the installed ones
        pm.seed(0)
        net = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.3,
                                         batch_first=True).to(backend)
        x = pm.randn(2, 5, 8, backend=backend)
        pm.seed(1)
        outputs[backend] = pm.to_numpy(net(x))
        assert not np.allclose(outputs[backend], pm.to_numpy(net.eval()(x)))
    for out in outputs.values():
        assert_same_numbers(out, outputs["numpy"], rtol=RTOL, atol=ATOL)


def test_transformer_encoder_stacks_copies():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    enc = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8))
    tlayer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    tenc = torch.nn.TransformerEncoder(tlayer, 2, norm=torch.nn.LayerNorm(8),
                                       enable_nested_tensor=False)
    assert list(enc.state_dict()) == list(tenc.state_dict())
    sd = enc.state_dict()
    assert np.array_equal(sd["layers.0.linear1.weight"], sd["layers.1.linear1.weight"])
    _load_into_torch(enc, tenc)
    x = _layer_inputs(False)[0]
    _close(enc.to("keras")(x), tenc(_t(x)))


# -- the examples, against the same models written natively in PyTorch ---------------------
class TorchTransformerClassifier(torch.nn.Module):
    def __init__(self, vocab_size=100, d_model=32, nhead=4, num_layers=2, dim_feedforward=64,
                 num_classes=5, max_len=64):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, d_model)
        self.pos_embedding = torch.nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.layers = torch.nn.ModuleList([
            torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, 0.0,
                                             batch_first=True) for _ in range(num_layers)])
        self.head = torch.nn.Linear(d_model, num_classes)

    def forward(self, tokens, key_padding_mask=None):
        X = self.embedding(tokens) + self.pos_embedding[:tokens.shape[1]]
        for layer in self.layers:
            X = layer(X, src_key_padding_mask=key_padding_mask)
        return self.head(X.mean(1))


class TorchLSTMClassifier(torch.nn.Module):
    def __init__(self, vocab_size=100, embed_dim=16, hidden_size=32, num_layers=1,
                 num_classes=5):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.lstm = torch.nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, num_classes)

    def forward(self, tokens):
        _, (h_n, _) = self.lstm(self.embedding(tokens))
        return self.head(h_n[-1])


EXAMPLES = {"transformer": (sequence.TransformerClassifier, TorchTransformerClassifier),
            "lstm": (sequence.LSTMClassifier, TorchLSTMClassifier)}
TOKENS = np.array([[1, 5, 7, 2, 0, 0], [3, 3, 9, 4, 8, 6]])
PADDING = TOKENS == 0


def _example_args(name, backend):
    tokens = pm.asarray(TOKENS, backend=backend)
    if name == "transformer":
        return (tokens, pm.asarray(PADDING, backend=backend)), (_t(TOKENS), _t(PADDING))
    return (tokens,), (_t(TOKENS),)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_native_torch(backend, name):
    pm.seed(0)
    factory, native = EXAMPLES[name]
    net = factory()
    tnet = _load_into_torch(net, native())
    args, targs = _example_args(name, backend)
    out = net(*args)
    assert pm.backend_of(out) == backend and tuple(out.shape) == (2, 5)
    _close(out, tnet(*targs))
    if backend == "numpy":
        return
    R = _rng(9).standard_normal((2, 5)).astype(np.float32)
    Rb = pm.asarray(R, backend=backend)
    _check_grads(net, tnet, lambda m, *a: ops.sum(m(*a) * Rb),
                 lambda: (tnet(*targs) * _t(R)).sum(), *args)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_native_torch_state_dict_loads_into_example(name):
    factory, native = EXAMPLES[name]
    torch.manual_seed(0)
    tnet = native().eval()
    net = factory()
    net.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()}, strict=True)
    other = installed_framework("gluon", "keras")
    args, targs = _example_args(name, other)
    _close(net.to(other)(*args), tnet(*targs))
