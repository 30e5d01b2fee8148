"""polymod vs hand-written native code: µs per call and budget ratios.

Run from the repository root (polymod installed, e.g. ``pip install -e .[all]``)::

    python benchmarks/bench.py                    # full run (a few minutes)
    python benchmarks/bench.py --quick            # tiny configuration (what the tests run)
    python benchmarks/bench.py --backends torch,gluon --json results.json

Runs every part below in one process, one thread, each timing its candidates in
alternating rounds (so that all share the machine's noise) and keeping the best round
(harness.py). Each part is a file that also runs alone with the same options
(``python benchmarks/lenet.py --quick``); ``--skip`` leaves parts out by name:

* ``mlp`` (chapter_mlp.py): the chapter's MLPs in polymod vs the framework's
  hand-written modules and bare ops, with the budgets (docs/performance.md);
* ``conv`` (lenet.py): LeNet vs the same LeNet written natively; Keras' conv layouts;
* ``keras-torch`` (peers.py): Keras 3 on its torch backend, a subprocess;
* ``import`` (import_time.py): ``import polymod`` time over ``import numpy``;
* ``transfer`` (transfers.py): moving a large model between backends (``.to`` and
  save/load) against a plain memory copy;
* ``graph`` (graph_modes.py): ``torch.compile``, ``tf.function`` and ``hybridize`` on
  the native twins.

Nothing here is asserted: the tests only check that the script runs.
"""

from __future__ import annotations

import sys

import chapter_mlp
import graph_modes
import harness  # first: one thread everywhere
import import_time
import lenet
import peers
import transfers

#: The parts in the order they run; --skip takes their NAMEs.
PARTS = (chapter_mlp, lenet, peers, import_time, transfers, graph_modes)


def main(argv: list[str] | None = None) -> int:
    return harness.run_parts(PARTS, __doc__.split("\n\n")[0], argv, skippable=True)


if __name__ == "__main__":
    sys.exit(main())
