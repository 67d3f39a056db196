"""Learned models (optional ``learn`` extra: torch).

Nothing outside this subpackage imports torch, so the classical core works without it.
Call :func:`require_torch` before importing any submodule from code paths that may run
without the extra.
"""

from __future__ import annotations

from types import ModuleType

from vmic.errors import VmicError


def require_torch() -> ModuleType:
    """Import and return torch, or raise a one-line :class:`VmicError` naming the extra."""
    try:
        import torch
    except ImportError:
        raise VmicError(
            "this needs PyTorch, which is not installed; install the learn extra: "
            "pip install 'vmic[learn]'"
        ) from None
    return torch
