"""Issue 17 (dtypes): models in float16, bfloat16 and float64 on every backend that
computes them; the same numbers per dtype everywhere; files keep their dtypes.

Backends come from the registry (the ``backend`` fixture); a backend that cannot compute
a dtype on the CPU must say so (``DTypeError`` naming backend, dtype and op).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from conftest import stored_dtype

import polymod as pm
from polymod import nn, ops, registry

LOW = ["float16", "bfloat16", "float64"]
TORCH = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
         "float32": torch.float32}
# relative to the output's scale: a few roundings of the dtype (its eps: 2**-7 for bfloat16)
RTOL = {"float16": 4e-3, "bfloat16": 3e-2, "float64": 1e-12, "float32": 1e-5}


def computes(backend: str, dtype: str) -> bool:
    return registry.adapter(backend).dtype_problem(pm.float_dtype(dtype)) is None


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


# -- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("given, name", [
    ("bfloat16", "bfloat16"), ("bf16", "bfloat16"), (torch.bfloat16, "bfloat16"),
    (ml_dtypes.bfloat16, "bfloat16"), ("half", "float16"), (np.float16, "float16"),
    ("torch.float16", "float16"), (torch.float64, "float64"), ("double", "float64"),
    (np.dtype("float32"), "float32"), ("float", "float32")])
def test_float_dtype_reads_every_spelling(given, name):
    assert pm.float_dtype(given).name == name


@pytest.mark.parametrize("bad", ["int32", "float8", torch.int64, 3])
def test_float_dtype_refuses_others_naming_the_choices(bad):
    with pytest.raises(pm.DTypeError, match="float16, bfloat16, float32, float64"):
        pm.float_dtype(bad)


# -- creators ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOW)
def test_creators_take_dtype_and_draw_the_same_numbers(backend, dtype):
    if dtype == "bfloat16" and not computes(backend, dtype):
        with pytest.raises(pm.DTypeError, match="gluon.*bfloat16"):
            pm.zeros(2, dtype=dtype)
        return
    pm.seed(3)
    expected = pm.rand(2, 3, backend="numpy", dtype=dtype)
    pm.seed(3)
    got = pm.to_numpy(pm.rand(2, 3, dtype=dtype))
    stored = stored_dtype(backend, "float64") if dtype == "float64" else pm.float_dtype(dtype)
    assert got.dtype == stored
    np.testing.assert_array_equal(got, expected.astype(stored))
    for make in (pm.zeros, pm.ones, pm.randn):
        assert pm.to_numpy(make(4, dtype=dtype)).dtype == stored
    assert pm.to_numpy(pm.asarray([1.5, 2.0], dtype=dtype)).dtype == stored


# -- Module.to(dtype=) and layers' dtype= -------------------------------------------------------
@pytest.mark.parametrize("dtype", LOW)
def test_to_dtype_casts_in_place_or_names_backend_dtype_and_op(backend, dtype):
    pm.seed(0)
    drawn = mlp().state_dict()
    pm.seed(0)
    net = mlp().to(backend)
    if not computes(backend, dtype):
        with pytest.raises(pm.DTypeError, match=rf"{dtype} on backend '{backend}': .*"
                                                rf"(fully_connected|x64|bfloat16)"):
            net.to(dtype=dtype)
        return
    assert net.to(dtype=dtype) is net
    wanted = pm.float_dtype(dtype)
    for name, value in net.state_dict().items():
        assert value.dtype == wanted
        np.testing.assert_array_equal(value, drawn[name].astype(wanted))  # drawn, then cast
    out = net(np.ones((2, 6)))  # NumPy data is converted to the model's dtype
    assert pm.backend_of(out) == backend
    assert pm.to_numpy(out).dtype == wanted


def test_integer_buffers_keep_their_dtype():
    layer = nn.BatchNorm2d(3, dtype="bfloat16")
    assert layer.running_mean.dtype.name == "bfloat16"
    assert layer.num_batches_tracked.dtype == np.int64


LAYERS = {
    "linear": (lambda d: nn.Linear(4, 3, dtype=d), (2, 4)),
    "lazy_linear": (lambda d: nn.LazyLinear(3, dtype=d), (2, 4)),
    "conv2d": (lambda d: nn.Conv2d(2, 3, 3, padding=1, dtype=d), (1, 2, 5, 5)),
    "batchnorm": (lambda d: nn.BatchNorm2d(2, dtype=d), (1, 2, 3, 3)),  # training mode
    "layernorm": (lambda d: nn.LayerNorm(4, dtype=d), (2, 4)),
    "lstm": (lambda d: nn.LSTM(4, 3, batch_first=True, dtype=d), (2, 5, 4)),
    "attention": (lambda d: nn.MultiheadAttention(4, 2, batch_first=True, dtype=d), (2, 3, 4)),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_layers_take_dtype_and_agree_with_torch_in_it(backend, layer, dtype):
    """The oracle: the same layer in torch, made in float32 and cast with .to(dtype)."""
    make, shape = LAYERS[layer]
    pm.seed(1)
    net = make(dtype)
    x = np.random.default_rng(1).standard_normal(shape)
    args = (x, x, x) if layer == "attention" else (x,)
    if not computes(backend, dtype):
        with pytest.raises(pm.DTypeError, match=f"{dtype} on backend '{backend}'"):
            net.to(backend)
        return
    if backend == "numpy" and dtype == "bfloat16" and layer in ("batchnorm", "layernorm"):
        pytest.xfail("ml_dtypes under NumPy 1.26: bfloat16 array + Python float gives "
                     "float32 (var + eps), so the reference's norms come out in float32")
    out = net.to(backend)(*args)
    out = out[0] if isinstance(out, tuple) else out
    got = pm.to_numpy(out)
    assert got.dtype == pm.float_dtype(dtype)
    made = make("float32")
    made.initialize(*(a.astype(np.float32) for a in args))  # lazy sizes known
    oracle = pm.native(made.to("torch"))
    oracle.load_state_dict({k: torch.from_numpy(v.astype(np.float32))
                            for k, v in net.state_dict().items()})
    with torch.no_grad():
        want = oracle.to(TORCH[dtype])(*(torch.from_numpy(a).to(TORCH[dtype]) for a in args))
    want = (want[0] if isinstance(want, tuple) else want).float().numpy()
    scale = np.abs(want).max()
    assert np.abs(got.astype(np.float32) - want).max() <= RTOL[dtype] * 4 * scale


def test_to_dtype_by_name_alone_and_with_another_backend():
    net = mlp()
    assert net.to("bfloat16") is net and net[0].weight.dtype.name == "bfloat16"
    on_torch = net.to("torch")
    copy = on_torch.to("keras", dtype="float16")
    assert copy is not on_torch and copy.backend == "keras"
    assert copy[0].weight.dtype.name == "float16" and on_torch[0].weight.dtype == torch.bfloat16


def test_native_twin_follows_a_cast():
    net = mlp().to("torch")
    before = pm.native(net)
    net.to(dtype="float64")
    twin = pm.native(net)
    assert twin is not before and next(twin.parameters()).dtype == torch.float64
    assert twin(torch.ones(1, 6, dtype=torch.float64)).dtype == torch.float64


# -- input of another dtype -----------------------------------------------------------------------
@pytest.mark.backends("torch", "keras")
def test_a_framework_tensor_of_another_dtype_is_refused_by_name(backend):
    net = mlp().to(backend, dtype="bfloat16")
    x = pm.asarray(np.ones((2, 6)), backend=backend, dtype="float32")
    with pytest.raises(pm.DTypeError, match=f"expects bfloat16 input; received a {backend} "
                                            "tensor of dtype float32"):
        net(x)


# -- files ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOW)
def test_save_keeps_the_dtype_and_load_casts_only_when_asked(backend, dtype, tmp_path):
    if not computes(backend, dtype):
        pytest.skip(f"{backend} does not compute {dtype} (tested above)")
    from safetensors.numpy import load_file

    pm.seed(0)
    net = mlp().to(backend, dtype=dtype)
    path = tmp_path / "w.safetensors"
    pm.save(net, path)
    header = {"float16": "F16", "bfloat16": "BF16", "float64": "F64"}[dtype]
    assert f'"dtype":"{header}"' in path.read_bytes()[:2000].decode("latin-1")
    if dtype != "bfloat16":  # safetensors' NumPy reader has no bfloat16
        np.testing.assert_array_equal(load_file(path)["0.weight"], net.state_dict()["0.weight"])
    plain = mlp().to(backend)
    pm.load(plain, path)  # the model keeps float32; the values are the file's
    assert plain.state_dict()["0.weight"].dtype == np.float32
    np.testing.assert_array_equal(plain.state_dict()["0.weight"],
                                  net.state_dict()["0.weight"].astype(np.float32))
    cast = mlp().to(backend)
    pm.load(cast, path, dtype=dtype)
    for name, value in cast.state_dict().items():
        np.testing.assert_array_equal(value, net.state_dict()[name])


def test_bf16_files_are_read_by_safetensors_torch_both_ways(tmp_path):
    from safetensors.torch import load_file, save_file

    pm.seed(0)
    net = mlp().to("torch", dtype="bfloat16")
    pm.save(net, tmp_path / "a.safetensors")
    theirs = load_file(tmp_path / "a.safetensors")
    assert theirs["0.weight"].dtype == torch.bfloat16
    assert torch.equal(theirs["0.weight"], net[0].weight.detach())
    save_file({k: v * 2 for k, v in theirs.items()}, tmp_path / "b.safetensors")
    twice = mlp().to("numpy", dtype="bfloat16")
    pm.load(twice, tmp_path / "b.safetensors")
    assert torch.equal(torch.from_numpy(twice.state_dict()["0.weight"].view(np.int16))
                       .view(torch.bfloat16), theirs["0.weight"] * 2)


def test_loading_refuses_values_that_would_overflow_float16(tmp_path):
    big = nn.Linear(2, 2, dtype="bfloat16")
    dict(big.named_parameters())["weight"].assign(np.full((2, 2), 1e30))
    pm.save(big, tmp_path / "big.safetensors")
    with pytest.raises(pm.WeightsFileError, match="beyond the range of the model's float16"):
        pm.load(nn.Linear(2, 2, dtype="float16"), tmp_path / "big.safetensors")


# -- gradients and optimisers --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_training_steps_follow_torch_optim_in_the_dtype(backend, dtype, optimizer):
    """torch.optim keeps the state in the parameter's dtype (no float32 master weights),
    and so does pm.optim: a few steps agree with torch's own in that dtype."""
    if backend == registry.REFERENCE or not computes(backend, dtype):
        pytest.skip(f"{backend} does not train in {dtype}")
    if dtype == "float16" and optimizer != "SGD":
        pytest.skip("float16 Adam/RMSprop with eps=1e-8: eps is 0 in float16, NaN as in torch")
    pm.seed(0)
    net = mlp().to(backend, dtype=dtype)
    oracle = pm.native(mlp().to("torch"))
    oracle.load_state_dict({k: torch.from_numpy(v.astype(np.float32))
                            for k, v in net.state_dict().items()})
    oracle.to(TORCH[dtype])
    rng = np.random.default_rng(0)
    X, y = rng.random((8, 6)), rng.random((8, 3))
    opt = getattr(pm.optim, optimizer)(net, lr=1e-2)
    theirs = getattr(torch.optim, optimizer)(oracle.parameters(), lr=1e-2)

    def loss_fn(net, X, y):
        return ops.mean((net(X) - y) ** 2)

    step = pm.value_and_grad(loss_fn)
    tx, ty = (torch.from_numpy(a).to(TORCH[dtype]) for a in (X, y))
    for _ in range(3):
        loss, grads = step(net, pm.asarray(X, dtype=dtype), pm.asarray(y, dtype=dtype))
        opt.step(grads)
        theirs.zero_grad()
        ((oracle(tx) - ty) ** 2).mean().backward()
        theirs.step()
    assert pm.to_numpy(loss).dtype == pm.float_dtype(dtype)
    for name, value in net.state_dict().items():
        want = oracle.state_dict()[name].double().numpy()
        assert value.dtype == pm.float_dtype(dtype)
        np.testing.assert_allclose(value.astype(np.float64), want, rtol=0,
                                   atol=RTOL[dtype] * 2 * max(np.abs(want).max(), 1e-3))


# -- comparing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_assert_backends_agree_in_low_precision(dtype):
    X = np.random.default_rng(0).random((2, 6))
    records = pm.testing.assert_backends_agree(mlp, X, dtype=dtype)
    ran = {r.backend for r in records}
    assert "numpy" in ran and "gluon" not in ran  # MXNet cannot: left out, not failed


@pytest.mark.skipif(not registry.is_installed("torch"), reason="torch is not installed")
def test_torch_twin_to_dtype_casts_the_polymod_model_with_its_buffers():
    """torch's own cast would replace the twin's buffers only: the model kept float32
    running statistics and the fused batch norm refused the mix."""
    import torch

    net = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)).to("torch")
    twin = pm.native(net)
    assert twin.half() is twin
    assert pm.to_numpy(net[1].running_mean).dtype == pm.to_numpy(net[0].weight).dtype == np.float16
    assert {b.dtype for b in twin.buffers()} == {torch.float16, torch.int64}
    out = twin(torch.ones(1, 2, 3, 3, dtype=torch.float16))
    assert out.dtype == torch.float16
    twin.to(torch.float32)
    assert pm.to_numpy(net[1].running_var).dtype == np.float32
