"""A BERT for `polymod compare`, and the same BERT with a slip on one framework.

    polymod compare docs/examples/bert_compare.py:make --inputs docs/examples/bert_compare.py:inputs
    polymod compare docs/examples/bert_compare.py:make_with_a_slip \
        --inputs docs/examples/bert_compare.py:inputs --html report.html

See docs/compare.md.
"""

import polymod as pm
from polymod import ops
from polymod.examples import bert
from polymod.examples.gpt2 import gelu_new


def make() -> pm.Module:
    """Hugging Face's BertModel, written with polymod (BERT-tiny's shape)."""
    return bert.BertModel()


def inputs() -> dict:
    """Keyword inputs: token ids, an attention mask (the second sequence padded), token types."""
    return bert.bert_inputs(batch=2, length=16)


class GELUFastOnKeras(pm.Module):
    """GELU, except on Keras, where someone used its tanh approximation "for speed"."""

    def forward(self, x):
        return gelu_new(x) if pm.backend_of(x) == "keras" else ops.gelu(x)


def make_with_a_slip() -> pm.Module:
    net = bert.BertModel()
    for layer in net.encoder.layer:
        layer.intermediate.intermediate_act_fn = GELUFastOnKeras()
    return net
