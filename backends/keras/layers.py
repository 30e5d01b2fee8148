"""The ops behind layers: linear, convolution, pooling, dropout, activations, losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from polymod.adapter import empty_batch_safe as _empty_batch_guard

from . import layout
from .framework import tf
from .ops import _nan_where
from .tensors import dtype_of


def linear(x: Any, weight: Any, bias: Any) -> Any:
    rank = x.shape.rank
    # The MatMul op itself, not tf.matmul: that one quietly multiplies bfloat16 input by
    # float32 weights (through sparse_matmul), where torch and MXNet refuse the mix.
    if rank == 2:  # bias_add, as Keras' Dense: its gradient is one op, `+`'s is four
        out = tf.raw_ops.MatMul(a=x, b=weight, transpose_b=True)
        return out if bias is None else tf.nn.bias_add(out, bias)
    if x.dtype != weight.dtype:  # tensordot uses tf.matmul (above): refuse as MatMul does
        raise TypeError(f"linear: input dtype {x.dtype.name} differs from the weight's "
                        f"{weight.dtype.name}")
    # 1-D and batched N-D input, as torch's F.linear takes them
    out = tf.tensordot(x, weight, axes=[[rank - 1], [1]])
    return out if bias is None else out + bias


def cross_entropy(logits: Any, target: Any) -> Any:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(target, tf.int64), logits=logits))


def _dilate_kernel(w: Any, dilation: tuple) -> Any:
    """An HWIO kernel with zeros between its taps: a dilated conv as an undilated one."""
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = w.shape[axis]
        spread = tf.stack([w] + [tf.zeros_like(w)] * (d - 1), axis=axis + 1)
        new_shape = [int(n) for n in w.shape]
        new_shape[axis] = k * d
        w = tf.reshape(spread, new_shape)
        w = w[:(k - 1) * d + 1] if axis == 0 else w[:, :(k - 1) * d + 1]
    return w


def _conv2d_cpu_safe(x: Any, w: Any, stride: tuple, padding: tuple, dilation: tuple,
                     groups: int) -> Any:
    """NCHW conv built from ops whose gradients TensorFlow has on CPU (NHWC, ungrouped,
    undilated); used for the backward pass only."""
    x = tf.transpose(x, (0, 2, 3, 1))
    w = _dilate_kernel(w, dilation)
    pads = [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]
    strides = [1, stride[0], stride[1], 1]
    if groups == 1:
        y = tf.nn.conv2d(x, w, strides, pads)
    else:
        y = tf.concat([tf.nn.conv2d(a, b, strides, pads) for a, b in
                       zip(tf.split(x, groups, axis=3), tf.split(w, groups, axis=3), strict=True)], axis=3)
    return tf.transpose(y, (0, 3, 1, 2))


def _conv2d(x: Any, w: Any, stride: tuple, padding: tuple, dilation: tuple, groups: int) -> Any:
    """Forward in NCHW (native on CPU, grouped and dilated too); TensorFlow's CPU kernels
    compute conv gradients only in NHWC without groups or dilation, so the backward
    pass goes through those."""
    if x.dtype == tf.float64:  # TensorFlow's CPU conv takes NCHW in float32/16 only
        return _conv2d_cpu_safe(x, w, stride, padding, dilation, groups)
    pads = [[0, 0], [0, 0], list(padding[0]), list(padding[1])]
    nhwc_pads = [0, 0, *padding[0], *padding[1], 0, 0]
    strides = [1, 1, stride[0], stride[1]]
    plain = groups == 1 and dilation == (1, 1)

    @tf.custom_gradient
    def run(x: Any, w: Any) -> Any:
        y = tf.nn.conv2d(x, w, strides, pads, data_format="NCHW", dilations=[1, 1, *dilation])

        def grad(dy: Any) -> Any:
            if plain:
                x_t = tf.transpose(x, (0, 2, 3, 1))
                dy_t = tf.transpose(dy, (0, 2, 3, 1))
                nhwc = [1, stride[0], stride[1], 1]
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x_t), filter=w, out_backprop=dy_t, strides=nhwc,
                    padding="EXPLICIT", explicit_paddings=nhwc_pads)
                dw = tf.raw_ops.Conv2DBackpropFilter(
                    input=x_t, filter_sizes=tf.shape(w), out_backprop=dy_t, strides=nhwc,
                    padding="EXPLICIT", explicit_paddings=nhwc_pads)
                return tf.transpose(dx, (0, 3, 1, 2)), dw
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y2 = _conv2d_cpu_safe(x, w, stride, padding, dilation, groups)
            return tape.gradient(y2, [x, w], output_gradients=dy)

        return y, grad

    return run(x, w)


def _conv_as_matmul(x: Any, weight: Any, stride: tuple, padding: tuple,
                    dilation: tuple) -> Any | None:
    """An ungrouped NCHW convolution as one matmul of the (out, in·kh·kw) weight, as
    stored, with the input's windows (im2col), where that moves less data than the
    HWIO kernel copy ``tf.nn.conv2d`` needs per call; None where it does not.

    The copies compare as ``kh·kw·in·N·oh·ow`` values against ``out·in·kh·kw``: the
    windows win when ``N·oh·ow <= out``, and always for a 1×1 kernel (no windows to
    copy). In a ResNet-50 at batch 1 those are every 1×1 and every late 3×3 layer,
    whose kernel copies were most of a compiled forward pass on Keras (Keras' own
    layers store HWIO kernels). The gradients are matmuls and slices too: no NHWC
    transposes. Measured in docs/performance.md ("Keras: kernels as stored").

    In a channels-last graph (``layout.py``) the windows are taken channels-last and
    the product is one 2-D matmul over all samples' positions, between transposes that
    the graph's conversion cancels: always for a 1×1 kernel, and for larger kernels
    when there is more than one sample (the NCHW form is then one small product per
    sample)."""
    out, channels, kh, kw = (int(n) for n in weight.shape)
    batch, _, height, width = x.shape
    if height is None or width is None:
        return None
    height, width = height + sum(padding[0]), width + sum(padding[1])
    oh = (height - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (width - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    pointwise = kh == kw == 1
    if oh <= 0 or ow <= 0 or not (pointwise or (batch is not None and batch * oh * ow <= out)):
        return None
    depth = channels * kh * kw
    weight = tf.reshape(weight, (out, depth))
    if layout.active() and (pointwise or batch > 1):
        x = tf.transpose(x, (0, 2, 3, 1))
        windows = _windows(x, (kh, kw), stride, padding, dilation, (oh, ow), channels_last=True)
        y = tf.raw_ops.MatMul(a=tf.reshape(windows, (-1, depth)), b=weight, transpose_b=True)
        return tf.transpose(tf.reshape(y, (-1, oh, ow, out)), (0, 3, 1, 2))
    windows = _windows(x, (kh, kw), stride, padding, dilation, (oh, ow), channels_last=False)
    y = _weight_times_windows(weight, tf.reshape(windows, (-1, depth, oh * ow)))
    return tf.reshape(y, (-1, out, oh, ow))


def _windows(x: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
             size: tuple, channels_last: bool) -> Any:
    """im2col: the input's windows as (N, in, taps, oh, ow), or (N, oh, ow, in, taps)
    channels-last, taps in the weight's (kh, kw) order."""
    spatial = [[0, 0], list(padding[0]), list(padding[1])]
    if any(map(any, padding)):
        x = tf.pad(x, spatial + [[0, 0]] if channels_last else [[0, 0], *spatial])
    if kernel == (1, 1) and stride == (1, 1):
        return x
    taps = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows = slice(i * dilation[0], i * dilation[0] + (size[0] - 1) * stride[0] + 1,
                         stride[0])
            cols = slice(j * dilation[1], j * dilation[1] + (size[1] - 1) * stride[1] + 1,
                         stride[1])
            taps.append(x[:, rows, cols] if channels_last else x[:, :, rows, cols])
    if len(taps) == 1:
        return taps[0]
    return tf.stack(taps, axis=-1 if channels_last else 2)


@tf.custom_gradient
def _weight_times_windows(weight: Any, windows: Any) -> Any:
    """(out, depth) @ (N, depth, positions), the weight broadcast over the batch.

    TensorFlow's own gradient of a broadcast matmul forms one weight gradient per sample
    and sums them (N times the weight's size: most of a batch-16 ResNet training step);
    here it is one matmul over the batch and positions together."""
    # BatchMatMulV2 itself: tf.matmul would multiply mixed dtypes where conv2d refuses
    y = tf.raw_ops.BatchMatMulV2(x=weight, y=windows)

    def grad(dy: Any) -> tuple:
        d_windows = tf.raw_ops.BatchMatMulV2(x=weight, y=dy, adj_x=True)
        d_weight = tf.tensordot(dy, windows, axes=[[0, 2], [0, 2]])
        return d_weight, d_windows

    return y, grad


@_empty_batch_guard(lambda x: tf.zeros((1,) + tuple(x.shape[1:]), x.dtype),
                  lambda out: tf.zeros((0,) + tuple(out.shape[1:]), out.dtype))
def conv(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> Any:
    """N-d convolution (NC*), weight (out, in/groups, *kernel); ``padding`` = (lo, hi) pairs."""
    one_d = len(stride) == 1
    x = tf.convert_to_tensor(x)  # a variable read inside custom_gradient would need care
    if one_d:  # NCW as NCHW with H = 1
        x = tf.expand_dims(x, 2)
        weight = tf.expand_dims(weight, 2)
        stride, padding, dilation = (1, *stride), ((0, 0), *padding), (1, *dilation)
    padding = tuple(tuple(p) for p in padding)
    stride, dilation = tuple(stride), tuple(dilation)
    y = _conv_as_matmul(x, weight, stride, padding, dilation) if groups == 1 else None
    if y is None:
        w = tf.transpose(weight, (2, 3, 1, 0))  # (out, in, kh, kw) -> HWIO
        y = _conv2d(x, w, stride, padding, dilation, groups)
    if bias is not None:
        y = tf.nn.bias_add(y, bias, data_format="NCHW")
    return tf.squeeze(y, 2) if one_d else y


def _pad_nchw(x: Any, padding: tuple, value: float) -> Any:
    if not any(padding):
        return x
    return tf.pad(x, [[0, 0], [0, 0], [padding[0]] * 2, [padding[1]] * 2],
                  constant_values=value)


def _avg_pool_nchw(x: Any, kernel: tuple, stride: tuple) -> Any:
    if x.dtype == tf.float32:
        return tf.nn.avg_pool2d(x, kernel, stride, "VALID", data_format="NCHW")
    # TensorFlow's CPU average pool takes NCHW in float32 only
    y = tf.nn.avg_pool2d(tf.transpose(x, (0, 2, 3, 1)), kernel, stride, "VALID")
    return tf.transpose(y, (0, 3, 1, 2))


def _nan_windows(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    """Which pooling windows hold a NaN (TensorFlow's max pool skips NaN; PyTorch's keeps it)."""
    nan = tf.cast(tf.math.is_nan(x), x.dtype)
    return _avg_pool_nchw(_pad_nchw(nan, padding, 0.0), kernel, stride) > 0


def max_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    # NHWC: TensorFlow's CPU max-pool gradient exists only in that layout
    xt = tf.transpose(_pad_nchw(x, padding, -np.inf), (0, 2, 3, 1))
    y = tf.transpose(tf.nn.max_pool2d(xt, kernel, stride, "VALID"), (0, 3, 1, 2))
    return _nan_where(_nan_windows(x, kernel, stride, padding), y)


def avg_pool2d(x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
    return _avg_pool_nchw(_pad_nchw(x, padding, 0.0), kernel, stride)


def dropout(x: Any, p: float) -> Any:
    if not tf.executing_eagerly():  # tf.function / fit: a fresh mask each step, from TF's RNG
        keep = tf.random.uniform(tf.shape(x), dtype=x.dtype) >= p
        return x * (tf.cast(keep, x.dtype) * (1.0 / (1.0 - p)))
    from polymod.random import dropout_mask

    return x * tf.constant(dropout_mask(tuple(x.shape), p, dtype_of(x)))


silu = tf.nn.silu


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return tf.nn.leaky_relu(x, alpha=negative_slope)


def bce_with_logits(x: Any, y: Any) -> Any:
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, x.dtype), logits=x)


def cross_entropy_per_sample(logits: Any, target: Any) -> Any:
    if logits.shape.rank != 2:  # (N, C, d...) -> class axis last
        perm = [0, *range(2, logits.shape.rank), 1]
        logits = tf.transpose(logits, perm)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(target, tf.int64),
                                                          logits=logits)


def gelu_tanh(x: Any) -> Any:
    return tf.nn.gelu(x, approximate=True)


def relu6(x: Any) -> Any:
    return tf.nn.relu6(x)  # gradient 1 only for 0 < x < 6, as PyTorch's


def softplus(x: Any, beta: float, threshold: float) -> Any:
    scaled = x * beta if beta != 1.0 else x
    # tf.nn.softplus is stable, so the unused branch cannot turn the gradient NaN
    soft = tf.nn.softplus(scaled)
    return tf.where(scaled > threshold, x, soft / beta if beta != 1.0 else soft)


def elu(x: Any, alpha: float) -> Any:
    if alpha == 1.0:
        return tf.nn.elu(x)
    # the exp of the unused branch is capped at 0, so it cannot turn the gradient NaN
    return tf.where(x > 0, x, alpha * tf.math.expm1(tf.minimum(x, 0.0)))


def _conv2d_transpose(x: Any, w: Any, stride: tuple, padding: tuple, output_padding: tuple,
                      dilation: tuple, groups: int) -> Any:
    """NCHW transposed conv, weight (in, out/groups, kh, kw): the input gradient of an
    NHWC conv (TensorFlow's CPU kernels have no NCHW, grouped or dilated form of it),
    computed unpadded, then given its output padding and cropped by ``padding``."""
    x = tf.transpose(x, (0, 2, 3, 1))
    w = _dilate_kernel(tf.transpose(w, (2, 3, 1, 0)), dilation)  # HW(out)(in)
    k = [int(n) for n in w.shape[:2]]
    dims = tf.shape(x)
    sizes = [((dims[i] if x.shape[i] is None else x.shape[i]) - 1) * s + kk
             for i, s, kk in zip((1, 2), stride, k, strict=True)]
    outs = []
    for xg, wg in zip(tf.split(x, groups, axis=3), tf.split(w, groups, axis=3), strict=True):
        shape = tf.stack([dims[0], sizes[0], sizes[1], int(wg.shape[2])])
        outs.append(tf.nn.conv2d_transpose(xg, wg, shape, [1, *stride, 1], "VALID"))
    y = outs[0] if groups == 1 else tf.concat(outs, axis=3)
    if any(output_padding):
        y = tf.pad(y, [[0, 0], [0, output_padding[0]], [0, output_padding[1]], [0, 0]])
    if any(padding):
        y = y[:, padding[0]:tf.shape(y)[1] - padding[0], padding[1]:tf.shape(y)[2] - padding[1]]
    return tf.transpose(y, (0, 3, 1, 2))


@_empty_batch_guard(lambda x: tf.zeros((1,) + tuple(x.shape[1:]), x.dtype),
                  lambda out: tf.zeros((0,) + tuple(out.shape[1:]), out.dtype))
def conv_transpose(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple,
                   output_padding: tuple, dilation: tuple, groups: int) -> Any:
    one_d = len(stride) == 1
    x = tf.convert_to_tensor(x)
    if one_d:  # NCW as NCHW with H = 1
        x, weight = tf.expand_dims(x, 2), tf.expand_dims(weight, 2)
        stride, padding = (1, *stride), (0, *padding)
        output_padding, dilation = (0, *output_padding), (1, *dilation)
    y = _conv2d_transpose(x, weight, tuple(stride), tuple(padding), tuple(output_padding),
                          tuple(dilation), groups)
    if bias is not None:
        y = tf.nn.bias_add(y, bias, data_format="NCHW")
    return tf.squeeze(y, 2) if one_d else y


def _batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                use_batch_stats: bool, factor: float, eps: float) -> tuple | None:
    """``nn.BatchNorm``'s kernel: TensorFlow's fused batch norm, whose running update is
    PyTorch's (``exponential_avg_factor``, unbiased variance). None for what it does not
    take: float64, an empty batch.

    With running statistics it runs NCHW (also on the CPU). With batch statistics it
    runs NHWC between two transposes (which cancel in channels-last graphs,
    ``layout.py``): TensorFlow's NCHW kernel on the CPU is less accurate (in a ResNet's
    first stage on non-negative input, gradients 2.5e-2 off float64, against 4e-6 for
    PyTorch and 3e-5 in NHWC; ``tests/test_regressions.py``)."""
    shape = x.shape
    if x.dtype != tf.float32 or shape[0] == 0:
        return None
    rank = len(shape)
    if rank != 4:  # (N, C) and (N, C, L) as (N, C, L, 1)
        back = tf.shape(x) if None in shape else shape
        x = tf.reshape(x, (-1, shape[1], 1 if rank == 2 else shape[2], 1))
    ones = None if weight is not None and bias is not None else tf.ones((shape[1],), x.dtype)
    scale = ones if weight is None else weight
    offset = tf.zeros_like(ones) if bias is None else bias
    stats = None
    if not use_batch_stats:
        y = _fused_bn(x, scale, offset, mean=running_mean, variance=running_var, epsilon=eps,
                      data_format="NCHW", is_training=False)[0]
    else:
        x = tf.transpose(x, (0, 2, 3, 1))
        if running_mean is None:
            y = _fused_bn(x, scale, offset, epsilon=eps, is_training=True)[0]
        else:
            y, mean, var = _fused_bn(x, scale, offset, mean=running_mean, variance=running_var,
                                     epsilon=eps, is_training=True,
                                     exponential_avg_factor=factor)
            stats = (tf.stop_gradient(mean), tf.stop_gradient(var))
        y = tf.transpose(y, (0, 3, 1, 2))
    if rank != 4:
        y = tf.reshape(y, back)
    return y, stats


_fused_bn = tf.compat.v1.nn.fused_batch_norm

#: polymod.ops name -> TensorFlow's fused kernel (the composed forms' numbers, one kernel)
FUSED: dict = {
    "batch_norm": _batch_norm,  # nn.BatchNorm1d/2d's, not an op
}
