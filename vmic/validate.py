"""Checks of the numbers every part of vmic takes, one function per quantity.

Each returns the value as a float or raises :class:`vmic.errors.VmicError` with a message
that names the parameter (the command line words it as its flag).
"""

from __future__ import annotations

import math

from vmic.errors import VmicError

__all__ = ["MIN_FPS", "MAX_FPS", "check_fps", "check_sr"]

MIN_FPS = 1.0
"""Lowest capture rate accepted (frames/s). Below it a WAV header, which holds an integer
rate, could not state the rate of the recovered audio."""

MAX_FPS = 1e7
"""Highest capture rate accepted (frames/s): ten times the fastest high-speed cameras'
full-frame rates. Anything above is taken for a typing error (the filters' design fails
on rates near the float range)."""


def _number(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise VmicError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise VmicError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise VmicError(f"{name} must be a finite number, got {value!r}")
    return number


def check_fps(value: object, *, name: str = "fps") -> float:
    """A video's capture rate (frames/s), which must lie in [:data:`MIN_FPS`, :data:`MAX_FPS`].

    Parameters
    ----------
    value : float or str
        The rate.
    name : str
        How the message names it (``"fps"``, a sidecar's path...).

    Returns
    -------
    float
        The rate (frames/s).
    """
    fps = _number(value, name)
    if not MIN_FPS <= fps <= MAX_FPS:
        raise VmicError(f"{name} must be a capture rate between {MIN_FPS:,.0f} and "
                        f"{MAX_FPS:,.0f} frames/s, got {value!r}")
    return fps


def check_sr(value: object, *, name: str = "sr") -> float:
    """An audio sample rate (Hz), which must be at least 1 Hz and finite.

    Parameters
    ----------
    value : float or str
        The rate.
    name : str
        How the message names it.

    Returns
    -------
    float
        The rate (Hz).
    """
    sr = _number(value, name)
    if not sr >= 1.0:
        raise VmicError(f"{name} must be a sample rate of at least 1 Hz, got {value!r}")
    return sr
