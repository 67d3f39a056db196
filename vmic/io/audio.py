"""Audio sink: WAV files and spectrogram pictures, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.atomic import atomic_path

__all__ = ["write_wav", "read_wav", "save_spectrogram", "wav_rate"]


def wav_rate(rate: float) -> int:
    """WAV headers hold integer rates: the nearest integer (>= 1) to ``rate`` (Hz)."""
    return max(1, int(round(rate)))


def write_wav(path, audio: np.ndarray, rate: float) -> None:
    """Write mono float32 WAV at ``rate`` Hz (rounded to an integer), atomically.

    Parameters
    ----------
    path : path-like
    audio : ndarray of float, shape (T,)
        Samples; not rescaled (float WAV keeps values outside [-1, 1]).
    rate : float
        Sample rate (Hz): the clip's capture rate.
    """
    import soundfile

    audio = np.asarray(audio, dtype=np.float32)
    with atomic_path(path) as tmp:
        try:
            soundfile.write(str(tmp), audio, wav_rate(rate), subtype="FLOAT", format="WAV")
        except (RuntimeError, TypeError, ValueError) as exc:
            raise VmicError(f"cannot write {path}: {exc}") from None


def read_wav(path) -> tuple[np.ndarray, int]:
    """Read a sound file (WAV, FLAC, ... anything soundfile reads) as mono float64.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    audio : ndarray of float64, shape (T,)
        The mean of the channels.
    rate : int
        Sample rate (Hz).

    Raises
    ------
    VmicError
        Missing, unreadable or empty file, with one line saying which.
    """
    import soundfile

    if not Path(path).is_file():
        raise VmicError(f"no such audio file: {path}")
    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise VmicError(f"cannot read audio {path}: {exc}") from None
    if data.shape[0] == 0:
        raise VmicError(f"audio file {path} holds no samples")
    return data.mean(axis=1), int(rate)


def save_spectrogram(path, audio: np.ndarray, rate: float, title: str = "") -> None:
    """Save a spectrogram (dB, Hann windows) of ``audio`` as an image, atomically.

    Parameters
    ----------
    path : path-like
        Output picture; the format follows the suffix (PNG, PDF, SVG...).
    audio : ndarray of float, shape (T,)
    rate : float
        Sample rate (Hz).
    title : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scipy.signal

    audio = np.asarray(audio, dtype=np.float64)
    nperseg = int(min(256, max(16, 2 ** np.floor(np.log2(max(len(audio) // 8, 16))))))
    freqs, times, power = scipy.signal.spectrogram(audio, fs=rate, window="hann",
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
