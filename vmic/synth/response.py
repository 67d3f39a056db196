"""The true response of a rendered object: from the played sound to the truth (px).

A clip's displacement is the played sound (peak 1, unitless) filtered by the object's modes
(:meth:`vmic.synth.SynthConfig.modes`) and scaled to ``--amplitude`` px, so the response is
``H(f) = scale * sum_k g_k H_k(f)`` in px per unit of the played sound, with ``H_k`` the
mode filters of :func:`vmic.synth.sources.mode_filter`; a flat object has ``H(f) = scale``.
The sidecar's ``response`` entry holds the modes, the scale and the response sampled on a
grid; :func:`true_response` evaluates it anywhere.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from vmic.errors import VmicError
from vmic.synth import sources

__all__ = ["response_sidecar", "true_response", "GRID_POINTS"]

GRID_POINTS = 257
"""Frequencies (0 to Nyquist, evenly spaced) at which the sidecar samples the response."""


def response_sidecar(modes: list[tuple[float, float, float]], scale: float,
                     fps: float) -> dict:
    """The sidecar's ``response`` entry.

    Parameters
    ----------
    modes : list of (float, float, float)
        ``(freq_hz, q, gain)`` of each mode (none: a flat object).
    scale : float
        px per unit of the played sound (see the module notes).
    fps : float
        Capture rate (Hz).

    Returns
    -------
    dict
        JSON-ready: ``what``, ``units``, ``modes``, ``scale``, ``frequencies_hz``,
        ``magnitude`` (px per unit) and ``phase_rad`` on :data:`GRID_POINTS` frequencies.
    """
    freqs = np.linspace(0.0, fps / 2, GRID_POINTS)
    h = _evaluate(modes, scale, fps, freqs)
    return {
        "what": "response from the played sound (peak 1) to the truth: H(f) = scale * sum_k "
                "gain_k w_k^2 / (s^2 + (w_k/Q_k) s + w_k^2), each mode bilinear and pre-warped",
        "units": "px per unit of the played sound",
        "modes": [{"hz": f, "q": q, "gain": g} for f, q, g in modes],
        "scale": float(scale),
        "frequencies_hz": [round(float(v), 6) for v in freqs],
        "magnitude": [float(f"{v:.6g}") for v in np.abs(h)],
        "phase_rad": [round(float(v), 6) for v in np.angle(h)],
    }


def true_response(sidecar: dict, freqs_hz: ArrayLike) -> np.ndarray:
    """The true response of a rendered clip at ``freqs_hz`` (Hz), from its sidecar.

    Parameters
    ----------
    sidecar : dict
        A rendered clip's sidecar (``vmic.synth.Synthesis.sidecar`` or its JSON).
    freqs_hz : array_like of float, shape (F,)
        Frequencies (Hz).

    Returns
    -------
    ndarray of complex128, shape (F,)
        px per unit of the played sound.
    """
    entry = sidecar.get("response")
    if not isinstance(entry, dict):
        raise VmicError("the sidecar holds no true response (rendered by an older vmic?)")
    modes = [(float(m["hz"]), float(m["q"]), float(m["gain"])) for m in entry["modes"]]
    return _evaluate(modes, float(entry["scale"]), float(sidecar["fps"]), freqs_hz)


def _evaluate(modes, scale: float, fps: float, freqs_hz: ArrayLike) -> np.ndarray:
    f = np.asarray(freqs_hz, dtype=np.float64)
    if not modes:
        return np.full(f.shape, scale, dtype=np.complex128)
    return scale * sources.modal_frequency_response(f, fps, modes)
