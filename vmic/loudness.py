"""Per-frame loudness (dB) of an audio track, impact detection and its F1 score.

The loudness of output frame ``i`` follows the silent-film study ("How loud are silent
films?"): with ``chunk_i`` the audio samples that belong to frame ``i``,

    dB_i = 20 * log10(sqrt(sum(chunk_i ** 2)))  =  10 * log10(sum(chunk_i ** 2)),

clipped from below at a floor (silence would otherwise be -inf). It is a *sum*, not a mean,
so the value depends on the chunk length (samples per frame); compare dB only at one audio
sample rate ``sr`` and frame rate ``fps``.

Chunks tile the audio exactly even when the samples per frame are not an integer (e.g.
2200 Hz audio at 30 frames/s = 73.33 samples per frame): chunk ``i`` is
``audio[b[i]:b[i+1]]`` with ``b[i] = floor(i * frame_len + 0.5)`` (round half up), so chunk
lengths differ by at most one sample and no sample is counted twice or skipped. Samples after
the last complete chunk are ignored.

Everything here is numpy only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from vmic.errors import VmicError

__all__ = [
    "DEFAULT_FLOOR_DB",
    "chunk_bounds",
    "frame_loudness_db",
    "loudness_at_rate",
    "correlation_above_floor",
    "detect_impacts",
    "match_events",
    "event_f1",
]

#: Default floor for silent chunks, dB (relative to a chunk of unit energy).
DEFAULT_FLOOR_DB = -100.0


def chunk_bounds(n_samples: int, frame_len: float) -> np.ndarray:
    """Sample boundaries of the complete per-frame chunks of an audio track.

    Parameters
    ----------
    n_samples : int
        Length of the audio, samples.
    frame_len : float
        Samples per frame (``sr / fps``: sample rate over frame rate); need not be an integer.

    Returns
    -------
    numpy.ndarray of int64, shape (n_frames + 1,)
        ``b[i] = floor(i * frame_len + 0.5)``; chunk ``i`` is ``audio[b[i]:b[i+1]]``.
        ``n_frames`` is the number of chunks that end at or before ``n_samples``.
    """
    frame_len = float(frame_len)
    if not frame_len > 0 or not np.isfinite(frame_len):
        raise VmicError(f"frame length must be a positive finite number of samples, got "
                         f"{frame_len}")
    n_samples = int(n_samples)
    if n_samples < 0:
        raise VmicError("n_samples must be >= 0")
    n_frames = int(np.floor(n_samples / frame_len)) + 1
    bounds = np.floor(np.arange(n_frames + 1) * frame_len + 0.5).astype(np.int64)
    while n_frames > 0 and bounds[n_frames] > n_samples:
        n_frames -= 1
    return bounds[: n_frames + 1]


def frame_loudness_db(audio: ArrayLike, frame_len: float, *,
                      floor_db: float = DEFAULT_FLOOR_DB) -> np.ndarray:
    """Loudness of each frame's audio chunk, ``20*log10(sqrt(sum(chunk**2)))``, floored.

    Parameters
    ----------
    audio : array_like, shape (N,)
        Audio samples (any float units; dB are relative to a chunk of unit energy).
    frame_len : float
        Samples per frame (``sr / fps``); non-integer values use the rounded
        boundaries of :func:`chunk_bounds`.
    floor_db : float
        dB given to chunks quieter than this (silence), dB.

    Returns
    -------
    numpy.ndarray of float64, shape (n_frames,)
        One dB value per complete chunk, each ``>= floor_db``.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise VmicError(f"audio must be 1-D (N,), got shape {audio.shape}")
    bounds = chunk_bounds(audio.size, frame_len)
    if bounds.size < 2:
        return np.zeros(0, dtype=np.float64)
    # Cumulative energy gives every chunk's sum of squares at once, whatever its length.
    cumulative = np.concatenate([[0.0], np.cumsum(audio * audio)])
    energy = np.maximum(cumulative[bounds[1:]] - cumulative[bounds[:-1]], 0.0)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(energy)
    return np.maximum(db, float(floor_db))


def loudness_at_rate(audio: ArrayLike, sr: float, *, fps: float,
                     floor_db: float = DEFAULT_FLOOR_DB) -> np.ndarray:
    """Per-frame dB of ``audio`` (sampled at ``sr`` Hz) at ``fps`` output frames/s.

    Parameters
    ----------
    audio : array_like, shape (N,)
        Audio samples.
    sr : float
        Sample rate of ``audio``, Hz.
    fps : float
        Output frames per second; must not exceed ``sr``.
    floor_db : float
        Floor for silent chunks, dB.

    Returns
    -------
    numpy.ndarray of float64, shape (n_frames,)
        See :func:`frame_loudness_db`; ``n_frames = floor(N * fps / sr)`` (up to rounding of
        the last boundary).
    """
    if not sr > 0 or not fps > 0:
        raise VmicError(f"sr and fps must be positive, got sr={sr!r} Hz, fps={fps!r}")
    if fps > sr:
        raise VmicError(f"fps={fps:g} frames/s exceeds the audio's sample rate sr={sr:g} Hz")
    return frame_loudness_db(audio, sr / fps, floor_db=floor_db)


def correlation_above_floor(db: ArrayLike, truth: ArrayLike, floor_db: float) -> float:
    """Pearson correlation of two dB tracks over the frames where the truth is above a floor.

    Parameters
    ----------
    db, truth : array_like, shape (T1,), (T2,)
        Per-frame loudness (dB); the first ``min(T1, T2)`` frames are compared.
    floor_db : float
        Frames whose truth is at or below this (dB) are left out.

    Returns
    -------
    float
        Correlation in [-1, 1], or ``nan`` with fewer than 3 frames kept or a constant track.
    """
    db = np.asarray(db, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    n = min(db.size, truth.size)
    keep = truth[:n] > floor_db
    if keep.sum() < 3 or np.std(db[:n][keep]) == 0 or np.std(truth[:n][keep]) == 0:
        return float("nan")
    return float(np.corrcoef(db[:n][keep], truth[:n][keep])[0, 1])


def detect_impacts(db: ArrayLike, threshold_db: float, *,
                   min_separation: int = 2) -> np.ndarray:
    """Frames where an impact sound starts: local dB peaks at or above a threshold.

    A frame is an impact when its dB is ``>= threshold_db``, strictly greater than the
    previous frame's and not smaller than the next frame's. Of peaks closer than
    ``min_separation`` frames only the loudest is kept (a burst that spills into the next
    chunk gives one impact, not two).

    Parameters
    ----------
    db : array_like, shape (T,)
        Per-frame loudness, dB.
    threshold_db : float
        Quietest dB counted as an impact, dB.
    min_separation : int
        Minimum distance between two reported impacts, frames (>= 1).

    Returns
    -------
    numpy.ndarray of int64, shape (n_impacts,)
        Sorted frame indices.
    """
    db = np.asarray(db, dtype=np.float64)
    if db.ndim != 1:
        raise VmicError(f"db must be 1-D (T,), got shape {db.shape}")
    if db.size == 0:
        return np.zeros(0, dtype=np.int64)
    previous = np.concatenate([[-np.inf], db[:-1]])
    following = np.concatenate([db[1:], [-np.inf]])
    candidates = np.flatnonzero((db >= threshold_db) & (db > previous) & (db >= following))
    kept: list[int] = []
    for index in candidates[np.argsort(-db[candidates], kind="stable")]:
        if all(abs(int(index) - k) >= min_separation for k in kept):
            kept.append(int(index))
    return np.array(sorted(kept), dtype=np.int64)


def match_events(predicted: ArrayLike, truth: ArrayLike,
                 tolerance: int = 1) -> list[tuple[int, int]]:
    """One-to-one matching of predicted to true event frames within ``tolerance`` frames.

    Greedy by distance (closest pairs first, ties to the earlier frame), each event used at
    most once.

    Parameters
    ----------
    predicted, truth : array_like of int, shapes (P,), (Q,)
        Event frame indices.
    tolerance : int
        Largest ``|predicted - truth|`` that counts as a hit, frames.

    Returns
    -------
    list of (int, int)
        Matched ``(predicted_frame, true_frame)`` pairs.
    """
    predicted = np.asarray(predicted, dtype=np.int64).ravel()
    truth = np.asarray(truth, dtype=np.int64).ravel()
    pairs = [
        (abs(int(p) - int(t)), int(t), int(p))
        for p in predicted for t in truth if abs(int(p) - int(t)) <= tolerance
    ]
    used_p: set[int] = set()
    used_t: set[int] = set()
    matched = []
    for _, t, p in sorted(pairs):
        if p in used_p or t in used_t:
            continue
        used_p.add(p)
        used_t.add(t)
        matched.append((p, t))
    return matched


def event_f1(predicted: ArrayLike, truth: ArrayLike,
             tolerance: int = 1) -> tuple[float, float, float]:
    """Precision, recall and F1 of predicted event frames against the truth.

    Parameters
    ----------
    predicted, truth : array_like of int, shapes (P,), (Q,)
        Event frame indices (each at most once).
    tolerance : int
        A prediction within this many frames of an unmatched true event is a hit.

    Returns
    -------
    (precision, recall, f1) : tuple of float
        Each in [0, 1]. With no true and no predicted events all three are 1.
    """
    n_pred = int(np.asarray(predicted).size)
    n_true = int(np.asarray(truth).size)
    if n_pred == 0 and n_true == 0:
        return 1.0, 1.0, 1.0
    hits = len(match_events(predicted, truth, tolerance))
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1
