"""The pairs ``real_models.py`` times: polymod's model and the native one, on one framework.

:func:`build` makes, for one model, batch and framework, polymod's model (seeded, bound
to the framework) and the framework's own model holding the same weights where the
architecture is the same (outputs checked equal in eval mode before timing), and
returns a :class:`Spec` whose ``candidates(mode, path)`` are the two timed callables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import native_encoder
import native_resnet
import numpy as np
import real_steps as steps

BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "pad_token_id": 0}
BERT_TINY = {**BERT_BASE, "vocab_size": 100, "hidden_size": 32, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 16}


def sizes(quick: bool, image: int, bert_layers: int) -> dict[str, dict]:
    """The models' sizes: ResNet-50 image side and classes, the encoder's configuration."""
    if quick:
        return {"resnet50": {"batches": [2], "image": 32, "classes": 10},
                "bert": {"batches": [2], "length": 8,
                         "cfg": {**BERT_TINY, "num_hidden_layers": 1}}}
    return {"resnet50": {"batches": [1, 16], "image": image, "classes": 1000},
            "bert": {"batches": [1, 8], "length": 128,
                     "cfg": {**BERT_BASE, "num_hidden_layers": bert_layers}}}


def _close(got: Any, want: Any, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    scale = max(1.0, float(np.abs(want).max()))
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-4 * scale):
        diff = np.abs(got - want).max() if got.shape == want.shape else "shapes differ"
        raise AssertionError(f"{what}: polymod and the native model differ ({diff})")


def fast_path(net: Any, backend: str) -> Any:
    """polymod's compiled model, called as the model, through the framework's compiler.

    torch: ``torch.compile`` of the twin; Keras: ``pm.compile(net)`` itself (its eval
    step is called as it is; its training step runs inside the ``tf.function`` of the
    whole step, as a user's own training loop would); JAX: ``jax.jit`` of the twin's
    pure ``apply``: what ``pm.compile(net)`` does on each backend, written out so the
    timed step can wrap it (JAX's training step is ``jax.jit`` over the twin's
    ``apply``, its documented fast path).
    """
    import polymod as pm

    twin = pm.native(net)
    if backend == "torch":
        import torch

        twin.train(net.training)  # the torch twin's own flag governs the model's mode
        return torch.compile(twin, dynamic=False)
    if backend == "keras":
        return pm.compile(net)
    if backend == "jax":
        import jax

        apply, params = jax.jit(twin.apply), twin.params
        return lambda *xs: apply(params, *xs)
    raise pm.UnsupportedError(f"no compiled path for a polymod model on {backend}")


class Spec:
    """polymod's model and the native one on ``backend``; ``label`` names the native one."""

    def __init__(self, model: str, backend: str, net: Any, call: Callable, inputs: list):
        import polymod as pm

        self.model, self.backend, self.net, self.call = model, backend, net, call
        self.pm_inputs = [pm.asarray(x, backend=backend) for x in inputs]
        self.np_inputs = inputs
        self.label: dict[str, Any] = {}
        self._compiled: dict[str, Any] = {}
        #: key -> make(training, compiled): a timed step of the framework's other model of
        #: the network (``label["also"]`` names it), set by the native builders below
        self.also: dict[str, Callable[[bool, bool], Callable]] = {}

    # the native side, set by build(): eval_fn/train_fn of the native inputs, its params
    native_inputs: list
    native_eval: Callable
    native_train: Callable
    native_params: Callable[[], Any]
    set_native_mode: Callable[[bool], None]

    def _polymod_mode(self, training: bool) -> None:
        self.net.train(training)

    def candidates(self, mode: str, path: str) -> tuple[dict[str, Callable], str]:
        """``({"native": fn, "polymod": fn}, note)`` for one row; each fn runs one call."""
        training = mode == "train"
        self._polymod_mode(training)
        self.set_native_mode(training)
        fw, note = self.backend, ""
        native_fn = self.native_train if training else self.native_eval
        if path == "eager":
            if fw == "torch":
                native = (steps.torch_train(native_fn, self.native_params(), self.native_inputs)
                          if training else steps.torch_eval(native_fn, self.native_inputs))
            elif fw == "keras":
                native = (steps.keras_train(native_fn, self.native_params(), self.native_inputs,
                                            False) if training
                          else steps.keras_eval(native_fn, self.native_inputs, False))
            elif fw == "gluon":
                native = (steps.gluon_train(native_fn, self.native_params(), self.native_inputs)
                          if training else steps.gluon_eval(native_fn, self.native_inputs))
            else:
                native = (steps.jax_train if training else steps.jax_eval)(
                    native_fn, self.native_params(), self.native_inputs, False)
            make = steps.polymod_train if training else steps.polymod_eval
            extra = self._also(training, False)
            return {"native": native,
                    "polymod": make(self.net, self.call, self.pm_inputs, fw), **extra}, note
        return self._compiled_candidates(training)

    def _also(self, training: bool, compiled: bool) -> dict[str, Callable]:
        """The framework's other models of the network, timed beside (``label["also"]``)."""
        return {key: make(training, compiled) for key, make in self.also.items()}

    def _compiled_candidates(self, training: bool) -> tuple[dict[str, Callable], str]:
        import polymod as pm

        fw = self.backend
        native_fn = self.native_train if training else self.native_eval
        if fw == "torch":
            import torch

            key = "train" if training else "eval"
            if key not in self._compiled:
                self._compiled[key] = (torch.compile(native_fn, dynamic=False),
                                       fast_path(self.net, fw))
            c_native, c_polymod = self._compiled[key]
            if training:
                twin_params = pm.native(self.net).parameters()
                return {"native": steps.torch_train(c_native, self.native_params(),
                                                    self.native_inputs),
                        "polymod": steps.torch_train(c_polymod, twin_params, self.pm_inputs)}, ""
            return {"native": steps.torch_eval(c_native, self.native_inputs),
                    "polymod": steps.torch_eval(c_polymod, self.pm_inputs)}, ""
        if fw == "keras":
            fast = fast_path(self.net, fw)
            if training:
                twin_vars = pm.native(self.net).trainable_variables
                return {"native": steps.keras_train(native_fn, self.native_params(),
                                                    self.native_inputs, True),
                        "polymod": steps.keras_train(fast, twin_vars, self.pm_inputs, True),
                        **self._also(training, True)}, ""
            return {"native": steps.keras_eval(native_fn, self.native_inputs, True),
                    "polymod": steps.keras_eval(fast, self.pm_inputs, False),  # compiled
                    **self._also(training, True)}, ""
        if fw == "gluon":
            if not self._compiled:
                self._compiled["hybridized"] = True
                self.native_block.hybridize(static_alloc=True, static_shape=True)
            note = "polymod eager: MXNet 1.9 hybridizes only hybrid_forward(F, ...) code"
            if training:
                return {"native": steps.gluon_train(native_fn, self.native_params(),
                                                    self.native_inputs),
                        "polymod": steps.polymod_train(self.net, self.call, self.pm_inputs,
                                                       fw),
                        **self._also(training, True)}, note
            return {"native": steps.gluon_eval(native_fn, self.native_inputs),
                    "polymod": steps.polymod_eval(self.net, self.call, self.pm_inputs, fw),
                    **self._also(training, True)}, note
        # JAX: jax.jit over the native pure function and over polymod's twin
        twin = pm.native(self.net)
        if training:
            return {"native": steps.jax_train(native_fn, self.native_params(),
                                              self.native_inputs, True),
                    "polymod": steps.jax_train(
                        lambda p, *xs: twin.apply(p, *xs, training=True), twin.params,
                        self.pm_inputs, True)}, ""
        fast = fast_path(self.net, fw)
        return {"native": steps.jax_eval(native_fn, self.native_params(), self.native_inputs,
                                         True),
                "polymod": lambda: __import__("jax").block_until_ready(
                    fast(*self.pm_inputs))}, ""


# -- building -------------------------------------------------------------------------------------
def build(model: str, backend: str, batch: int, size: dict) -> Spec:
    """polymod's ``model`` and the framework's own, at ``batch``, outputs checked."""
    import polymod as pm
    from polymod.examples import bert, resnet

    pm.seed(0)
    rng = np.random.default_rng(0)
    if model == "resnet50":
        x = rng.standard_normal((batch, 3, size["image"], size["image"])).astype(np.float32)
        net = resnet.resnet50(num_classes=size["classes"]).to(backend)
        spec = Spec(model, backend, net, lambda m, x: m(x), [x])
    else:
        cfg = size["cfg"]
        conf = bert.BertConfig(**{k: v for k, v in cfg.items()}, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0)
        net = bert.BertModel(conf).to(backend)
        feed = bert.bert_inputs(batch, size["length"], cfg["vocab_size"])
        inputs = [feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]]
        spec = Spec(model, backend, net, lambda m, ids, mask, types: m(ids, mask, types),
                    inputs)
    sd = {k: pm.to_numpy(v) for k, v in net.state_dict().items()}
    trainable = {name for name, _ in net.named_parameters()}
    NATIVE[(backend, model)](spec, sd, trainable, size)
    if spec.label.get("checked"):
        net.eval()
        with pm.no_grad():
            got = steps.outputs(spec.call(net, *spec.pm_inputs))
        spec.set_native_mode(False)
        first = [spec.native_params()] if backend == "jax" else []  # a pure function
        want = steps.outputs(spec.native_eval(*first, *spec.native_inputs))
        for g, w in zip(got, want, strict=True):
            _close(pm.to_numpy(g), _numpy(w), f"{model} on {backend}")
    return spec


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "asnumpy"):
        return x.asnumpy()
    if hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x)


def _positions(spec: Spec) -> np.ndarray:
    ids = spec.np_inputs[0]
    return np.arange(ids.shape[1], dtype=ids.dtype)[None]


def _torch_resnet(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    import torch

    native = native_resnet.torch_resnet50(sd, size["classes"])
    _, where = native_resnet.torch_resnet50_class()
    spec.label = {"native": f"resnet50 from {where.split(' ')[0]}", "checked": True}
    spec.native_inputs = [torch.from_numpy(spec.np_inputs[0])]
    spec.native_eval = spec.native_train = native
    spec.native_params = native.parameters
    spec.set_native_mode = native.train


def _torch_bert(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    import torch

    call = native_encoder.torch_bert(sd, size["cfg"])
    spec.label = {"native": "transformers.BertModel (eager attention)", "checked": True}
    spec.native_inputs = [torch.from_numpy(x) for x in (*spec.np_inputs, _positions(spec))]
    spec.native_eval = spec.native_train = call
    spec.native_params = call.model.parameters
    spec.set_native_mode = call.model.train


def _keras_resnet(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    import tensorflow as tf

    native = native_resnet.keras_resnet50(size["image"], size["classes"])
    spec.label = {"native": "keras.applications.ResNet50 (V1, NHWC)", "checked": False}
    spec.native_inputs = [tf.convert_to_tensor(spec.np_inputs[0].transpose(0, 2, 3, 1))]
    spec.native_eval = lambda x: native(x, training=False)
    spec.native_train = lambda x: native(x, training=True)
    spec.native_params = lambda: native.trainable_variables
    spec.set_native_mode = lambda training: None
    nchw = native_resnet.keras_resnet50(size["image"], size["classes"], True)
    inputs = spec.pm_inputs[:1]  # channels-first, as polymod's

    def nchw_step(training: bool, compiled: bool) -> Callable:
        if training:
            return steps.keras_train(lambda x: nchw(x, training=True),
                                     nchw.trainable_variables, inputs, compiled)
        return steps.keras_eval(lambda x: nchw(x, training=False), inputs, compiled)

    spec.label["also"] = {"native_nchw": "keras.applications NCHW"}
    spec.also = {"native_nchw": nchw_step}


def _keras_bert(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    import tensorflow as tf

    call = native_encoder.keras_bert(sd, size["cfg"])
    spec.label = {"native": "keras.layers encoder", "checked": True}
    spec.native_inputs = [tf.convert_to_tensor(x) for x in (*spec.np_inputs, _positions(spec))]
    spec.native_eval = spec.native_train = call
    spec.native_params = lambda: call.model.trainable_variables
    spec.set_native_mode = lambda training: None


def _gluon_resnet(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    from mxnet import np as mnp

    native = native_resnet.gluon_resnet50_v15(sd, size["classes"])
    spec.label = {"native": "gluon.nn ResNet-50 V1.5", "checked": True,
                  "also": {"native_zoo": "model zoo resnet50_v1 (V1)"}}
    spec.native_inputs = [mnp.array(spec.np_inputs[0])]
    spec.native_eval = spec.native_train = native
    spec.native_block = native
    spec.native_params = native.collect_params
    spec.set_native_mode = lambda training: None  # autograd.record() sets it
    zoo = native_resnet.gluon_resnet50(size["classes"])

    def zoo_step(training: bool, compiled: bool) -> Callable:
        if compiled:
            zoo.hybridize(static_alloc=True, static_shape=True)
        inputs = spec.native_inputs[:1]
        return steps.gluon_train(zoo, zoo.collect_params(), inputs) if training \
            else steps.gluon_eval(zoo, inputs)

    spec.also = {"native_zoo": zoo_step}


def _gluon_bert(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    from mxnet import np as mnp

    call = native_encoder.gluon_bert(sd, size["cfg"])
    spec.label = {"native": "gluon HybridBlock encoder", "checked": True}
    spec.native_inputs = [mnp.array(x, dtype="int32") for x in (*spec.np_inputs,
                                                                 _positions(spec))]
    spec.native_eval = spec.native_train = call
    spec.native_block = call.model
    spec.native_params = call.model.collect_params
    spec.set_native_mode = lambda training: None


def _jax_pair(spec: Spec, sd: dict, trainable: set, apply_eval: Callable,
              apply_train: Callable, inputs: list) -> None:
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in sd.items() if k in trainable}
    fixed = {k: jnp.asarray(v) for k, v in sd.items() if k not in trainable}
    spec.native_inputs = [jnp.asarray(x) for x in inputs]
    spec.native_eval = lambda p, *xs: apply_eval({**p, **fixed}, *xs)
    spec.native_train = lambda p, *xs: apply_train({**p, **fixed}, *xs)
    spec.native_params = lambda: params
    spec.set_native_mode = lambda training: None


def _jax_resnet(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    apply = native_resnet.jax_resnet50()
    spec.label = {"native": "pure JAX ResNet-50 V1.5", "checked": True}
    _jax_pair(spec, sd, trainable, lambda p, x: apply(p, x, False),
              lambda p, x: apply(p, x, True), spec.np_inputs)


def _jax_bert(spec: Spec, sd: dict, trainable: set, size: dict) -> None:
    apply = native_encoder.jax_bert(size["cfg"])
    spec.label = {"native": "pure JAX encoder", "checked": True}
    _jax_pair(spec, sd, trainable, apply, apply, [*spec.np_inputs, _positions(spec)])


#: The native side of each (framework, model).
NATIVE = {("torch", "resnet50"): _torch_resnet, ("torch", "bert"): _torch_bert,
          ("keras", "resnet50"): _keras_resnet, ("keras", "bert"): _keras_bert,
          ("gluon", "resnet50"): _gluon_resnet, ("gluon", "bert"): _gluon_bert,
          ("jax", "resnet50"): _jax_resnet, ("jax", "bert"): _jax_bert}
