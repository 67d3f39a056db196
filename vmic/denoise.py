"""Denoising of recovered audio in the short-time Fourier domain.

The visual microphone's noise (sensor noise through the phase estimate, codec noise) is
broadband and roughly stationary, while the sound it carries comes and goes. All methods
here therefore share one noise model: the **noise profile** is a low quantile over time of
the STFT power in each frequency bin (as ``vmSpecSub`` of the original code does), bias-
corrected to a mean power, then passed through a low running percentile across frequency
so that a tone held through the whole clip does not count as its own noise. Each method
then scales every STFT bin by a real gain in [floor, 1] and inverts the STFT with the
original phase:

``spectral-subtraction``
    Power subtraction with over-subtraction and a spectral floor (Berouti et al. 1979):
    ``G = sqrt(max(1 - alpha * N / P, floor))``.
``wiener``
    Wiener gain ``G = xi / (1 + xi)`` with the a-priori SNR ``xi`` estimated by the
    decision-directed rule (Ephraim & Malah 1984), floored.
``gate``
    Spectral gating: bins whose power is under ``threshold`` times the noise profile are
    attenuated to the floor; the binary mask is smoothed over neighbouring bins and frames
    to limit musical noise.
``none``
    A float64 copy of the input.

The gains are real and the windows centred, so the output is zero-phase (no delay), and it
always has exactly the input's length; the sample rate ``sr`` is not changed. Processing is
deterministic (no random numbers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from vmic.errors import VmicError

__all__ = [
    "DENOISE_METHODS",
    "denoise",
    "stft_size",
    "noise_profile",
    "spectral_subtraction_gain",
    "wiener_gain",
    "gate_gain",
]

DENOISE_METHODS = ("none", "spectral-subtraction", "wiener", "gate")

#: Signals shorter than this (samples) are returned unchanged: too short for a spectrum.
MIN_SAMPLES = 16


def stft_size(n_samples: int, sr: float, *, window_s: float = 0.1) -> int:
    """STFT window length (samples) for a signal.

    The power of two nearest to ``window_s * sr``, limited to [16, 4096] and to at most a
    quarter of the signal (so the noise quantile sees at least ~13 frames at 75 % overlap),
    but never under 8.

    Parameters
    ----------
    n_samples : int
        Signal length (samples).
    sr : float
        Sample rate (Hz).
    window_s : float, default 0.1
        Target window duration (s): 100 ms gives ~10 Hz resolution, enough to keep the
        notes of a chord apart; at 600 Hz, 64 samples (9.4 Hz bins); at 2200 Hz, 256; at
        20 kHz, 2048 (9.8 Hz bins).

    Returns
    -------
    int
    """
    target = max(window_s * sr, 1.0)
    size = int(2 ** round(math.log2(target)))
    size = min(max(size, 16), 4096)
    quarter = max(n_samples // 4, 1)
    limit = 2 ** int(math.floor(math.log2(quarter)))
    return int(max(8, min(size, limit)))


def noise_profile(power: np.ndarray, *, quantile: float = 0.1, smooth_bins: int = 21,
                  smooth_percentile: float = 20.0) -> np.ndarray:
    """Noise power per frequency from STFT power.

    Parameters
    ----------
    power : ndarray of float64, shape (F, N)
        STFT power (frequency bins x frames).
    quantile : float, default 0.1
        Quantile over frames (0 < q < 1). For Gaussian noise a bin's power is exponential,
        whose q-quantile is ``-log(1 - q)`` times its mean; the quantile is divided by that
        factor so the profile estimates the mean noise power.
    smooth_bins : int, default 21
        Width (bins) of a running percentile filter across frequency applied to the
        profile (1 = none, as the original). Broadband noise is smooth in frequency, while a
        tone held through the whole clip sits in every frame and so in the time quantile;
        it is a few bins wide, so a low percentile across frequency keeps it (and the
        notes of a held chord) out of the profile.
    smooth_percentile : float, default 20
        Percentile of that filter (50 = running median).

    Returns
    -------
    ndarray of float64, shape (F,)
    """
    if not 0 < quantile < 1:
        raise VmicError(f"noise quantile must be between 0 and 1, got {quantile:g}")
    profile = np.quantile(power, quantile, axis=-1) / -math.log1p(-quantile)
    width = min(int(smooth_bins), profile.size)
    if width > 1:
        width -= 1 - width % 2  # odd
        import scipy.ndimage

        profile = scipy.ndimage.percentile_filter(profile, smooth_percentile, size=width,
                                                  mode="nearest")
    return profile


def _ratio(power: np.ndarray, noise: np.ndarray) -> np.ndarray:
    # noise / power, 0 where both vanish (silence), large where only power does.
    tiny = np.finfo(np.float64).tiny
    return noise[:, None] / np.maximum(power, tiny)


def spectral_subtraction_gain(power: np.ndarray, noise: np.ndarray, *,
                              over_subtraction: float = 2.0, floor: float = 0.01) -> np.ndarray:
    """Power spectral subtraction gain ``sqrt(max(1 - alpha * N / P, floor))``.

    Parameters
    ----------
    power : ndarray of float64, shape (F, N)
    noise : ndarray of float64, shape (F,)
    over_subtraction : float, default 2.0
        ``alpha``: multiple of the noise power removed.
    floor : float, default 0.01
        Spectral floor, a power ratio (0.01 = -20 dB): residual noise instead of holes.

    Returns
    -------
    ndarray of float64, shape (F, N), in [sqrt(floor), 1]
    """
    return np.sqrt(np.clip(1.0 - over_subtraction * _ratio(power, noise), floor, 1.0))


def wiener_gain(power: np.ndarray, noise: np.ndarray, *, smoothing: float = 0.98,
                floor: float = 0.03) -> np.ndarray:
    """Wiener gain with a decision-directed a-priori SNR.

    ``xi(t) = smoothing * G(t-1)**2 * P(t-1) / N + (1 - smoothing) * max(P(t) / N - 1, 0)``,
    ``G(t) = max(xi / (1 + xi), floor)``.

    Parameters
    ----------
    power : ndarray of float64, shape (F, N)
    noise : ndarray of float64, shape (F,)
    smoothing : float, default 0.98
        Decision-directed weight (0 = maximum-likelihood, the simple Wiener gain
        ``max(1 - N / P, 0)``).
    floor : float, default 0.03
        Smallest gain (amplitude ratio; 0.03 = -30 dB).

    Returns
    -------
    ndarray of float64, shape (F, N)
    """
    tiny = np.finfo(np.float64).tiny
    posterior = power / np.maximum(noise[:, None], tiny)  # a-posteriori SNR
    gain = np.empty_like(power)
    previous = np.zeros(power.shape[0])
    for t in range(power.shape[1]):
        xi = smoothing * previous + (1.0 - smoothing) * np.maximum(posterior[:, t] - 1.0, 0.0)
        g = np.maximum(xi / (1.0 + xi), floor)
        gain[:, t] = g
        previous = g * g * posterior[:, t]
    return gain


def gate_gain(power: np.ndarray, noise: np.ndarray, *, threshold_db: float = 6.0,
              floor: float = 0.03, smooth: tuple[int, int] = (3, 3)) -> np.ndarray:
    """Spectral gate: floor under ``threshold`` x noise, 1 above, mask smoothed.

    Parameters
    ----------
    power : ndarray of float64, shape (F, N)
    noise : ndarray of float64, shape (F,)
    threshold_db : float, default 6.0
        Bins more than this many dB above the noise profile pass (6 dB: a noise-only bin
        passes with probability exp(-4) = 1.8 %).
    floor : float, default 0.03
        Gain of gated bins (amplitude ratio; 0.03 = -30 dB).
    smooth : (int, int), default (3, 3)
        Size (bins, frames) of the moving average applied to the 0/1 mask.

    Returns
    -------
    ndarray of float64, shape (F, N)
    """
    mask = (power > noise[:, None] * 10.0 ** (threshold_db / 10.0)).astype(np.float64)
    import scipy.ndimage

    mask = scipy.ndimage.uniform_filter(mask, size=smooth, mode="nearest")
    return floor + (1.0 - floor) * mask


def _check_params(method: str, params: dict) -> None:
    allowed = {
        "none": set(),
        "spectral-subtraction": {"over_subtraction", "floor"},
        "wiener": {"smoothing", "floor"},
        "gate": {"threshold_db", "floor", "smooth"},
    }[method] | ({"quantile", "smooth_bins", "smooth_percentile", "nperseg"}
                 if method != "none" else set())
    unknown = set(params) - allowed
    if unknown:
        raise VmicError(f"denoise method {method!r} has no parameter "
                        f"{', '.join(sorted(unknown))}; it takes {', '.join(sorted(allowed))}")
    floor = params.get("floor")
    if floor is not None and not 0 <= floor <= 1:
        raise VmicError(f"denoise floor must be between 0 and 1, got {floor:g}")


def denoise(audio: ArrayLike, sr: float, *, method: str = "spectral-subtraction",
            **params: Any) -> np.ndarray:
    """Denoise a mono signal; the output has exactly the input's length.

    Parameters
    ----------
    audio : array_like of float, shape (T,)
        Signal (any units; the output keeps them).
    sr : float
        Sample rate (Hz), any positive value (600-20 000 Hz typical). The output has the
        same rate.
    method : {"spectral-subtraction", "wiener", "gate", "none"}
    **params
        Shared: ``quantile`` (0.1), ``smooth_bins`` (21) and ``smooth_percentile`` (20) of
        :func:`noise_profile`; ``nperseg`` (default :func:`stft_size`: ~100 ms, adapted to
        short signals).
        Method-specific: see :func:`spectral_subtraction_gain` (``over_subtraction``,
        ``floor``), :func:`wiener_gain` (``smoothing``, ``floor``), :func:`gate_gain`
        (``threshold_db``, ``floor``, ``smooth``).

    Returns
    -------
    ndarray of float64, shape (T,)
        Zero-phase (real STFT gains, centred Hann windows at 75 % overlap). Signals shorter
        than 16 samples, and ``none``, return a float64 copy.

    Raises
    ------
    VmicError
        Unknown method or parameter, a non-positive rate, a non-1-D or non-finite signal.
    """
    if method not in DENOISE_METHODS:
        raise VmicError(f"unknown denoise method {method!r}; choose from "
                        f"{', '.join(DENOISE_METHODS)}")
    _check_params(method, params)
    if not (math.isfinite(sr) and sr > 0):
        raise VmicError(f"sample rate sr must be a positive number of Hz, got {sr!r}")
    x = np.array(audio, dtype=np.float64)
    if x.ndim != 1:
        raise VmicError(f"denoise takes one signal of shape (T,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise VmicError("the signal to denoise holds non-finite values (NaN or inf)")
    n = x.size
    if method == "none" or n < MIN_SAMPLES:
        return x
    nperseg = int(params.get("nperseg") or stft_size(n, sr))
    if not 4 <= nperseg <= n:
        raise VmicError(f"STFT size must be between 4 and the signal length {n}, got {nperseg}")
    noverlap = nperseg * 3 // 4
    # Remove the mean so the DC bin does not dominate; it is added back unchanged.
    offset = x.mean()
    x = x - offset
    import scipy.signal  # here, not at the top: importing the method names stays cheap

    _, _, spectrum = scipy.signal.stft(x, fs=sr, window="hann", nperseg=nperseg,
                                       noverlap=noverlap, boundary="even", padded=True)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    noise = noise_profile(power, quantile=params.get("quantile", 0.1),
                          smooth_bins=params.get("smooth_bins", 21),
                          smooth_percentile=params.get("smooth_percentile", 20.0))
    if method == "spectral-subtraction":
        gain = spectral_subtraction_gain(power, noise,
                                         over_subtraction=params.get("over_subtraction", 2.0),
                                         floor=params.get("floor", 0.01))
    elif method == "wiener":
        gain = wiener_gain(power, noise, smoothing=params.get("smoothing", 0.98),
                           floor=params.get("floor", 0.03))
    else:
        gain = gate_gain(power, noise, threshold_db=params.get("threshold_db", 6.0),
                         floor=params.get("floor", 0.03),
                         smooth=tuple(params.get("smooth", (3, 3))))
    _, y = scipy.signal.istft(spectrum * gain, fs=sr, window="hann", nperseg=nperseg,
                              noverlap=noverlap, boundary=True)
    out = np.zeros(n)
    m = min(n, y.size)
    out[:m] = y[:m]
    return out + offset
