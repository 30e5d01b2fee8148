"""ConvTranspose1d/2d and ops.conv_transpose against torch on every backend (outputs,
input and weight gradients), depthwise Conv2d with gradients, odd inputs alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_same_numbers
from layer_check import check_layer, torch_state
from op_check import check_op

import polymod as pm
from polymod import nn, ops, registry

RNG = np.random.RandomState(0)
X2 = RNG.randn(2, 4, 5, 6).astype(np.float32)
X1 = RNG.randn(2, 4, 7).astype(np.float32)

CONVT2D = {
    "plain": dict(kernel_size=3),
    "upsample_k4_s2_p1": dict(kernel_size=4, stride=2, padding=1),
    "stride2_pad1_outpad1": dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    "groups_dilation": dict(kernel_size=3, groups=2, dilation=2, padding=1),
    "rect": dict(kernel_size=(2, 3), stride=(2, 1), padding=(0, 1), output_padding=(1, 0)),
    "depthwise_nobias": dict(kernel_size=3, stride=2, groups=4, bias=False),
    "dilated_outpad": dict(kernel_size=2, dilation=3, output_padding=2, padding=2),
}
CONVT1D = {
    "plain": dict(kernel_size=3),
    "stride_pad_outpad": dict(kernel_size=5, stride=3, padding=2, output_padding=2),
    "groups_dilation": dict(kernel_size=2, groups=2, dilation=2),
}


@pytest.mark.parametrize("config", sorted(CONVT2D))
def test_conv_transpose2d_matches_torch(backend, config):
    kw = CONVT2D[config]
    out = 8 if kw.get("groups", 1) != 4 else 4
    check_layer(lambda: nn.ConvTranspose2d(4, out, **kw),
                lambda: torch.nn.ConvTranspose2d(4, out, **kw), X2, backend, rtol=1e-5,
                atol=1e-5)


@pytest.mark.parametrize("config", sorted(CONVT1D))
def test_conv_transpose1d_matches_torch(backend, config):
    kw = CONVT1D[config]
    check_layer(lambda: nn.ConvTranspose1d(4, 6, **kw),
                lambda: torch.nn.ConvTranspose1d(4, 6, **kw), X1, backend, rtol=1e-5,
                atol=1e-5)


def test_functional_conv_transpose_matches_torch(backend):
    w = RNG.randn(4, 3, 3, 2).astype(np.float32)
    b = RNG.randn(6).astype(np.float32)
    check_op(lambda x, w, b: ops.conv_transpose(x, w, b, stride=(2, 1), padding=1, groups=2,
                                                output_padding=(1, 0)),
             lambda x, w, b: torch.nn.functional.conv_transpose2d(
                 x, w, b, stride=(2, 1), padding=1, groups=2, output_padding=(1, 0)),
             [X2, w, b], backend, rtol=1e-5, atol=1e-5)


def test_output_size_argument_as_torch(backend):
    pm.seed(0)
    layer = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    twin = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    twin.load_state_dict(torch_state(layer.state_dict()))
    expected = twin(torch.from_numpy(X2), output_size=[10, 12])
    got = layer(pm.asarray(X2), output_size=(10, 12))
    assert_same_numbers(got, expected.detach(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not reachable"):
        layer(pm.asarray(X2), output_size=(13, 12))


def test_default_init_is_torch_scheme_and_backend_independent():
    states = {}
    for name in pm.available_backends():  # the installed ones
        pm.seed(3)
        states[name] = nn.ConvTranspose2d(4, 6, 3, groups=2).to(name).state_dict()
    for sd in states.values():
        for key in sd:
            np.testing.assert_array_equal(sd[key], states["numpy"][key])
    bound = 1 / np.sqrt(3 * 9)  # torch's fan_in: weight.size(1) * kernel = out/groups * 9
    assert np.abs(states["numpy"]["weight"]).max() <= bound
    assert np.abs(states["numpy"]["bias"]).max() <= bound
    assert states["numpy"]["weight"].shape == (4, 3, 3, 3)


def test_conv_transpose_errors_name_the_problem():
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="groups"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="4 input channels"):
        nn.ConvTranspose2d(4, 6, 3)(pm.rand(1, 3, 5, 5, backend="numpy"))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.ConvTranspose1d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_padding"):
        ops.conv_transpose(pm.rand(1, 2, 3, backend="numpy"), pm.rand(2, 1, 2, backend="numpy"),
                           output_padding=1)
    assert repr(nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False)) == (
        "ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(2, 2), bias=False)")


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_conv_transpose_on_an_empty_batch(backend):
    for layer, shape in [(nn.ConvTranspose2d(4, 2, 3, stride=2), (0, 4, 5, 5)),
                         (nn.ConvTranspose1d(4, 2, 3, groups=2), (0, 4, 6))]:
        out = pm.to_numpy(layer(pm.zeros(*shape)))
        assert out.shape[0] == 0 and out.ndim == len(shape)
        _, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(layer, pm.zeros(*shape))
        assert all(not pm.to_numpy(g).any() for g in grads.values())


def test_conv_transpose_keeps_nan_local(backend):
    x = X2.copy()
    x[0, 1, 2, 3] = np.nan
    w = RNG.randn(4, 2, 3, 3).astype(np.float32)
    check_op(lambda x, w: ops.conv_transpose(x, w, stride=2), lambda x, w:
             torch.nn.functional.conv_transpose2d(x, w, stride=2), [x, w], backend,
             grads=False, rtol=1e-5, atol=1e-5)


@pytest.mark.backends("keras")
def test_keras_conv_transpose_gradients_inside_tf_function(backend):
    import tensorflow as tf

    pm.seed(0)
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, dilation=2, padding=1).to("keras")

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) ** 2)
        return tape.gradient(loss, [x, layer.weight])

    gx, gw = step(tf.constant(X2))
    twin = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, dilation=2, padding=1)
    twin.load_state_dict(torch_state(layer.state_dict()))
    xt = torch.tensor(X2, requires_grad=True)
    (twin(xt) ** 2).sum().backward()
    assert_same_numbers(gx, xt.grad, rtol=1e-4, atol=1e-4)
    assert_same_numbers(gw, twin.weight.grad, rtol=1e-4, atol=1e-4)


# -- depthwise convolution (MobileNet's), with gradients -------------------------------------
@pytest.mark.parametrize("kw", [dict(stride=1, padding=1), dict(stride=2, padding=1),
                                dict(stride=2, padding=1, bias=False)],
                         ids=["s1", "s2", "s2_nobias"])
def test_depthwise_conv2d_matches_torch(backend, kw):
    check_layer(lambda: nn.Conv2d(4, 4, 3, groups=4, **kw),
                lambda: torch.nn.Conv2d(4, 4, 3, groups=4, **kw), X2, backend, rtol=1e-5,
                atol=1e-5)


@pytest.mark.backends("keras")
def test_keras_conv_transpose_with_unknown_sizes_in_a_graph(backend):
    import tensorflow as tf

    pm.seed(0)
    layer = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1).to("keras")
    step = tf.function(lambda x: layer(x),
                       input_signature=[tf.TensorSpec((None, 4, None, None), tf.float32)])
    twin = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    twin.load_state_dict(torch_state(layer.state_dict()))
    assert_same_numbers(step(tf.constant(X2)), twin(torch.from_numpy(X2)).detach(), rtol=1e-5,
                        atol=1e-5)
