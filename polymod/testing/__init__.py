"""Testing helpers: ``assert_backends_agree``, ``assert_close`` and the pytest plugin."""

from .agree import assert_backends_agree, assert_close

__all__ = ["assert_backends_agree", "assert_close"]
