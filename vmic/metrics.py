"""Scores of recovered audio against a known truth.

Every metric compares an estimate ``est`` with a reference ``ref`` (the truth), both 1-D arrays
sampled at the same rate ``fs`` (Hz). A recovered signal is only known up to a gain, a sign and a
small delay, so the metrics share one preparation, :func:`prepare`:

1. **Band-pass** both signals with a zero-phase Butterworth band-pass ``[lo_hz, 0.45 fs]``
   (order 4, applied forward and backward with :func:`scipy.signal.sosfiltfilt`). ``lo_hz``
   defaults to :data:`DEFAULT_LO_HZ` (20 Hz): it removes drift and DC, which are not sound.
2. **Lag**: the integer lag ``L`` in ``[-max_lag, max_lag]`` samples that maximises the
   absolute cross-correlation ``|sum_n est[n + L] ref[n]|`` of the band-passed signals
   (``L > 0``: the estimate is late). Only the overlap of the two signals at that lag is kept
   (both then have the same length) and band-passed again, so both have the same edges.
   ``max_lag`` defaults to ``round(0.02 fs)`` samples (20 ms).
3. **Gain** (sign allowed): the least-squares fit ``est ~= g ref``, i.e.
   ``g = <est, ref> / <ref, ref>``. The estimate is divided by ``g``, so the aligned estimate
   ``est / g`` is on the reference's scale and sign. Regressing the estimate on the truth (not the
   other way round) keeps ``g`` unbiased by noise in the estimate, so that a signal plus
   independent noise at a known SNR is measured at that SNR.

Definitions (``r`` = aligned reference, ``e`` = aligned estimate ``est / g``, both band-passed):

- ``snr_db = 10 log10(sum r^2 / sum (e - r)^2)`` (dB). This is the scale-invariant SNR
  (SI-SDR) of the band-passed signals; identical signals give ``+inf``.
- ``segmental_snr_db``: the same ratio in consecutive frames of ``frame_s`` (default 30 ms),
  each clipped to ``[-10, 35]`` dB, averaged over frames whose reference energy is within
  40 dB of the loudest frame (silent frames are skipped).
- ``log_spectral_distance_db``: with power spectrograms ``P`` (Hann window of ``frame_s``, half
  overlap) of ``r`` and ``e`` restricted to the bins in ``[lo_hz, 0.45 fs]``,
  ``LSD = mean_frames sqrt(mean_bins (10 log10((P_r + eps) / (P_e + eps)))^2)`` (dB), with
  ``eps = 1e-10 max(P_r)``. Identical signals give 0.
- ``stoi``: short-time objective intelligibility (``pystoi``, Taal et al. 2011) of ``e`` against
  ``r``, in [0, 1]. STOI analyses 1/3-octave bands up to about 4.3 kHz at 10 kHz, so it is only
  computed when ``fs >= 10 kHz`` and the overlap is at least 0.4 s; otherwise it is ``nan`` and
  :func:`score` says why in ``stoi_note``. (Typical capture rates of 2-6 kHz do not allow it.)
- ``pearson``: Pearson correlation of ``e`` and ``r`` (sign-aligned, so normally >= 0).
- ``rmse01``: each aligned, sign-corrected, band-passed signal is min-max scaled to [0, 1]
  (``(x - min x) / (max x - min x)``) and ``sqrt(mean((e01 - r01)^2))`` is reported (the measure of
  an earlier Siamese-network study, which reported 0.37 and 0.49). Identical signals give 0.
- ``frame_loudness_db``: per-frame loudness ``20 log10(sqrt(sum_{n in frame} x[n]^2))`` (dB) of
  consecutive non-overlapping frames, floored at ``floor_db``. ``loudness_mae_db`` is the mean
  absolute difference of the per-frame loudness of ``e`` and ``r`` (frames of ``loudness_frame_s``,
  default 20 ms), both floored at ``range_db`` (60 dB) below the reference's loudest frame, so
  that silent frames of the truth (``-inf`` dB) do not dominate. Identical signals give 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import signal

from vmic.errors import VmicError
from vmic.loudness import frame_loudness_db  # the one definition (non-integer frames too)

DEFAULT_LO_HZ = 20.0
"""Default low edge (Hz) of the scoring pass band ``[lo_hz, HI_FRACTION * fs]``."""

HI_FRACTION = 0.45
"""High edge of the scoring pass band, as a fraction of the sample rate."""

DEFAULT_MAX_LAG_S = 0.02
"""Default largest lag searched, in seconds (rounded to samples)."""

STOI_MIN_FS = 10000.0
"""Lowest sample rate (Hz) at which STOI is computed."""

SEG_CLIP_DB = (-10.0, 35.0)


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align`.

    Attributes
    ----------
    lag : int
        Samples by which the estimate is late (``est[n + lag]`` matches ``ref[n]``).
    gain : float
        Least-squares gain of ``est ~= gain * ref`` (negative for an inverted estimate).
    est : numpy.ndarray
        float64 (N,), the overlapping part of the estimate divided by ``gain``.
    ref : numpy.ndarray
        float64 (N,), the overlapping part of the reference.
    """

    lag: int
    gain: float
    est: np.ndarray
    ref: np.ndarray


def _as_signal(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise VmicError(f"{name} must be a mono 1-D signal, got shape {x.shape}")
    if x.size < 2:
        raise VmicError(f"{name} is too short ({x.size} samples)")
    if not np.all(np.isfinite(x)):
        raise VmicError(f"{name} contains NaN or infinite samples")
    return x


def default_max_lag(fs: float) -> int:
    """Default lag search range ``round(DEFAULT_MAX_LAG_S * fs)`` samples (at least 1)."""
    return max(1, int(round(DEFAULT_MAX_LAG_S * fs)))


def bandpass(x: np.ndarray, fs: float, lo_hz: float = DEFAULT_LO_HZ, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass ``[lo_hz, 0.45 fs]`` of a 1-D signal.

    Parameters
    ----------
    x : array_like
        Signal, shape (N,).
    fs : float
        Sample rate (Hz).
    lo_hz : float
        Low edge (Hz); ``0`` gives a low-pass at ``0.45 fs`` only.
    order : int
        Butterworth order of each pass (the forward-backward filter has twice the attenuation).

    Returns
    -------
    numpy.ndarray
        float64 (N,), the filtered signal (mean removed).
    """
    x = np.asarray(x, dtype=np.float64)
    hi_hz = HI_FRACTION * fs
    if not 0 <= lo_hz < hi_hz:
        raise VmicError(f"band-pass low edge {lo_hz:g} Hz must be in [0, {hi_hz:g}) Hz "
                        f"(0.45 x the rate {fs:g} Hz)")
    if lo_hz > 0:
        sos = signal.butter(order, [lo_hz, hi_hz], btype="bandpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, hi_hz, btype="lowpass", fs=fs, output="sos")
    x = x - x.mean()
    padlen = min(x.size - 1, 3 * (2 * len(sos) + 1) * 4)
    return signal.sosfiltfilt(sos, x, padtype="even", padlen=padlen)


def best_lag(est: np.ndarray, ref: np.ndarray, max_lag: int) -> int:
    """Integer lag in ``[-max_lag, max_lag]`` maximising ``|sum_n est[n + lag] ref[n]|``.

    Parameters
    ----------
    est, ref : numpy.ndarray
        1-D signals (any lengths).
    max_lag : int
        Largest absolute lag searched (samples).

    Returns
    -------
    int
        The lag (samples); positive when the estimate is late.
    """
    corr = signal.correlate(est, ref, mode="full", method="fft")
    zero = ref.size - 1  # index of lag 0 in the full correlation
    lo = max(-max_lag, -(ref.size - 1))
    hi = min(max_lag, est.size - 1)
    window = np.abs(corr[zero + lo: zero + hi + 1])
    return int(lo + np.argmax(window))


def _overlap(est: np.ndarray, ref: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    e0, r0 = (lag, 0) if lag >= 0 else (0, -lag)
    n = min(est.size - e0, ref.size - r0)
    return est[e0:e0 + n], ref[r0:r0 + n]


def align(est, ref, max_lag: int) -> Alignment:
    """Align ``est`` to ``ref``: best integer lag, then the least-squares gain (sign allowed).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at the same rate (lengths may differ).
    max_lag : int
        Largest absolute lag searched (samples).

    Returns
    -------
    Alignment
        Lag, gain and the aligned overlapping parts (``est / gain`` and ``ref``).
    """
    est = _as_signal(est, "estimate")
    ref = _as_signal(ref, "reference")
    lag = best_lag(est, ref, int(max_lag))
    e, r = _overlap(est, ref, lag)
    rr = float(np.dot(r, r))
    if rr == 0.0:
        raise VmicError("the reference is silent (all zeros) in the scoring band")
    gain = float(np.dot(e, r)) / rr
    if gain == 0.0:
        return Alignment(lag, 0.0, np.zeros_like(e), r)
    return Alignment(lag, gain, e / gain, r)


def prepare(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
            max_lag: int | None = None) -> Alignment:
    """Band-pass both signals (zero phase, ``[lo_hz, 0.45 fs]``) and :func:`align` them.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz : float
        Low edge of the band (Hz).
    max_lag : int, optional
        Largest absolute lag (samples); default :func:`default_max_lag`.

    Returns
    -------
    Alignment
    """
    est = _as_signal(est, "estimate")
    ref = _as_signal(ref, "reference")
    max_lag = default_max_lag(fs) if max_lag is None else int(max_lag)
    lag = best_lag(bandpass(est, fs, lo_hz), bandpass(ref, fs, lo_hz), max_lag)
    # Filter the overlapping parts again so both see the same edges (no edge transients).
    e, r = _overlap(est, ref, lag)
    a = align(bandpass(e, fs, lo_hz), bandpass(r, fs, lo_hz), 0)
    return Alignment(lag, a.gain, a.est, a.ref)


def _ratio_db(num: float, den: float) -> float:
    if den <= 0.0:
        return math.inf
    if num <= 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den)


def snr_db(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
           max_lag: int | None = None) -> float:
    """SNR (dB) of ``est`` against ``ref`` after band-pass, lag and gain alignment.

    ``10 log10(sum r^2 / sum (e - r)^2)`` on the :func:`prepare` d signals (module docstring).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz : float
        Low edge of the scoring band (Hz).
    max_lag : int, optional
        Largest absolute lag (samples).

    Returns
    -------
    float
        SNR in dB (``inf`` for identical signals).
    """
    a = prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag)
    return _snr_of(a)


def chance_snr_db(ref, fs: float, *, quantile: float = 0.95, draws: int = 100,
                  lo_hz: float = DEFAULT_LO_HZ, max_lag: int | None = None,
                  seed: int = 0) -> float:
    """SNR (dB) that an estimate independent of ``ref`` reaches by chance.

    The lag search and the gain fit of :func:`snr_db` let any estimate correlate a little
    with the truth, so pure noise scores a finite SNR: about ``20 log10(rho)`` with
    ``rho`` the largest correlation over ``2 max_lag + 1`` lags, of order ``1 / sqrt(N)``
    (for 0.5 s at 2200 fps, a median near -22 dB). This is the ``quantile`` of
    :func:`snr_db` over ``draws`` white-noise estimates scored against ``ref`` (the
    scoring band-passes them). An estimate at or below it cannot be told from noise at
    that confidence, and differences between such estimates are not meaningful.

    Parameters
    ----------
    ref : array_like
        1-D truth at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    quantile : float, default 0.95
        In (0, 1).
    draws : int, default 100
        Noise estimates scored.
    lo_hz, max_lag
        As in :func:`snr_db`.
    seed : int, default 0
        Seed of the noise (the result is reproducible).

    Returns
    -------
    float
        SNR (dB).
    """
    ref = _as_signal(ref, "reference")
    if not 0.0 < quantile < 1.0:
        raise VmicError(f"quantile must be in (0, 1), got {quantile}")
    if draws < 1:
        raise VmicError(f"draws must be at least 1, got {draws}")
    rng = np.random.default_rng(seed)
    scores = [snr_db(rng.standard_normal(ref.size), ref, fs, lo_hz=lo_hz, max_lag=max_lag)
              for _ in range(int(draws))]
    return float(np.quantile(scores, quantile))


def _snr_of(a: Alignment) -> float:
    return _ratio_db(float(np.sum(a.ref ** 2)), float(np.sum((a.est - a.ref) ** 2)))


def _frame_len(fs: float, frame_s: float, n: int) -> int:
    return int(max(2, min(n, round(frame_s * fs))))


def segmental_snr_db(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
                     max_lag: int | None = None, frame_s: float = 0.03) -> float:
    """Segmental SNR (dB): mean per-frame SNR, clipped to [-10, 35] dB, over non-silent frames.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.
    frame_s : float
        Frame length (s); consecutive, non-overlapping.

    Returns
    -------
    float
        Segmental SNR in dB (35 for identical signals).
    """
    return _segsnr_of(prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag), fs, frame_s)


def _frames(x: np.ndarray, frame_len: int) -> np.ndarray:
    n = x.size // frame_len
    return x[: n * frame_len].reshape(n, frame_len)


def _segsnr_of(a: Alignment, fs: float, frame_s: float) -> float:
    frame_len = _frame_len(fs, frame_s, a.ref.size)
    r = _frames(a.ref, frame_len)
    d = _frames(a.est - a.ref, frame_len)
    pr = np.sum(r ** 2, axis=1)
    pd = np.sum(d ** 2, axis=1)
    keep = pr >= pr.max() * 1e-4
    with np.errstate(divide="ignore"):
        seg = 10.0 * np.log10(pr[keep] / np.where(pd[keep] > 0, pd[keep], 1e-300))
    return float(np.mean(np.clip(seg, *SEG_CLIP_DB)))


def log_spectral_distance_db(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
                             max_lag: int | None = None, frame_s: float = 0.03) -> float:
    """Log-spectral distance (dB) over the scoring band, after alignment.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.
    frame_s : float
        STFT window length (s), Hann, half overlap.

    Returns
    -------
    float
        LSD in dB (0 for identical signals).
    """
    return _lsd_of(prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag), fs, lo_hz, frame_s)


def _lsd_of(a: Alignment, fs: float, lo_hz: float, frame_s: float) -> float:
    nper = _frame_len(fs, frame_s, a.ref.size)
    f, _, sr = signal.stft(a.ref, fs=fs, nperseg=nper, noverlap=nper // 2, boundary=None,
                           padded=False)
    _, _, se = signal.stft(a.est, fs=fs, nperseg=nper, noverlap=nper // 2, boundary=None,
                           padded=False)
    band = (f >= lo_hz) & (f <= HI_FRACTION * fs)
    pr = np.abs(sr[band]) ** 2
    pe = np.abs(se[band]) ** 2
    eps = 1e-10 * max(float(pr.max()), 1e-300)
    d = 10.0 * np.log10((pr + eps) / (pe + eps))
    return float(np.mean(np.sqrt(np.mean(d ** 2, axis=0))))


def stoi(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
         max_lag: int | None = None) -> float:
    """STOI (pystoi) of the aligned estimate against the reference, or ``nan``.

    ``nan`` when the rate is below :data:`STOI_MIN_FS` (10 kHz) or the overlap is shorter than
    0.4 s, where STOI is undefined (see :func:`stoi_unavailable_reason`).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.

    Returns
    -------
    float
        STOI in [0, 1], or ``nan``.
    """
    return _stoi_of(prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag), fs)


def stoi_unavailable_reason(fs: float, n_samples: int) -> str | None:
    """Why STOI cannot be computed for this rate and length, or ``None`` if it can."""
    if fs < STOI_MIN_FS:
        return f"STOI needs a rate >= {STOI_MIN_FS:g} Hz (its bands reach 4.3 kHz), got {fs:g} Hz"
    if n_samples < 0.4 * fs:
        return "STOI needs at least 0.4 s of signal"
    try:
        import pystoi  # noqa: F401
    except ImportError:
        return "STOI needs the pystoi package (pip install pystoi)"
    return None


def _stoi_of(a: Alignment, fs: float) -> float:
    if stoi_unavailable_reason(fs, a.ref.size) is not None:
        return math.nan
    from pystoi import stoi as _pystoi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_pystoi(a.ref, a.est, int(round(fs))))


def pearson(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
            max_lag: int | None = None) -> float:
    """Pearson correlation of the aligned, sign-corrected, band-passed signals.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.

    Returns
    -------
    float
        Correlation in [-1, 1] (1 for identical signals).
    """
    return _pearson_of(prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag))


def _pearson_of(a: Alignment) -> float:
    e = a.est - a.est.mean()
    r = a.ref - a.ref.mean()
    den = math.sqrt(float(np.dot(e, e)) * float(np.dot(r, r)))
    return float(np.dot(e, r)) / den if den > 0 else 0.0


def rmse01(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
           max_lag: int | None = None) -> float:
    """RMSE of the aligned, sign-corrected, band-passed signals, each min-max scaled to [0, 1].

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.

    Returns
    -------
    float
        RMSE in [0, 1] (0 for identical signals).
    """
    return _rmse01_of(prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag))


def minmax01(x: np.ndarray) -> np.ndarray:
    """Scale ``x`` to [0, 1] by ``(x - min) / (max - min)`` (zeros if constant); float64."""
    x = np.asarray(x, dtype=np.float64)
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def _rmse01_of(a: Alignment) -> float:
    return float(np.sqrt(np.mean((minmax01(a.est) - minmax01(a.ref)) ** 2)))


def loudness_mae_db(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ,
                    max_lag: int | None = None, frame_s: float = 0.02,
                    range_db: float = 60.0) -> float:
    """Mean absolute error (dB) of :func:`frame_loudness_db` of the aligned signals.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.
    frame_s : float
        Loudness frame length (s).
    range_db : float
        Both loudness curves are floored at the reference's loudest frame minus this (dB).

    Returns
    -------
    float
        MAE in dB (0 for identical signals).
    """
    a = prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag)
    return _loudness_mae_of(a, fs, frame_s, range_db)


def _loudness_mae_of(a: Alignment, fs: float, frame_s: float, range_db: float) -> float:
    frame_len = _frame_len(fs, frame_s, a.ref.size)
    lr = frame_loudness_db(a.ref, frame_len, -300.0)
    floor = float(lr.max()) - range_db
    le = np.maximum(frame_loudness_db(a.est, frame_len, -300.0), floor)
    return float(np.mean(np.abs(le - np.maximum(lr, floor))))


METRIC_NAMES = ("snr_db", "segsnr_db", "lsd_db", "stoi", "pearson", "rmse01", "loudness_mae_db")
"""Keys of the metric values in :func:`score`'s result, in table order."""


def score(est, ref, fs: float, *, lo_hz: float = DEFAULT_LO_HZ, max_lag: int | None = None,
          frame_s: float = 0.03, loudness_frame_s: float = 0.02) -> dict:
    """All metrics of ``est`` against ``ref`` (one shared band-pass and alignment).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``fs`` (Hz).
    fs : float
        Sample rate (Hz).
    lo_hz : float
        Low edge of the scoring band (Hz); the high edge is ``0.45 fs``.
    max_lag : int, optional
        Largest absolute lag (samples); default ``round(0.02 fs)``.
    frame_s : float
        Frame length (s) of the segmental SNR and the log-spectral distance.
    loudness_frame_s : float
        Frame length (s) of the per-frame loudness.

    Returns
    -------
    dict
        ``snr_db``, ``segsnr_db``, ``lsd_db``, ``stoi`` (``nan`` when unavailable, see
        ``stoi_note``), ``pearson``, ``rmse01``, ``loudness_mae_db`` (floats), and the alignment
        and settings: ``lag`` (samples), ``gain``, ``n_samples`` (overlap), ``fs``, ``lo_hz``,
        ``hi_hz``, ``max_lag``.
    """
    max_lag = default_max_lag(fs) if max_lag is None else int(max_lag)
    a = prepare(est, ref, fs, lo_hz=lo_hz, max_lag=max_lag)
    result = {
        "snr_db": _snr_of(a),
        "segsnr_db": _segsnr_of(a, fs, frame_s),
        "lsd_db": _lsd_of(a, fs, lo_hz, frame_s),
        "stoi": _stoi_of(a, fs),
        "pearson": _pearson_of(a),
        "rmse01": _rmse01_of(a),
        "loudness_mae_db": _loudness_mae_of(a, fs, loudness_frame_s, 60.0),
        "lag": a.lag,
        "gain": a.gain,
        "n_samples": int(a.ref.size),
        "fs": float(fs),
        "lo_hz": float(lo_hz),
        "hi_hz": HI_FRACTION * float(fs),
        "max_lag": max_lag,
    }
    note = stoi_unavailable_reason(fs, a.ref.size)
    if note:
        result["stoi_note"] = note
    return result


METRIC_LABELS = {
    "snr_db": "SNR (dB)",
    "segsnr_db": "segmental SNR (dB)",
    "lsd_db": "log-spectral distance (dB)",
    "stoi": "STOI",
    "pearson": "Pearson r",
    "rmse01": "RMSE of [0,1]-scaled",
    "loudness_mae_db": "loudness MAE (dB)",
}


def format_table(result: dict, title: str | None = None) -> str:
    """Format a :func:`score` result as a plain two-column text table (one metric a line)."""
    lines = [title] if title else []
    width = max(len(v) for v in METRIC_LABELS.values())
    for key in METRIC_NAMES:
        value = result[key]
        text = "n/a" if isinstance(value, float) and math.isnan(value) else f"{value:.3f}"
        if key == "stoi" and result.get("stoi_note") and text == "n/a":
            text += f"  ({result['stoi_note']})"
        lines.append(f"{METRIC_LABELS[key]:<{width}}  {text}")
    lines.append(f"{'alignment':<{width}}  lag {result['lag']} samples, gain {result['gain']:.4g}, "
                 f"band {result['lo_hz']:g}-{result['hi_hz']:g} Hz, {result['n_samples']} samples")
    return "\n".join(lines)
