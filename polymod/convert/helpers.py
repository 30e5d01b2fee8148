"""Functions that converted models call where ``polymod.ops`` has no single op: each is
built from ``polymod.ops`` only, so it runs on every backend."""

from __future__ import annotations
