"""Imports Keras 3 and TensorFlow, once, in the order that works, and quietly.

TensorFlow prints INFO lines at import ("oneDNN custom operations are on ...") before
its logging reads ``TF_CPP_MIN_LOG_LEVEL``, so the variable does not silence them.
When polymod is the one importing TensorFlow, INFO lines are dropped unless the user
asked for them: ``TF_CPP_MIN_LOG_LEVEL`` unset counts as ``1`` (set for this process,
as TensorFlow reads it), and at 1 or more the INFO lines printed during the import are
removed from what reaches stderr (warnings and errors still pass). With
``TF_CPP_MIN_LOG_LEVEL=0`` nothing is touched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  -- PyTorch must load before TensorFlow (the other order can crash)

_requested = os.environ.get("KERAS_BACKEND", "tensorflow")
if _requested != "tensorflow":
    from polymod.errors import BackendUnavailableError

    raise BackendUnavailableError(
        f"polymod's 'keras' backend is Keras 3 on TensorFlow, but KERAS_BACKEND={_requested!r}. "
        f"Unset KERAS_BACKEND or set it to 'tensorflow' before polymod loads Keras.")

# absl's INFO lines (I1202 12:00:00.000 ...), and its note that precedes them
_INFO = re.compile(rb"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\))")


@contextlib.contextmanager
def _without_info_lines() -> Iterator[None]:
    """Drops absl INFO lines written to file descriptor 2 inside the block."""
    if "tensorflow" in sys.modules:  # the user imported it: theirs to configure
        yield
        return
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):  # unset or empty
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"
    try:
        quiet = int(os.environ["TF_CPP_MIN_LOG_LEVEL"]) >= 1
    except ValueError:
        quiet = False
    if not quiet:
        yield
        return
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not _INFO.match(line)]
            if kept:
                os.write(2, b"".join(kept))


with _without_info_lines():
    import keras
    import tensorflow as tf

__all__ = ["keras", "tf"]
