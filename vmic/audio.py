"""Audio sink: WAV files and spectrogram pictures, written atomically."""

from __future__ import annotations

import numpy as np

from .atomic import atomic_path
from .errors import VmicError

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
    """Read a sound file as mono float64 (channels averaged) and its rate (Hz)."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except FileNotFoundError:
        raise VmicError(f"no such file: {path}") from None
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise VmicError(f"cannot read sound file {path}: {exc}") from None
    if data.shape[0] == 0:
        raise VmicError(f"sound file {path} holds no samples")
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
