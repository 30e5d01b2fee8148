"""ResNet-50 as each framework ships or writes it: the references of ``real_models.py``.

Nothing here imports polymod. Each builder returns the framework's own model:

* torch: torchvision's ``resnet50`` model code, imported with ``torch.library.register_fake``
  stubbed if torchvision is installed (its wheel is a CUDA build, DESIGN.md), else the
  copy of that model code in ``tests/torchvision_models.py``; it takes polymod's
  ``state_dict`` (torchvision's names), so outputs are checked equal.
* Keras: ``keras.applications.ResNet50(weights=None)``, channels-last (Keras' default,
  the layout TensorFlow's CPU kernels want), its own initial weights; also built
  channels-first (NCHW, polymod's layout) to show what that layout costs Keras itself.
* Gluon: ResNet-50 V1.5 written with ``gluon.nn`` (``HybridBlock`` blocks, the model zoo's
  bottleneck with torchvision's strides and no convolution biases), holding polymod's
  weights, so outputs are checked equal; and ``mxnet.gluon.model_zoo.vision.resnet50_v1()``
  (its own initial weights), the framework's shipped model, timed beside it.
* JAX: ResNet-50 V1.5 written in pure JAX (``lax.conv_general_dilated``, NCHW), a pure
  function of torchvision-named weights; BatchNorm uses the batch statistics in training.

The Keras and Gluon model-zoo models are ResNet V1 (stride on the first 1x1 convolution of a
downsampling block, biases on their convolutions), torchvision's and polymod's are V1.5
(stride on the 3x3): about 4 % fewer multiply-adds in V1, so they cannot hold the same
weights and their outputs are not compared.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import numpy as np

#: Blocks per stage and the width of each stage's 3x3 convolution.
STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))
BN_EPS = 1e-5


@contextlib.contextmanager
def _fake_registration_stubbed():
    """``torch.library.register_fake`` as a no-op decorator while torchvision imports."""
    import torch

    real = torch.library.register_fake
    torch.library.register_fake = lambda *a, **k: (lambda fn: fn)
    try:
        yield
    finally:
        torch.library.register_fake = real


def torch_resnet50_class() -> tuple[Any, str]:
    """``(resnet50 factory, where it comes from)``: torchvision if it imports, else the copy."""
    try:
        with _fake_registration_stubbed():
            from torchvision.models import resnet50
        return resnet50, "torchvision"
    except Exception:  # noqa: BLE001 -- not installed, or its C ops fail to load
        tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
        sys.path.insert(0, tests)
        from torchvision_models import resnet50

        return resnet50, "tests/torchvision_models.py (torchvision's model code)"


def torch_resnet50(sd: dict[str, np.ndarray], num_classes: int) -> Any:
    """torchvision's ResNet-50 holding ``sd`` (torchvision's names, NumPy arrays)."""
    import torch

    factory, _ = torch_resnet50_class()
    model = factory(num_classes=num_classes)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    return model


def keras_resnet50(size: int, num_classes: int, channels_first: bool = False) -> Any:
    """``keras.applications.ResNet50(weights=None)`` on ``size`` x ``size`` RGB: NHWC, or
    NCHW (polymod's layout) if ``channels_first`` (built under Keras' global setting)."""
    import keras

    before = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first" if channels_first else "channels_last")
    try:
        shape = (3, size, size) if channels_first else (size, size, 3)
        return keras.applications.ResNet50(weights=None, input_shape=shape,
                                           classes=num_classes, classifier_activation=None)
    finally:
        keras.config.set_image_data_format(before)


def gluon_resnet50(num_classes: int) -> Any:
    """The Gluon model zoo's ``resnet50_v1``, initialised (Xavier, as the zoo's examples)."""
    import mxnet as mx
    from mxnet.gluon.model_zoo import vision

    model = vision.resnet50_v1(classes=num_classes)
    model.initialize(mx.init.Xavier(), ctx=mx.cpu())
    return model


def gluon_resnet50_v15(sd: dict[str, np.ndarray], num_classes: int) -> Any:
    """ResNet-50 V1.5 as ``gluon.nn`` ``HybridBlock`` blocks holding ``sd`` (torchvision's names)."""
    import mxnet as mx
    from mxnet import np as mnp
    from mxnet.gluon import nn

    loads: list[tuple[Any, str]] = []

    def conv(name: str, stride: int, pad: int) -> Any:
        out, cin, k, _ = sd[f"{name}.weight"].shape
        layer = nn.Conv2D(out, k, stride, pad, in_channels=cin, use_bias=False)
        loads.append((layer, name))
        return layer

    def bn(name: str) -> Any:
        layer = nn.BatchNorm(epsilon=1e-5, momentum=0.9, in_channels=sd[f"{name}.weight"].shape[0])
        loads.append((layer, name))
        return layer

    class Bottleneck(nn.HybridBlock):
        def __init__(self, name: str, stride: int):
            super().__init__()
            with self.name_scope():
                self.conv1, self.bn1 = conv(f"{name}.conv1", 1, 0), bn(f"{name}.bn1")
                self.conv2, self.bn2 = conv(f"{name}.conv2", stride, 1), bn(f"{name}.bn2")
                self.conv3, self.bn3 = conv(f"{name}.conv3", 1, 0), bn(f"{name}.bn3")
                self.down = None
                if f"{name}.downsample.0.weight" in sd:
                    self.down = nn.HybridSequential()
                    self.down.add(conv(f"{name}.downsample.0", stride, 0),
                                  bn(f"{name}.downsample.1"))

        def hybrid_forward(self, F, x):
            y = F.npx.relu(self.bn1(self.conv1(x)))
            y = F.npx.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return F.npx.relu(y + (x if self.down is None else self.down(x)))

    class ResNet(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.conv1, self.bn1 = conv("conv1", 2, 3), bn("bn1")
                self.pool = nn.MaxPool2D(3, 2, 1)
                self.blocks = nn.HybridSequential()
                for layer, (count, stride) in enumerate(zip((3, 4, 6, 3), (1, 2, 2, 2), strict=True), 1):
                    for i in range(count):
                        self.blocks.add(Bottleneck(f"layer{layer}.{i}", stride if i == 0 else 1))
                self.fc = nn.Dense(num_classes, in_units=sd["fc.weight"].shape[1])
                loads.append((self.fc, "fc"))

        def hybrid_forward(self, F, x):
            x = self.blocks(self.pool(F.npx.relu(self.bn1(self.conv1(x)))))
            return self.fc(F.np.mean(x, axis=(2, 3)))

    model = ResNet()
    model.initialize(ctx=mx.cpu())
    for layer, name in loads:
        if isinstance(layer, nn.BatchNorm):
            for mine, theirs in (("gamma", "weight"), ("beta", "bias"),
                                 ("running_mean", "running_mean"), ("running_var", "running_var")):
                getattr(layer, mine).set_data(mnp.array(sd[f"{name}.{theirs}"]))
        else:
            layer.weight.set_data(mnp.array(sd[f"{name}.weight"]))
            if f"{name}.bias" in sd:
                layer.bias.set_data(mnp.array(sd[f"{name}.bias"]))
    return model


# -- pure JAX ----------------------------------------------------------------------------------
def jax_resnet50() -> Any:
    """``apply(params, x, train) -> logits``: ResNet-50 V1.5 in pure JAX, NCHW.

    ``params`` holds torchvision's names (``conv1.weight``, ``layer1.0.bn1.running_mean``,
    ``fc.weight``, ...). In training BatchNorm normalises with the batch statistics and
    the running statistics are left alone (a pure function).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(p, name, x, stride, pad):
        return lax.conv_general_dilated(x, p[f"{name}.weight"], (stride, stride),
                                        ((pad, pad), (pad, pad)),
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def bn(p, name, x, train):
        if train:
            mean = jnp.mean(x, axis=(0, 2, 3))
            var = jnp.var(x, axis=(0, 2, 3))
        else:
            mean, var = p[f"{name}.running_mean"], p[f"{name}.running_var"]
        scale = p[f"{name}.weight"] * lax.rsqrt(var + BN_EPS)
        shift = p[f"{name}.bias"] - mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]

    def block(p, name, x, stride, downsample, train):
        out = jax.nn.relu(bn(p, f"{name}.bn1", conv(p, f"{name}.conv1", x, 1, 0), train))
        out = jax.nn.relu(bn(p, f"{name}.bn2", conv(p, f"{name}.conv2", out, stride, 1), train))
        out = bn(p, f"{name}.bn3", conv(p, f"{name}.conv3", out, 1, 0), train)
        if downsample:
            x = bn(p, f"{name}.downsample.1", conv(p, f"{name}.downsample.0", x, stride, 0),
                   train)
        return jax.nn.relu(out + x)

    def apply(p, x, train=False):
        x = jax.nn.relu(bn(p, "bn1", conv(p, "conv1", x, 2, 3), train))
        x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2),
                              ((0, 0), (0, 0), (1, 1), (1, 1)))
        for stage, (blocks, _) in enumerate(STAGES):
            for i in range(blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                x = block(p, f"layer{stage + 1}.{i}", x, stride, i == 0, train)
        x = jnp.mean(x, axis=(2, 3))
        return x @ p["fc.weight"].T + p["fc.bias"]

    return apply
