"""pm.save / pm.load (safetensors, neutral layout), load_state_dict, pm.load_native."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
from conftest import assert_same_numbers, native_types, needs

import polymod as pm
from polymod import nn, registry
from polymod.examples.chapter import LISTINGS

ALL = list(registry.NAMES)


def _chimera(seed=0):
    pm.seed(seed)
    return LISTINGS["chimera"]()


def _trained(backend, seed=0):
    net = _chimera(seed)
    net(pm.rand(2, 20, backend=backend))
    return net


def _assert_sd_equal(a, b):
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("target", ALL)
def test_round_trip_between_backends(backend, target, tmp_path):
    src = _trained(backend, seed=1)
    path = tmp_path / "model.safetensors"
    pm.save(src, path)
    X = pm.rand(2, 20, backend="numpy")
    dst = _chimera(seed=2)  # different initial weights
    dst(pm.rand(2, 20, backend=target))
    result = pm.load(dst, path)
    assert result.missing_keys == [] and result.unexpected_keys == []
    _assert_sd_equal(dst.state_dict(), src.state_dict())
    assert_same_numbers(dst(pm.asarray(X, backend=target)), src(pm.asarray(X, backend=backend)))
    assert not any(name.startswith(".polymod-") for name in os.listdir(tmp_path))


def test_file_format_header(tmp_path):
    net = _trained("numpy")
    path = tmp_path / "m.safetensors"
    pm.save(net, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"]["format_version"] == "1"
    assert header["__metadata__"]["layout"] == "torch"
    assert header["0.net.0.weight"]["shape"] == [64, 20]
    assert header["0.net.0.weight"]["dtype"] == "F32"
    from safetensors.numpy import load_file

    loaded = load_file(str(path))
    _assert_sd_equal({k: loaded[k] for k in net.state_dict()}, net.state_dict())


def test_save_overwrites_atomically(tmp_path):
    path = tmp_path / "m.safetensors"
    pm.save(_trained("numpy", seed=1), path)
    second = _trained("numpy", seed=2)
    pm.save(second, path)
    assert os.listdir(tmp_path) == ["m.safetensors"]
    fresh = _trained("numpy", seed=3)
    pm.load(fresh, path)
    _assert_sd_equal(fresh.state_dict(), second.state_dict())


def test_save_lazy_model_is_refused(tmp_path):
    with pytest.raises(pm.UninitializedParameterError, match="still lazy"):
        pm.save(_chimera(), tmp_path / "m.safetensors")
    assert os.listdir(tmp_path) == []


def test_load_into_lazy_model_materialises_shapes(backend, tmp_path):
    src = _trained("numpy", seed=4)
    path = tmp_path / "m.safetensors"
    pm.save(src, path)
    dst = _chimera(seed=5)
    pm.load(dst, path)
    assert dst.backend is None  # still unbound: runs on whichever backend comes first
    assert {n: p.shape for n, p in dst.named_parameters()} == {
        n: p.shape for n, p in src.named_parameters()}
    X = pm.rand(2, 20, backend="numpy")
    out = dst(pm.asarray(X))
    assert isinstance(out, native_types(backend)) and dst.backend == backend
    _assert_sd_equal(dst.state_dict(), src.state_dict())
    assert_same_numbers(out, src(X))


def test_load_state_dict_strict_false_reports_missing_and_unexpected(backend):
    net = _trained(backend)
    sd = net.state_dict()
    before = net.state_dict()
    partial = {k: v + 1 for k, v in sd.items() if not k.startswith("1.")}
    partial["extra.weight"] = np.zeros(3, np.float32)
    result = net.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["1.weight", "1.bias"]
    assert result.unexpected_keys == ["extra.weight"]
    missing, unexpected = result  # a (missing, unexpected) pair, as in PyTorch
    after = net.state_dict()
    assert np.array_equal(after["1.weight"], before["1.weight"])
    assert np.array_equal(after["0.linear.bias"], before["0.linear.bias"] + 1)


def test_load_strict_false_from_file(tmp_path):
    small = nn.Sequential(nn.Linear(3, 4))
    pm.save(small, tmp_path / "small.safetensors")
    big = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    result = pm.load(big, tmp_path / "small.safetensors", strict=False)
    assert result.missing_keys == ["1.weight", "1.bias"] and result.unexpected_keys == []
    assert np.array_equal(big.state_dict()["0.weight"], small.state_dict()["0.weight"])


def _write(path, arrays, metadata=None):
    from safetensors.numpy import save_file

    save_file(arrays, str(path), metadata=metadata)


BAD = ["missing_key", "unexpected_key", "shape", "dtype", "truncated", "random_bytes",
       "empty_file", "no_file", "several"]


def _bad_file(case, sd, path):
    sd = {k: v.copy() for k, v in sd.items()}
    if case == "missing_key":
        del sd["1.bias"]
    elif case == "unexpected_key":
        sd["1.extra"] = np.zeros(2, np.float32)
    elif case == "shape":
        sd["1.weight"] = np.zeros((3, 3), np.float32)
    elif case == "dtype":
        sd["1.weight"] = sd["1.weight"].astype(np.int32)
    elif case == "several":
        del sd["1.bias"]
        sd["1.weight"] = np.zeros((3, 3), np.float32)
        sd["x"] = np.zeros(1, np.float32)
    if case in ("random_bytes", "empty_file"):
        path.write_bytes(b"" if case == "empty_file" else
                         np.random.default_rng(0).bytes(4096))
        return {}
    if case == "no_file":
        return {}
    _write(path, sd)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    return {"missing_key": ["missing '1.bias'"], "unexpected_key": ["unexpected '1.extra'"],
            "shape": ["'1.weight': shape (3, 3)"], "dtype": ["'1.weight': dtype int32"],
            "several": ["missing '1.bias'", "unexpected 'x'", "'1.weight': shape (3, 3)",
                        "3 problems"]}.get(case, [])


@pytest.mark.parametrize("case", BAD)
def test_bad_file_raises_and_leaves_model_unchanged(backend, case, tmp_path):
    net = _trained(backend)
    path = tmp_path / f"{case}.safetensors"
    expected = _bad_file(case, net.state_dict(), path)
    before = net.state_dict()
    X = pm.rand(2, 20)
    y = pm.to_numpy(net(X))
    with pytest.raises(pm.WeightsFileError) as info:
        pm.load(net, path)
    text = str(info.value)
    assert str(path) in text, text
    for part in expected:
        assert part in text, (part, text)
    assert isinstance(info.value, ValueError)
    _assert_sd_equal(net.state_dict(), before)
    assert np.array_equal(pm.to_numpy(net(X)), y)


def test_bad_state_dict_reports_all_problems_at_once():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = net.state_dict()
    bad = dict(before)
    bad["0.weight"] = np.zeros((5, 5), np.float32)
    bad["1.bias"] = "not an array"
    with pytest.raises(pm.WeightsFileError) as info:
        net.load_state_dict(bad)
    text = str(info.value)
    assert "'0.weight': shape (5, 5)" in text and "'1.bias': not an array" in text
    assert "the model is unchanged" in text
    _assert_sd_equal(net.state_dict(), before)


# -- native weights --------------------------------------------------------------------------
def test_load_native_torch_state_dict_and_module():
    torch = pytest.importorskip("torch")
    native = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(),
                                 torch.nn.Linear(256, 10))
    X = torch.rand(2, 20)
    net = LISTINGS["sequential_mlp"]()
    result = pm.load_native(net, native.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert_same_numbers(net(X), native(X).detach())
    other = LISTINGS["sequential_mlp"]()
    pm.load_native(other, native)  # the module itself
    assert_same_numbers(other(X), native(X).detach())


def test_load_native_keras_model_transposes_kernels():
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    native = keras.Sequential([keras.Input((20,)), keras.layers.Dense(256, activation="relu"),
                               keras.layers.Dense(10)])
    X = np.random.default_rng(0).random((2, 20), dtype=np.float32)
    net = LISTINGS["sequential_mlp"]()
    pm.load_native(net, native)
    assert net.state_dict()["0.weight"].shape == (256, 20)
    np.testing.assert_array_equal(net.state_dict()["0.weight"],
                                  native.layers[0].kernel.numpy().T)
    assert_same_numbers(net(pm.asarray(X, backend="keras")), native(X))
    with pytest.raises(pm.WeightsFileError, match="it has 4 weights"):
        pm.load_native(nn.Sequential(nn.Linear(20, 10)), native)


@needs("gluon")
def test_load_native_gluon_block():
    pm.rand(1, backend="gluon")  # the adapter imports mxnet (NumPy alias shim)
    import mxnet as mx
    from mxnet import np as mnp
    from mxnet.gluon import nn as gnn

    native = gnn.Sequential()
    native.add(gnn.Dense(256, in_units=20, activation="relu"), gnn.Dense(10, in_units=256))
    native.initialize(mx.init.Uniform(0.5))
    X = mnp.random.uniform(size=(2, 20))
    net = LISTINGS["sequential_mlp_gluon_style"]()
    pm.load_native(net, native)
    assert_same_numbers(net(X), native(X))
    params = list(native.collect_params().values())
    np.testing.assert_array_equal(net.state_dict()["0.weight"], params[0].data().asnumpy())


def test_load_native_rejects_unknown_objects():
    with pytest.raises(TypeError, match="load_native expects"):
        pm.load_native(nn.Linear(2, 2), object())
