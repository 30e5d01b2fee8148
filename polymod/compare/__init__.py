"""Running one model definition on several backends and comparing the numbers.

* ``records``: ``compare`` and ``Record`` (what ``polymod compare --json`` prints);
* ``running``: one model on one backend (seeds, modes, inputs, gradients, timing);
* ``instrument``: each submodule's output seen while compare runs, and only then;
* ``tolerance``: when two leaves count as the same numbers, and why;
* ``leaves``: nests of tensors taken apart into named leaves;
* ``report``: the terminal table (``rich`` in a terminal) and the HTML report.

Example:
    >>> import numpy as np
    >>> from polymod.compare import compare
    >>> from polymod.examples import chapter
    >>> X = np.random.default_rng(0).random((2, 20), dtype=np.float32)
    >>> [r.ok for r in compare(chapter.MLP, X, backends=["torch"])]
    [True, True]
"""

from .records import MODES, Record, compare
from .tolerance import GRAD_NOISE_FACTOR, NOISE_FACTOR, default_rtol
from .tolerance import allclose as _close  # noqa: F401 (polymod.convert.cli reads these)
from .tolerance import max_differences as _diff  # noqa: F401

__all__ = ["compare", "Record", "MODES", "NOISE_FACTOR", "GRAD_NOISE_FACTOR",
           "default_rtol"]
