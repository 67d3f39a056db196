"""Scores of recovered audio against a known truth.

Every metric compares an estimate ``est`` with a reference ``ref`` (the truth), both 1-D arrays
sampled at the same rate ``sr`` (Hz). A recovered signal is only known up to a gain, a sign and
a small delay, so all metrics are computed on one aligned pair: both signals restricted to the
scoring band ``[lo_hz, 0.45 sr]`` (zero phase), the estimate shifted by the best integer lag and
divided by the least-squares gain (sign allowed). :mod:`vmic.metrics.alignment` defines this
preparation; :mod:`vmic.metrics.snr` the waveform metrics (SNR, segmental SNR, Pearson r,
RMSE of [0, 1]-scaled signals); :mod:`vmic.metrics.spectral` the log-spectral distance, STOI
and the per-frame loudness error. :func:`score` aligns once and reports them all.
"""

from __future__ import annotations

import math

from numpy.typing import ArrayLike

from vmic.loudness import frame_loudness_db
from vmic.metrics.alignment import (
    DEFAULT_LO_HZ,
    DEFAULT_MAX_LAG_S,
    HI_FRACTION,
    Alignment,
    align,
    best_lag,
    default_max_lag,
    prepare,
    scoring_band,
)
from vmic.metrics.snr import (
    SEG_CLIP_DB,
    chance_snr_db,
    minmax01,
    pearson,
    pearson_from,
    rmse01,
    rmse01_from,
    segmental_snr_db,
    segsnr_from,
    snr_db,
    snr_from,
)
from vmic.metrics.spectral import (
    STOI_MIN_SR,
    log_spectral_distance_db,
    loudness_mae_db,
    loudness_mae_from,
    lsd_from,
    stoi,
    stoi_from,
    stoi_unavailable_reason,
)

__all__ = [
    "DEFAULT_LO_HZ", "DEFAULT_MAX_LAG_S", "HI_FRACTION", "SEG_CLIP_DB", "STOI_MIN_SR",
    "METRIC_NAMES", "METRIC_LABELS", "Alignment", "align", "best_lag", "default_max_lag",
    "prepare", "scoring_band", "snr_db", "chance_snr_db", "segmental_snr_db", "pearson",
    "rmse01", "minmax01", "log_spectral_distance_db", "stoi", "stoi_unavailable_reason",
    "loudness_mae_db", "frame_loudness_db", "score", "format_table",
]

METRIC_NAMES = ("snr_db", "segsnr_db", "lsd_db", "stoi", "pearson", "rmse01", "loudness_mae_db")
"""Keys of the metric values in :func:`score`'s result, in table order."""

METRIC_LABELS = {
    "snr_db": "SNR (dB, higher is better)",
    "segsnr_db": "segmental SNR (dB, higher is better)",
    "lsd_db": "log-spectral distance (dB, 0 = identical)",
    "stoi": "STOI (0-1, higher is better)",
    "pearson": "Pearson r (1 = identical)",
    "rmse01": "RMSE of [0,1]-scaled (0 = identical)",
    "loudness_mae_db": "per-frame loudness error (dB, 0 = identical)",
}
"""How :func:`format_table` names each metric, with the direction of better."""


def score(est: ArrayLike, ref: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
          max_lag: int | None = None, frame_s: float = 0.03,
          loudness_frame_s: float = 0.02) -> dict:
    """All metrics of ``est`` against ``ref``, on one shared band limit and alignment.

    The log-spectral distance and the loudness error are computed on the same aligned pair
    as the SNR (same lag, same least-squares gain and sign, same band); they weigh quiet
    bins and frames as much as loud ones, so they can be large where the SNR is good (see
    :mod:`vmic.metrics.spectral`).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz : float
        Low edge of the scoring band (Hz); the high edge is ``0.45 sr``.
    max_lag : int, optional
        Largest absolute lag (samples); default ``round(0.02 sr)``.
    frame_s : float
        Frame length (s) of the segmental SNR and the log-spectral distance.
    loudness_frame_s : float
        Frame length (s) of the per-frame loudness.

    Returns
    -------
    dict
        ``snr_db``, ``segsnr_db``, ``lsd_db``, ``stoi`` (``nan`` when unavailable, see
        ``stoi_note``), ``pearson``, ``rmse01``, ``loudness_mae_db`` (floats), and the
        alignment and settings: ``lag`` (samples), ``gain``, ``n_samples`` (overlap), ``sr``
        (Hz), ``lo_hz``, ``hi_hz``, ``max_lag`` (samples).
    """
    max_lag = default_max_lag(sr) if max_lag is None else int(max_lag)
    a = prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag)
    result = {
        "snr_db": snr_from(a),
        "segsnr_db": segsnr_from(a, sr=sr, frame_s=frame_s),
        "lsd_db": lsd_from(a, sr=sr, lo_hz=lo_hz, frame_s=frame_s),
        "stoi": stoi_from(a, sr=sr),
        "pearson": pearson_from(a),
        "rmse01": rmse01_from(a),
        "loudness_mae_db": loudness_mae_from(a, sr=sr, frame_s=loudness_frame_s),
        "lag": a.lag,
        "gain": a.gain,
        "n_samples": int(a.ref.size),
        "sr": float(sr),
        "lo_hz": float(lo_hz),
        "hi_hz": HI_FRACTION * float(sr),
        "max_lag": max_lag,
    }
    note = stoi_unavailable_reason(sr, a.ref.size)
    if note:
        result["stoi_note"] = note
    return result


def format_table(result: dict, title: str | None = None) -> str:
    """Format a :func:`score` result as a plain two-column text table (one metric a line).

    The first line states the one alignment every metric below it was computed after, so
    that the SNR, the log-spectral distance and the loudness error are read as describing
    the same aligned pair.
    """
    lines = [title] if title else []
    width = max(len(v) for v in METRIC_LABELS.values())
    lines.append(f"all after one alignment: lag {result['lag']} samples, gain "
                 f"{result['gain']:.4g}, band {result['lo_hz']:g}-{result['hi_hz']:g} Hz, "
                 f"{result['n_samples']} samples")
    for key in METRIC_NAMES:
        value = result[key]
        text = "n/a" if isinstance(value, float) and math.isnan(value) else f"{value:.3f}"
        if key == "stoi" and result.get("stoi_note") and text == "n/a":
            text += f"  ({result['stoi_note']})"
        lines.append(f"  {METRIC_LABELS[key]:<{width}}  {text}")
    return "\n".join(lines)
