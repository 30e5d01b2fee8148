"""The input policy (docs/input-policy.md): one outcome per kind of input, on every backend.

Each test runs once per backend (the ``backend`` fixture of polymod's pytest plugin):
dtypes, ranks, an empty batch, NaN/Inf, devices, foreign and non-tensor input.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import stored_dtype

import polymod as pm
from polymod import nn, ops, registry

FEATURES = 4


def make_net() -> pm.Module:
    pm.seed(0)
    return nn.Sequential(nn.Linear(FEATURES, 3), nn.ReLU(), nn.Linear(3, 2))


def reference(x: np.ndarray) -> np.ndarray:
    """The NumPy backend's answer (float32)."""
    with pm.use_backend("numpy"):
        return make_net()(np.asarray(x, np.float32))


def native(x: np.ndarray, backend: str):
    """A native tensor of ``backend`` holding exactly ``x`` (its dtype kept)."""
    return pm.registry.adapter(backend).from_numpy(np.asarray(x))


def data(*shape: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


# -- dtypes -------------------------------------------------------------------------------
def test_float64_numpy_input_is_cast_to_float32(backend):
    x = data(2, FEATURES)
    out = make_net()(x.astype(np.float64))
    assert pm.backend_of(out) == backend
    assert pm.to_numpy(out).dtype == np.float32
    pm.testing.assert_close(out, reference(x))


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_float_framework_tensor_is_a_type_error(backend, dtype):
    x = data(2, FEATURES).astype(dtype)
    net = make_net()
    if backend == "numpy":  # a NumPy array is data on every backend: cast, never refused
        assert pm.to_numpy(net(x)).dtype == np.float32
        return
    if stored_dtype(backend, dtype) == np.float32:  # JAX without x64: float64 data is float32
        assert pm.to_numpy(net(native(x, backend))).dtype == np.float32
        return
    with pytest.raises(pm.BackendTypeError) as info:
        net(native(x, backend))
    message = str(info.value)
    assert dtype in message and "float32" in message and "ops.cast(x, 'float32')" in message
    assert "(in module '0')" in message
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_bool_numpy_input_is_a_type_error(backend, dtype):
    x = np.ones((2, FEATURES), dtype)
    with pytest.raises(pm.BackendTypeError) as info:
        make_net()(x)
    message = str(info.value)
    assert "expects float input" in message and dtype in message
    assert "astype('float32')" in message


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_bool_framework_tensor_is_a_type_error(backend, dtype):
    x = np.ones((2, FEATURES), dtype)
    data_in = x if backend == "numpy" else native(x, backend)
    with pytest.raises(pm.BackendTypeError) as info:
        make_net()(data_in)
    message = str(info.value)
    stored = dtype if backend == "numpy" else str(stored_dtype(backend, dtype))
    assert stored in message and "float" in message


# -- ranks and sizes ----------------------------------------------------------------------
def test_1d_input_is_one_sample_without_batch_dimension(backend):
    x = data(FEATURES)
    out = make_net()(pm.asarray(x))
    assert tuple(pm.to_numpy(out).shape) == (2,)
    pm.testing.assert_close(out, reference(x[None])[0])


@pytest.mark.parametrize("lead", [(3, 2), (2, 1, 2)])
def test_extra_leading_dimensions_are_batch_dimensions(backend, lead):
    x = data(*lead, FEATURES)
    out = make_net()(pm.asarray(x))
    assert tuple(pm.to_numpy(out).shape) == (*lead, 2)
    pm.testing.assert_close(out, reference(x.reshape(-1, FEATURES)).reshape(*lead, 2))


def test_empty_batch_gives_an_empty_output(backend):
    out = make_net()(pm.asarray(np.zeros((0, FEATURES), np.float32)))
    assert pm.backend_of(out) == backend
    result = pm.to_numpy(out)
    assert result.shape == (0, 2) and result.dtype == np.float32


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_empty_batch_gradients_are_zero(backend):
    net = make_net()
    loss, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(
        net, pm.asarray(np.zeros((0, FEATURES), np.float32)))
    assert float(pm.to_numpy(loss)) == 0.0
    assert sorted(grads) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    for name, grad in grads.items():
        assert not pm.to_numpy(grad).any(), name


def test_scalar_input_is_a_shape_error(backend):
    with pytest.raises(pm.ShapeError, match="at least 1 dimension"):
        make_net()(pm.asarray(np.float32(1.0)))


def test_wrong_feature_count_is_a_shape_error(backend):
    with pytest.raises(pm.ShapeError) as info:
        make_net()(pm.asarray(data(2, FEATURES + 1)))
    assert "4 features" in str(info.value) and "(2, 5)" in str(info.value)
    assert isinstance(info.value, ValueError)


# -- NaN and Inf ----------------------------------------------------------------------------
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3e38, -3e38, 1e-45, 88.8, -88.8,
                    20.0, -20.0], np.float32)


@pytest.mark.parametrize("layer", ["ReLU", "Sigmoid", "Tanh", "GELU", "Identity", "Softmax"])
def test_nan_and_inf_through_activations_match_the_reference(backend, layer):
    out = pm.to_numpy(getattr(nn, layer)()(pm.asarray(SPECIAL[None])))
    with pm.use_backend("numpy"):
        expected = getattr(nn, layer)()(SPECIAL[None])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    pm.testing.assert_close(out, expected, rtol=1e-6, atol=1e-7)


def test_nan_and_inf_through_a_model_match_the_reference(backend):
    x = data(3, FEATURES)
    x[0, 1], x[1, 2], x[2, 3] = np.nan, np.inf, -np.inf
    out = pm.to_numpy(make_net()(pm.asarray(x)))
    expected = reference(x)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    pm.testing.assert_close(out, expected)


def test_relu_keeps_nan(backend):
    out = pm.to_numpy(nn.ReLU()(pm.asarray(np.array([np.nan, -1.0, 1.0], np.float32))))
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == 1.0


# -- devices ----------------------------------------------------------------------------
def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def test_wrong_device_tensor(backend):
    net = make_net()
    net(pm.asarray(data(1, FEATURES)))  # bound, on the CPU
    if backend == "torch":
        import torch

        x = torch.ones(2, FEATURES, device="meta")
        with pytest.raises(pm.BackendTypeError) as info:
            net(x)
        message = str(info.value)
        assert "'cpu'" in message and "'meta'" in message and "x.to('cpu')" in message
        assert "(in module '0')" in message
    elif backend == "keras":
        # TensorFlow copies tensors between devices itself: a tensor placed explicitly
        # on a CPU device is simply used (there is no wrong-device error to raise)
        import tensorflow as tf

        with tf.device("/CPU:0"):
            x = tf.constant(data(2, FEATURES))
        pm.testing.assert_close(net(x), reference(data(2, FEATURES)))
    elif backend == "gluon":
        # MXNet's CPU contexts share memory: an array on cpu(1) is used as it is
        import mxnet as mx
        from mxnet import np as mnp

        x = mnp.array(data(2, FEATURES), ctx=mx.cpu(1))
        pm.testing.assert_close(net(x), reference(data(2, FEATURES)))
    else:
        pytest.skip("NumPy arrays have no device")


@pytest.mark.backends("torch")
@pytest.mark.skipif(not _cuda(), reason="no CUDA device here")
def test_cuda_tensor_into_a_cpu_model_and_back(backend):
    import torch

    net = make_net()
    net(pm.asarray(data(1, FEATURES)))  # bound on the CPU
    with pytest.raises(pm.BackendTypeError, match="'cuda:0'"):
        net(torch.ones(2, FEATURES, device="cuda"))
    gpu_net = make_net()  # a model follows the device of its first input
    out = gpu_net(torch.from_numpy(data(2, FEATURES)).cuda())
    assert out.device.type == "cuda"
    pm.testing.assert_close(out, reference(data(2, FEATURES)))
    with pytest.raises(pm.BackendTypeError, match="'cpu'"):
        gpu_net(torch.ones(2, FEATURES))


# -- not this backend's tensor, not a tensor -----------------------------------------------
def test_another_backends_tensor_is_a_type_error(backend):
    net = make_net()
    net(pm.asarray(data(1, FEATURES)))
    frameworks = [b for b in registry.FRAMEWORKS if b != backend]
    foreign = pm.asarray(data(2, FEATURES), backend=frameworks[0])
    with pytest.raises(pm.BackendTypeError) as info:
        net(foreign)
    message = str(info.value)
    assert repr(frameworks[0]) in message and repr(backend) in message


def test_a_python_list_is_a_type_error(backend):
    net = make_net()
    net(pm.asarray(data(1, FEATURES)))
    with pytest.raises(pm.BackendTypeError, match="pm.asarray"):
        net([[1.0, 2.0, 3.0, 4.0]])
