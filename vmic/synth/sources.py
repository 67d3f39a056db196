"""Source signals for synthetic clips: the sound that moves the surface.

Every generator returns float64 (T,) samples at the capture rate ``fs`` (Hz), zero mean, scaled
to a peak of 1 (unitless; the renderer multiplies by the amplitude in px). Randomness comes only
from the ``rng`` argument (a :class:`numpy.random.Generator`), so a seed fixes the result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from scipy import signal

from vmic.errors import VmicError

SOURCE_KINDS = ("tones", "chirp", "speech", "white", "pink", "wav")

DEFAULT_TONES_HZ = (261.63, 329.63, 392.0)
"""C major chord (Hz), the default of ``kind="tones"``."""


def _normalise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise VmicError("the source signal is silent")
    return x / peak


def _check_band(freqs, fs: float, what: str) -> None:
    for f in np.atleast_1d(freqs):
        if not 0 < f < fs / 2:
            raise VmicError(f"{what} {f:g} Hz must be in (0, {fs / 2:g}) Hz (half the capture "
                            f"rate {fs:g} fps)")


def tones(n: int, fs: float, *, freqs_hz: Sequence[float] = DEFAULT_TONES_HZ,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """Sum of equal-amplitude sines (a chord) with random phases.

    Parameters
    ----------
    n : int
        Number of samples.
    fs : float
        Sample (capture) rate, Hz.
    freqs_hz : sequence of float
        Tone frequencies (Hz), each below ``fs / 2``.
    rng : numpy.random.Generator, optional
        Draws the phases (all zero if None).

    Returns
    -------
    numpy.ndarray
        float64 (n,), peak 1.
    """
    freqs = np.asarray(freqs_hz, dtype=np.float64).reshape(-1)
    if freqs.size == 0:
        raise VmicError("tones need at least one frequency")
    _check_band(freqs, fs, "tone")
    phases = rng.uniform(0, 2 * np.pi, freqs.size) if rng is not None else np.zeros(freqs.size)
    t = np.arange(n) / fs
    return _normalise(np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]).sum(axis=0))


def chirp(n: int, fs: float, *, f0_hz: float = 100.0, f1_hz: float | None = None,
          method: str = "logarithmic") -> np.ndarray:
    """A frequency sweep from ``f0_hz`` to ``f1_hz`` (default ``0.4 fs``) over the clip.

    Parameters
    ----------
    n : int
        Number of samples.
    fs : float
        Sample rate, Hz.
    f0_hz, f1_hz : float
        Start and end frequencies (Hz).
    method : str
        ``"logarithmic"`` or ``"linear"`` (see :func:`scipy.signal.chirp`).

    Returns
    -------
    numpy.ndarray
        float64 (n,), peak 1.
    """
    f1_hz = 0.4 * fs if f1_hz is None else f1_hz
    _check_band([f0_hz, f1_hz], fs, "chirp frequency")
    t = np.arange(n) / fs
    return _normalise(signal.chirp(t, f0_hz, max(t[-1], 1.0 / fs), f1_hz, method=method))


def speech(n: int, fs: float, rng: np.random.Generator, *,
           f0_range_hz: tuple[float, float] = (110.0, 220.0),
           syllable_rate_hz: float = 4.0) -> np.ndarray:
    """A speech-like source: harmonics of a gliding pitch under a syllable envelope.

    The pitch glides smoothly (random walk, low-passed) within ``f0_range_hz``; harmonic ``k``
    has amplitude ``1/k`` times two formant peaks (one pair of formant frequencies drawn per
    syllable); harmonics above ``0.45 fs`` are dropped. Syllables are raised-cosine bursts of
    random length (about ``1 / syllable_rate_hz``) separated by short gaps.

    Parameters
    ----------
    n : int
        Number of samples.
    fs : float
        Sample rate, Hz.
    rng : numpy.random.Generator
        Randomness (pitch contour, syllables, formants).
    f0_range_hz : (float, float)
        Pitch range (Hz).
    syllable_rate_hz : float
        Mean syllables per second.

    Returns
    -------
    numpy.ndarray
        float64 (n,), peak 1.
    """
    lo, hi = f0_range_hz
    _check_band([lo, hi], fs, "pitch")
    t = np.arange(n) / fs
    # pitch contour: smoothed random walk mapped into [lo, hi]
    knots = max(4, int(np.ceil(t[-1] * 3)) + 2)
    knot_values = rng.uniform(0, 1, knots)
    contour = np.interp(t, np.linspace(0, t[-1] if n > 1 else 1.0, knots), knot_values)
    contour = np.clip(contour + 0.03 * np.sin(2 * np.pi * 5.5 * t), 0, 1)
    f0 = lo + (hi - lo) * contour
    phase = 2 * np.pi * np.cumsum(f0) / fs
    # syllables
    env = np.zeros(n)
    formants = np.zeros((n, 2))
    pos = int(rng.uniform(0, 0.05) * fs)
    while pos < n:
        length = int(rng.uniform(0.6, 1.4) / syllable_rate_hz * fs * 0.8)
        gap = int(rng.uniform(0.1, 0.4) / syllable_rate_hz * fs)
        stop = min(n, pos + length)
        if stop > pos:
            env[pos:stop] = np.sin(np.pi * np.arange(stop - pos) / max(1, length)) ** 2
            formants[pos:stop] = (rng.uniform(300, 800), rng.uniform(900, 2200))
        pos = stop + gap
    out = np.zeros(n)
    k_max = int(0.45 * fs // lo)
    for k in range(1, k_max + 1):
        fk = k * f0
        weight = (1.0 / k) * (1 + 3 * np.exp(-(((fk - formants[:, 0]) / 150.0) ** 2))
                              + 2 * np.exp(-(((fk - formants[:, 1]) / 250.0) ** 2)))
        weight = np.where(fk < 0.45 * fs, weight, 0.0)
        out += weight * np.sin(k * phase)
    return _normalise(env * out)


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise (flat to ``fs / 2``), float64 (n,), peak 1."""
    return _normalise(rng.standard_normal(n))


def pink(n: int, fs: float, rng: np.random.Generator, *, lo_hz: float = 20.0) -> np.ndarray:
    """Pink noise: power density ``1/f`` from ``lo_hz`` to ``fs / 2`` (zero below), peak 1.

    Parameters
    ----------
    n : int
        Number of samples.
    fs : float
        Sample rate, Hz.
    rng : numpy.random.Generator
        Randomness.
    lo_hz : float
        Below this frequency (Hz) the spectrum is zero.

    Returns
    -------
    numpy.ndarray
        float64 (n,), peak 1.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    shape = np.where(f >= lo_hz, 1.0 / np.sqrt(np.maximum(f, lo_hz)), 0.0)
    return _normalise(np.fft.irfft(spectrum * shape, n))


def from_wav(path: str | os.PathLike, fs: float, *, n: int | None = None,
             offset_s: float = 0.0) -> np.ndarray:
    """An audio file, mono (channel mean), resampled to ``fs`` (polyphase), peak 1.

    Parameters
    ----------
    path : path-like
        Any file soundfile reads (WAV, FLAC, ...).
    fs : float
        Target (capture) rate, Hz.
    n : int, optional
        Number of samples to return (default: the whole file); shorter files are zero-padded.
    offset_s : float
        Start in the file (s).

    Returns
    -------
    numpy.ndarray
        float64 (n,), peak 1.
    """
    from vmic.io.audio import read_wav

    audio, rate = read_wav(path)
    x = audio[int(round(offset_s * rate)):]
    if rate != fs:
        ratio = Fraction(fs / rate).limit_denominator(1000)
        x = signal.resample_poly(x, ratio.numerator, ratio.denominator)
    if n is not None:
        x = np.pad(x[:n], (0, max(0, n - x.size)))
    return _normalise(x)


def wav_duration_s(path: str | os.PathLike) -> float:
    """Duration (s) of an audio file."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise VmicError(f"no such audio file: {path}")
    info = sf.info(str(path))
    return info.frames / info.samplerate


def make_source(kind: str, n: int, fs: float, rng: np.random.Generator, *,
                tones_hz: Sequence[float] = DEFAULT_TONES_HZ,
                chirp_hz: tuple[float, float | None] = (100.0, None),
                wav: str | os.PathLike | None = None,
                wav_offset_s: float = 0.0) -> np.ndarray:
    """Dispatch to the generator ``kind`` (one of :data:`SOURCE_KINDS`); float64 (n,), peak 1."""
    if kind == "tones":
        return tones(n, fs, freqs_hz=tones_hz, rng=rng)
    if kind == "chirp":
        return chirp(n, fs, f0_hz=chirp_hz[0], f1_hz=chirp_hz[1])
    if kind == "speech":
        return speech(n, fs, rng)
    if kind == "white":
        return white(n, rng)
    if kind == "pink":
        return pink(n, fs, rng)
    if kind == "wav":
        if wav is None:
            raise VmicError("source 'wav' needs a WAV file (--wav PATH)")
        return from_wav(wav, fs, n=n, offset_s=wav_offset_s)
    raise VmicError(f"unknown source {kind!r}; choose from {', '.join(SOURCE_KINDS)}")


def mode_filter(fs: float, freq_hz: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """The digital filter ``(b, a)`` of one mode, ``H(s) = w0^2 / (s^2 + (w0/Q) s + w0^2)``.

    The second-order low-pass with a peak of about ``Q`` at ``freq_hz`` (unit gain at DC),
    discretised by the bilinear transform with pre-warping at ``freq_hz``.

    Parameters
    ----------
    fs : float
        Sample rate, Hz.
    freq_hz : float
        Resonance frequency (Hz), below ``fs / 2``.
    q : float
        Quality factor (> 0).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Numerator and denominator coefficients, float64 (3,) each.
    """
    _check_band([freq_hz], fs, "resonance")
    if not q > 0:
        raise VmicError(f"resonance Q must be > 0, got {q:g}")
    w0 = 2 * np.pi * freq_hz
    # pre-warp: design at the warped frequency so the digital peak lands on freq_hz
    wp = 2 * fs * np.tan(w0 / (2 * fs))
    return signal.bilinear([wp ** 2], [1.0, wp / q, wp ** 2], fs=fs)


def resonate(x: np.ndarray, fs: float, freq_hz: float, q: float) -> np.ndarray:
    """Drive a mass-spring-damper with ``x``: ``H(s) = w0^2 / (s^2 + (w0/Q) s + w0^2)``.

    A real surface responds to sound through its own resonance; this is the second-order
    low-pass of :func:`mode_filter`, run causally.

    Parameters
    ----------
    x : numpy.ndarray
        Driving signal, float64 (T,).
    fs : float
        Sample rate, Hz.
    freq_hz : float
        Resonance frequency (Hz), below ``fs / 2``.
    q : float
        Quality factor (> 0).

    Returns
    -------
    numpy.ndarray
        float64 (T,), the response, rescaled to peak 1.
    """
    b, a = mode_filter(fs, freq_hz, q)
    return _normalise(signal.lfilter(b, a, x))


def modal_response(x: np.ndarray, fs: float, modes: Sequence[tuple[float, float, float]]
                   ) -> np.ndarray:
    """Drive a sum of damped modes with ``x``: ``sum_k g_k H_k`` (:func:`mode_filter`).

    Parameters
    ----------
    x : numpy.ndarray
        Driving signal, float64 (T,).
    fs : float
        Sample rate, Hz.
    modes : sequence of (float, float, float)
        ``(freq_hz, q, gain)`` of each mode; the gain is unitless (the sign flips a mode).

    Returns
    -------
    numpy.ndarray
        float64 (T,), the response, not rescaled (unit gain at DC for one mode of gain 1).
    """
    out = None
    for freq_hz, q, gain in modes:
        b, a = mode_filter(fs, freq_hz, q)
        y = signal.lfilter(b, a, x)
        y = y if gain == 1 else gain * y
        out = y if out is None else out + y
    if out is None:
        raise VmicError("a modal response needs at least one mode")
    return out


def modal_frequency_response(freqs_hz: ArrayLike, fs: float,
                             modes: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """The complex response of :func:`modal_response` at ``freqs_hz`` (Hz), complex128 (F,)."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    out = np.zeros(f.shape, dtype=np.complex128)
    for freq_hz, q, gain in modes:
        b, a = mode_filter(fs, freq_hz, q)
        out += gain * signal.freqz(b, a, worN=f, fs=fs)[1]
    return out


def resonate_modes(x: np.ndarray, fs: float, modes: Sequence[tuple[float, float, float]]
                   ) -> tuple[np.ndarray, float]:
    """:func:`modal_response`, rescaled to peak 1 as :func:`resonate` does, and that scale.

    One mode of gain 1 gives the very samples of :func:`resonate`.

    Returns
    -------
    response : numpy.ndarray
        float64 (T,), peak 1.
    scale : float
        The factor applied to the modes' output (after removing its mean): the response is
        ``scale * sum_k g_k H_k`` applied to ``x``.
    """
    y = modal_response(x, fs, modes)
    return _normalise(y), peak_scale(y)


def peak_scale(x: np.ndarray) -> float:
    """The factor by which :func:`make_source`'s generators scale ``x`` to peak 1 (after
    removing its mean)."""
    peak = float(np.max(np.abs(x - x.mean())))
    if peak == 0.0:
        raise VmicError("the source signal is silent")
    return 1.0 / peak
