"""The picture of a measured response (:func:`save_response_plot`), drawn with matplotlib."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vmic.response import Response

__all__ = ["save_response_plot"]


def save_response_plot(path: str | os.PathLike, response: Response, *,
                       title: str = "") -> None:
    """Draw magnitude (dB), phase (degrees) and coherence against frequency; save atomically.

    The valid band is shaded on every panel; the magnitude is in dB relative to the object's
    sensitivity (:meth:`~vmic.response.Response.reference_magnitude`), and the coherence
    panel marks the validity threshold.

    Parameters
    ----------
    path : path-like
        Output picture; the format follows the suffix (PNG, PDF, SVG).
    response : Response
    title : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vmic.io.atomic import atomic_path
    from vmic.response import coherence_threshold

    f = response.frequencies_hz
    ref = response.reference_magnitude()
    with np.errstate(divide="ignore"):
        level = 20 * np.log10(np.maximum(response.magnitude, 1e-300) / ref)
    mask = response.valid_mask()
    fig, axes = plt.subplots(3, 1, figsize=(8, 7.5), dpi=100, sharex=True)
    mag, phase, coh = axes
    mag.plot(f, np.where(mask, level, np.nan), color="C0", label="valid band")
    mag.plot(f, np.where(mask, np.nan, level), color="C0", alpha=0.35, label="outside it")
    mag.set_ylim(max(np.nanmin(level[1:]) - 3, -60), np.nanmax(level) + 3)
    mag.set_ylabel(f"|H| (dB re {ref:.3g})")
    mag.legend(loc="best", fontsize=8)
    phase.plot(f, np.degrees(np.where(mask, response.phase_rad, np.nan)), ".", ms=2,
               color="C1")
    phase.set_ylabel("phase (degrees)")
    phase.set_ylim(-185, 185)
    phase.set_yticks([-180, -90, 0, 90, 180])
    coh.plot(f, response.coherence, color="C2")
    coh.axhline(coherence_threshold(response.n_averages), color="k", lw=0.8, ls="--",
                label="validity threshold")
    coh.set_ylim(0, 1.02)
    coh.set_ylabel("coherence")
    coh.set_xlabel("frequency (Hz)")
    coh.legend(loc="lower left", fontsize=8)
    for ax in axes:
        for lo, hi in response.valid_band_hz:
            ax.axvspan(lo, hi, color="0.9", zorder=0)
        ax.grid(alpha=0.3)
    lag = response.lag
    lag_text = "" if lag is None else f", lag {lag.seconds * 1e3:+.2f} ms"
    mag.set_title(title or f"object response ({response.units}), {response.rate_hz:g} fps, "
                  f"{response.n_averages} averages{lag_text}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else "png"
        fig.savefig(tmp, format=suffix)
    plt.close(fig)
