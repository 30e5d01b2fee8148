"""Convolution and pooling layers, LeNet and the ResNet block, against torch.nn.

PyTorch is the oracle (tests/layer_check.py): the polymod layer's weights load into the
torch layer strictly; outputs and input/parameter gradients are compared on every
backend (gradients on the frameworks).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_same_numbers
from layer_check import check_layer, torch_state

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples import vision

RNG = np.random.RandomState(0)
X2 = RNG.randn(2, 4, 9, 9).astype(np.float32)
X1 = RNG.randn(2, 4, 11).astype(np.float32)

CONV2D = {
    "plain": dict(kernel_size=3),
    "stride2_pad1": dict(kernel_size=3, stride=2, padding=1),
    "groups_dilation_same": dict(kernel_size=3, groups=2, dilation=2, padding="same"),
    "even_kernel_same": dict(kernel_size=4, padding="same"),
    "depthwise_nobias": dict(kernel_size=3, groups=4, bias=False),
    "rect_valid": dict(kernel_size=(3, 1), stride=(2, 1), padding="valid"),
    "rect_pad": dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
}
CONV1D = {
    "plain": dict(kernel_size=3),
    "stride_pad_dilation": dict(kernel_size=3, stride=2, padding=2, dilation=2),
    "same_even_groups": dict(kernel_size=4, padding="same", groups=2),
}


# the torch oracle warns that it copies the input for an even kernel with 'same'
SAME_WARNING = "ignore:Using padding='same' with even kernel:UserWarning"


@pytest.mark.filterwarnings(SAME_WARNING)
@pytest.mark.parametrize("config", sorted(CONV2D))
def test_conv2d_matches_torch(backend, config):
    kw = CONV2D[config]
    check_layer(lambda: nn.Conv2d(4, 8, **kw), lambda: torch.nn.Conv2d(4, 8, **kw), X2, backend)


# More output channels than output positions (the late layers of a ResNet at batch 1):
# Keras computes these as one matmul with the input's windows instead of a conv.
WIDE = {
    "pointwise": dict(kernel_size=1),
    "pointwise_stride2": dict(kernel_size=1, stride=2),
    "3x3_pad1": dict(kernel_size=3, padding=1),
    "3x3_stride2_pad1_dilation2": dict(kernel_size=3, stride=2, padding=1, dilation=2),
    "rect_pad": dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0)),
}
X_SMALL = RNG.randn(1, 4, 5, 5).astype(np.float32)


@pytest.mark.parametrize("config", sorted(WIDE))
def test_wide_conv2d_matches_torch(backend, config):
    kw = WIDE[config]
    check_layer(lambda: nn.Conv2d(4, 64, **kw), lambda: torch.nn.Conv2d(4, 64, **kw), X_SMALL,
                backend)


def test_wide_pointwise_conv1d_matches_torch(backend):
    check_layer(lambda: nn.Conv1d(4, 32, 1), lambda: torch.nn.Conv1d(4, 32, 1), X1, backend)


@pytest.mark.filterwarnings(SAME_WARNING)
@pytest.mark.parametrize("config", sorted(CONV1D))
def test_conv1d_matches_torch(backend, config):
    kw = CONV1D[config]
    check_layer(lambda: nn.Conv1d(4, 6, **kw), lambda: torch.nn.Conv1d(4, 6, **kw), X1, backend)


def test_lazy_conv_becomes_conv(backend):
    conv2, conv1 = nn.LazyConv2d(5, 3, padding=1), nn.LazyConv1d(5, 3)
    assert type(conv2) is nn.Conv2d and type(conv1) is nn.Conv1d
    assert tuple(conv2(pm.asarray(X2)).shape) == (2, 5, 9, 9)
    assert tuple(conv1(pm.asarray(X1)).shape) == (2, 5, 9)
    assert conv2.in_channels == 4 and conv2.weight.shape == (5, 4, 3, 3)


def test_default_init_is_torch_scheme_and_backend_independent():
    weights = {}
    for name in pm.available_backends():  # the installed ones
        pm.seed(3)
        conv = nn.Conv2d(4, 8, 3, groups=2).to(name)
        weights[name] = conv.state_dict()
    for sd in weights.values():
        for key in sd:
            np.testing.assert_array_equal(sd[key], weights["numpy"][key])
    bound = 1 / np.sqrt(2 * 9)  # fan_in = in/groups * kh * kw; kaiming(a=sqrt 5) -> 1/sqrt(fan)
    assert np.abs(weights["numpy"]["weight"]).max() <= bound
    assert np.abs(weights["numpy"]["bias"]).max() <= bound


POOLS = {
    "max2": (nn.MaxPool2d, torch.nn.MaxPool2d, (2,), {}),
    "max3_s2_p1": (nn.MaxPool2d, torch.nn.MaxPool2d, (3, 2, 1), {}),
    "avg2": (nn.AvgPool2d, torch.nn.AvgPool2d, (2,), {}),
    "avg3_s2_p1": (nn.AvgPool2d, torch.nn.AvgPool2d, (3, 2, 1), {}),
    "avg_rect": (nn.AvgPool2d, torch.nn.AvgPool2d, ((3, 2), (1, 2), (1, 0)), {}),
    "adaptive_1": (nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, ((1, 1),), {}),
    "adaptive_3": (nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, (3,), {}),
    "adaptive_uneven": (nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, ((4, 2),), {}),
}


@pytest.mark.parametrize("config", sorted(POOLS))
def test_pooling_matches_torch(backend, config):
    ours, theirs, args, kw = POOLS[config]
    check_layer(lambda: ours(*args, **kw), lambda: theirs(*args, **kw), X2, backend)


def test_max_pool_nan_propagates_like_torch(backend):
    x = X2.copy()
    x[0, 0, 0, 0] = np.nan
    x[1, 2, 4, 5] = np.nan
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 1)
    got = nn.MaxPool2d(3, 2, 1)(pm.asarray(x))
    assert_same_numbers(got, expected)
    assert_same_numbers(ops.max_pool2d(pm.asarray(x), 3, 2, 1), expected)


def test_functional_conv_and_pool(backend):
    w = RNG.randn(8, 2, 3, 3).astype(np.float32)
    expected = torch.nn.functional.conv2d(torch.from_numpy(X2), torch.from_numpy(w),
                                          stride=2, padding=1, groups=2)
    got = ops.conv(pm.asarray(X2), pm.asarray(w), None, stride=2, padding=1, groups=2)
    assert_same_numbers(got, expected, rtol=1e-4, atol=1e-5)
    assert_same_numbers(ops.avg_pool2d(pm.asarray(X2), 2),
                        torch.nn.functional.avg_pool2d(torch.from_numpy(X2), 2))


def test_conv_errors_name_the_problem():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="3 input channels"):
        conv(pm.rand(1, 2, 5, 5, backend="torch"))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="'same'"):
        nn.Conv2d(4, 6, 3, stride=2, padding="same")


@pytest.mark.backends("keras")
def test_keras_conv_gradients_inside_tf_function(backend):
    import tensorflow as tf

    pm.seed(0)
    conv = nn.Conv2d(4, 8, 3, groups=2, dilation=2, padding=2).to("keras")
    x = tf.constant(X2)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(conv(x) ** 2)
        return tape.gradient(loss, [x, conv.weight])

    gx, gw = step(x)
    twin = torch.nn.Conv2d(4, 8, 3, groups=2, dilation=2, padding=2)
    twin.load_state_dict(torch_state(conv.state_dict()))
    xt = torch.tensor(X2, requires_grad=True)
    (twin(xt) ** 2).sum().backward()
    assert_same_numbers(gx, xt.grad, rtol=1e-4, atol=1e-4)
    assert_same_numbers(gw, twin.weight.grad, rtol=1e-4, atol=1e-4)


# -- LeNet and the ResNet block against native PyTorch versions -----------------------------
def torch_lenet():
    tn = torch.nn
    return tn.Sequential(
        tn.LazyConv2d(6, kernel_size=5, padding=2), tn.Sigmoid(),
        tn.AvgPool2d(kernel_size=2, stride=2),
        tn.LazyConv2d(16, kernel_size=5), tn.Sigmoid(),
        tn.AvgPool2d(kernel_size=2, stride=2),
        tn.Flatten(),
        tn.LazyLinear(120), tn.Sigmoid(),
        tn.LazyLinear(84), tn.Sigmoid(),
        tn.LazyLinear(10))


class TorchLeNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch_lenet()

    def forward(self, X):
        return self.net(X)


class TorchResidual(torch.nn.Module):  # the book's listing (section 8.6)
    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        tn = torch.nn
        self.conv1 = tn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = tn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        self.conv3 = tn.LazyConv2d(num_channels, kernel_size=1, stride=strides) \
            if use_1x1conv else None
        self.bn1 = tn.LazyBatchNorm2d()
        self.bn2 = tn.LazyBatchNorm2d()

    def forward(self, X):
        Y = torch.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return torch.relu(Y)


def torch_small_resnet():
    tn = torch.nn
    return tn.Sequential(
        tn.LazyConv2d(16, kernel_size=7, stride=2, padding=3), tn.LazyBatchNorm2d(),
        tn.ReLU(), tn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        TorchResidual(16), TorchResidual(32, use_1x1conv=True, strides=2),
        tn.AdaptiveAvgPool2d((1, 1)), tn.Flatten(), tn.LazyLinear(10))


XL = RNG.rand(2, 1, 28, 28).astype(np.float32)
XR = RNG.randn(2, 3, 12, 12).astype(np.float32)
MODELS = {
    "lenet": (vision.LeNet, TorchLeNet, XL),
    "residual": (lambda: vision.Residual(3), lambda: TorchResidual(3), XR),
    "residual_1x1": (lambda: vision.Residual(6, True, 2), lambda: TorchResidual(6, True, 2), XR),
    "small_resnet": (vision.small_resnet, torch_small_resnet, XR),
}
# Biases of the convolutions that feed a BatchNorm: exactly zero gradient in training mode.
ZERO_GRADS = {
    "residual": ("conv1.bias", "conv2.bias"), "residual_1x1": ("conv1.bias", "conv2.bias"),
    "small_resnet": ("0.bias", "4.conv1.bias", "4.conv2.bias", "5.conv1.bias", "5.conv2.bias"),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_matches_native_torch(backend, model, train):
    ours, theirs, x = MODELS[model]
    check_layer(ours, theirs, x, backend, train=train, rtol=1e-4, atol=1e-5,
                zero_grads=ZERO_GRADS.get(model, ()))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_native_state_dict_loads_strictly(model):
    ours, theirs, x = MODELS[model]
    native = theirs()
    native(torch.from_numpy(x))  # materialise, one training step of the running statistics
    net = ours()
    net.load_state_dict({k: v.numpy() for k, v in native.state_dict().items()}, strict=True)
    native.eval()
    net.eval()
    assert_same_numbers(net(pm.asarray(x, backend="torch")), native(torch.from_numpy(x)),
                        rtol=1e-4, atol=1e-5)


def test_lenet_eager_has_the_book_shapes():
    net = vision.lenet_eager()
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert shapes["0.weight"] == (6, 1, 5, 5) and shapes["3.weight"] == (16, 6, 5, 5)
    assert shapes["7.weight"] == (120, 400) and shapes["11.weight"] == (10, 84)


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_empty_batch_through_conv_models_same_on_every_backend(backend):
    """MXNet fails asynchronously and TF refuses on an empty batch: the adapters guard it."""
    from polymod.examples.vision import LeNet

    pm.seed(0)
    net = LeNet()
    X = pm.zeros(0, 1, 28, 28)
    assert pm.to_numpy(net(X)).shape == (0, 10)
    for layer, shape in [(nn.Conv2d(4, 4, 3, groups=2, dilation=2), (0, 4, 7, 7)),
                         (nn.MaxPool2d(2), (0, 2, 4, 4)), (nn.AvgPool2d(2), (0, 2, 4, 4))]:
        out = pm.to_numpy(layer(pm.zeros(*shape)))
        assert out.shape[0] == 0 and out.ndim == 4
    _, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, X)
    assert all(not pm.to_numpy(g).any() for g in grads.values())
    if backend == "gluon":  # nothing left failing in MXNet's engine
        import mxnet as mx

        mx.nd.waitall()
