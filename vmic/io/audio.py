"""Audio sink: WAV files and spectrogram pictures, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from vmic.errors import VmicError
from vmic.io.atomic import atomic_path
from vmic.validate import check_sr

__all__ = ["write_wav", "read_wav", "resample", "save_spectrogram", "wav_sr"]


def wav_sr(sr: float) -> int:
    """WAV headers hold integer rates: the nearest integer to ``sr`` (Hz), which must be >= 1."""
    return int(round(check_sr(sr)))


def write_wav(path: str | os.PathLike, audio: ArrayLike, sr: float) -> None:
    """Write mono float32 WAV at ``sr`` Hz (rounded to an integer), atomically.

    The one WAV writer of vmic. The file is a plain IEEE-float WAV (``scipy.io.wavfile``):
    the same samples give the same bytes, which libsndfile's float WAV, whose PEAK chunk
    holds a time stamp, does not (rendered truths are compared by their bytes). Files are
    read with soundfile (:func:`read_wav`).

    Parameters
    ----------
    path : path-like
    audio : array_like of float, shape (T,)
        Samples; not rescaled (float WAV keeps values outside [-1, 1]).
    sr : float
        Sample rate (Hz), at least 1: for recovered audio, the clip's capture rate.
    """
    from scipy.io import wavfile

    rate = wav_sr(sr)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise VmicError(f"cannot write {path}: audio must be mono (T,), got shape {audio.shape}")
    with atomic_path(path) as tmp:
        try:
            wavfile.write(tmp, rate, audio)
        except (OSError, ValueError) as exc:
            raise VmicError(f"cannot write {path}: {exc}") from None


def read_wav(path: str | os.PathLike, *, mix_channels: bool = True) -> tuple[np.ndarray, int]:
    """Read a sound file (WAV, FLAC, ... anything soundfile reads) as mono float64.

    Parameters
    ----------
    path : path-like
    mix_channels : bool, default True
        Average the channels of a multi-channel file; False refuses such a file (where a
        signal is compared sample by sample with another, mixing would hide a mistake).

    Returns
    -------
    audio : ndarray of float64, shape (T,)
        The mean of the channels.
    sr : int
        Sample rate (Hz).

    Raises
    ------
    VmicError
        Missing, unreadable or empty file, or a refused multi-channel file, with one line
        saying which.
    """
    import soundfile

    if not Path(path).is_file():
        raise VmicError(f"no such audio file: {path}")
    try:
        data, sr = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise VmicError(f"cannot read audio {path}: {exc}") from None
    if data.shape[0] == 0:
        raise VmicError(f"audio file {path} holds no samples")
    if not mix_channels and data.shape[1] != 1:
        raise VmicError(f"audio file {path} has {data.shape[1]} channels; a mono file is "
                        "needed (pick or mix the channels first)")
    return data.mean(axis=1), int(sr)


def resample(audio: ArrayLike, sr: float, *, target_sr: float) -> np.ndarray:
    """Resample ``audio`` from ``sr`` to ``target_sr`` (Hz) with soxr (very high quality).

    Parameters
    ----------
    audio : array_like of float, shape (T,)
    sr, target_sr : float
        Rates (Hz).

    Returns
    -------
    ndarray of float64, shape (round(T * target_sr / sr),)
    """
    import soxr

    x = np.ascontiguousarray(audio, dtype=np.float64)
    return soxr.resample(x, check_sr(sr), check_sr(target_sr, name="target_sr"), quality="VHQ")


def save_spectrogram(path: str | os.PathLike, audio: ArrayLike, sr: float, *,
                     title: str = "") -> None:
    """Save a spectrogram (dB, Hann windows) of ``audio`` as an image, atomically.

    Parameters
    ----------
    path : path-like
        Output picture; the format follows the suffix (PNG, PDF, SVG...).
    audio : array_like of float, shape (T,)
    sr : float
        Sample rate (Hz).
    title : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scipy.signal

    audio = np.asarray(audio, dtype=np.float64)
    nperseg = int(min(256, max(16, 2 ** np.floor(np.log2(max(len(audio) // 8, 16))))))
    freqs, times, power = scipy.signal.spectrogram(audio, fs=sr, window="hann",
                                                   nperseg=nperseg, noverlap=nperseg * 3 // 4)
    db = 10 * np.log10(power + 1e-20)
    vmax = db.max()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    mesh = ax.pcolormesh(times, freqs, db, shading="auto", cmap="magma", vmin=vmax - 80,
                         vmax=vmax)
    fig.colorbar(mesh, ax=ax, label="power (dB)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title or "spectrogram")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1].lower() if "." in str(path)
                    else "png")
    plt.close(fig)
