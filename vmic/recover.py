"""Recovery: compose frames -> pyramid -> phase signals -> combination -> post -> audio."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import combine as _combine
from . import post
from .errors import VmicError
from .frames import Clip, open_clip
from .phase import (
    PhaseSums,
    frame_phase_sums,
    local_phase,
    original_band_signals,
    phase_sums,
    reference_bands,
)
from .progress import progress
from .pyramid import SteerablePyramid

__all__ = ["Recovery", "recover", "recover_from_sums", "COMBINE_METHODS", "DEFAULT_COMBINE",
           "default_tiles", "check_reference"]

COMBINE_METHODS = ("align", "bands", "local")
DEFAULT_COMBINE = "local"
LOCAL_TILE_PX = 16  # tile side at scale 0 for the local method (px)


@dataclass
class Recovery:
    """Result of :func:`recover`.

    Attributes
    ----------
    audio : ndarray of float32, shape (T,)
        Recovered sound, scaled to [-1, 1].
    rate : float
        Sample rate (Hz) = capture rate.
    band_signals : ndarray of float64, shape (S, K, T)
        ``vmSoundFromVideo``'s per-band signals, mean(dphi * A**2) / sum(A) (rad).
    combine : str
        Combination method used.
    weights : ndarray of float64 or None
        Signed weights of the combined signals (``bands``: shape (S, K); ``local``:
        shape (S, K, TY, TX)); None for ``align``.
    elapsed_s : float
        Wall time of the recovery (s).
    """

    audio: np.ndarray
    rate: float
    band_signals: np.ndarray
    combine: str
    weights: np.ndarray | None = None
    elapsed_s: float = 0.0
    info: dict = field(default_factory=dict)


def default_tiles(band_shapes: list[tuple[int, int]], tile_px: int = LOCAL_TILE_PX):
    """Tile grid for local aggregation: ``tile_px`` tiles at scale 0, at least 2 px of the
    coarsest band per tile, at most 24 x 24 tiles."""
    (h0, w0), (hc, wc) = band_shapes[0], band_shapes[-1]
    ty = max(1, min(h0 // tile_px, hc // 2, 24))
    tx = max(1, min(w0 // tile_px, wc // 2, 24))
    return ty, tx


def check_reference(reference: list[np.ndarray]) -> None:
    """Refuse a featureless reference frame (no texture: no phase to measure)."""
    energy = sum(float(np.sum(np.abs(bands) ** 2)) for bands in reference)
    if not np.isfinite(energy):
        raise VmicError("the reference frame holds non-finite values (NaN or inf)")
    if energy <= 1e-12:
        raise VmicError(
            "the reference frame is featureless (no texture or edges): there is no motion to "
            "measure; choose another --roi or --reference-frame"
        )


def recover_from_sums(sums: PhaseSums, rate: float, combine: str = DEFAULT_COMBINE,
                      highpass_hz: float | None = None,
                      bandpass_hz: tuple[float, float] | None = None,
                      denoise: str = "none") -> Recovery:
    """Combine and post-process phase sums into audio.

    Parameters
    ----------
    sums : PhaseSums
        From :func:`vmic.phase.phase_sums` (whole-frame tiles suffice for ``align`` and
        ``bands``; ``local`` uses the tiles).
    rate : float
        Capture rate (Hz).
    combine : {"align", "bands", "local"}
    highpass_hz : float, optional
        High-pass cutoff (Hz). Default 0.05 of Nyquist, as the original. ``align`` always
        uses the original's fixed causal filter and ignores it.
    bandpass_hz : (float, float), optional
        Keep only [lo, hi] Hz (zero-phase), after the combination.
    denoise : str, default "none"
        Denoising method of :mod:`vmic.denoise`, applied last.

    Returns
    -------
    Recovery
    """
    if combine not in COMBINE_METHODS:
        raise VmicError(f"unknown combination {combine!r}; choose from "
                        f"{', '.join(COMBINE_METHODS)}")
    band_signals = original_band_signals(sums)
    weights = None
    if combine == "align":
        raw = _combine.align_to_reference(band_signals)
        audio = post.scale_original(post.original_highpass(raw))
    else:
        cutoff = post.default_highpass_hz(rate) if highpass_hz is None else highpass_hz
        if combine == "bands":
            signals = band_signals.reshape(-1, band_signals.shape[-1])
        else:
            signals = local_phase(sums).reshape(-1, sums.n_frames)
        signals = signals - signals.mean(axis=-1, keepdims=True)
        filtered = post.highpass(signals, rate, cutoff)
        combined, weights = _combine.rank1_combine(filtered)
        audio = post.scale_peak(combined)
        grid = band_signals.shape[:2] if combine == "bands" else sums.weighted_phase.shape[1:]
        weights = weights.reshape(grid)
    audio = post.finish(audio, rate, bandpass_hz, denoise)
    return Recovery(audio=audio.astype(np.float32), rate=rate, band_signals=band_signals,
                    combine=combine, weights=weights)


def _check_post_options(rate, bandpass_hz, denoise) -> None:
    # Checked before the long extraction, so a typo does not cost a whole run.
    from .denoise import DENOISE_METHODS

    if denoise not in DENOISE_METHODS:
        raise VmicError(f"unknown denoise method {denoise!r}; choose from "
                        f"{', '.join(DENOISE_METHODS)}")
    if bandpass_hz is not None:
        lo, hi = bandpass_hz
        post._check_cutoff(lo, rate, "band-pass low edge")
        post._check_cutoff(hi, rate, "band-pass high edge")
        if not lo < hi:
            raise VmicError(f"band-pass needs LO < HI, got {lo:g},{hi:g} Hz")


def recover(clip, *, fps: float | None = None, scales: int = 1, orientations: int = 2,
            combine: str = DEFAULT_COMBINE, highpass_hz: float | None = None,
            reference_frame: int = 0, roi=None, downsample: int = 1, start: int = 0,
            n_frames: int | None = None, bandpass_hz: tuple[float, float] | None = None,
            denoise: str = "none", batch_size: int = 32, quiet: bool = True,
            dtype=np.float32) -> Recovery:
    """Recover sound from a clip.

    Parameters
    ----------
    clip : str, Path, Clip or ndarray
        A clip path (video, image folder, ``.npy``), an opened :class:`~vmic.frames.Clip`,
        or frames (T, H, W) (then ``fps`` is required).
    fps : float, optional
        Capture rate (Hz); default from the sidecar, else the container (with a warning).
    scales : int, default 1
        Pyramid scales.
    orientations : int, default 2
        Pyramid orientations.
    combine : {"local", "bands", "align"}, default "local"
        Combination method (see :mod:`vmic.combine`); ``align`` reproduces
        ``vmSoundFromVideo``.
    highpass_hz : float, optional
        High-pass cutoff (Hz), zero-phase; default 0.05 of Nyquist.
    reference_frame : int, default 0
        Reference frame, counted from ``start``.
    roi, downsample, start, n_frames
        Frame selection, see :func:`vmic.frames.open_clip`.
    bandpass_hz : (float, float), optional
        Keep only [lo, hi] Hz (zero-phase Butterworth).
    denoise : {"none", "spectral-subtraction", "wiener", "gate"}, default "none"
        Denoising of the recovered audio (see :mod:`vmic.denoise`).
    batch_size : int, default 32
        Frames per batch; memory is O(batch_size), not O(clip length).
    quiet : bool, default True
        No progress bar.
    dtype : float32 or float64
        Pyramid precision.

    Returns
    -------
    Recovery
    """
    started = time.perf_counter()
    own_clip = not isinstance(clip, Clip)
    if own_clip:
        clip = open_clip(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                         n_frames=n_frames)
    try:
        if clip.n_frames < 2:
            raise VmicError(f"need at least 2 frames to measure motion, the clip has "
                            f"{clip.n_frames}")
        if combine not in COMBINE_METHODS:
            raise VmicError(f"unknown combination {combine!r}; choose from "
                            f"{', '.join(COMBINE_METHODS)}")
        if highpass_hz is not None:
            post._check_cutoff(highpass_hz, clip.capture_fps, "high-pass cutoff")
        _check_post_options(clip.capture_fps, bandpass_hz, denoise)
        pyramid = SteerablePyramid(clip.frame_shape, scales, orientations, dtype=dtype)
        reference = reference_bands(pyramid, clip.read_frame(reference_frame))
        check_reference(reference)
        tiles = default_tiles(pyramid.band_shapes) if combine == "local" else (1, 1)
        bar = progress(clip.n_frames, "recover", quiet)
        try:
            sums = phase_sums(pyramid, reference, clip.iter_batches(batch_size), tiles, bar)
        finally:
            bar.close()
        if sums.n_frames < 2:
            raise VmicError(f"only {sums.n_frames} frame could be decoded; need at least 2")
        result = recover_from_sums(sums, clip.capture_fps, combine, highpass_hz, bandpass_hz,
                                   denoise)
    finally:
        if own_clip:
            clip.close()
    result.elapsed_s = time.perf_counter() - started
    result.info = {"frames": int(sums.n_frames), "frame_shape": clip.frame_shape,
                   "scales": scales, "orientations": orientations, "tiles": tiles,
                   "fps_source": clip.fps_source}
    return result


# Re-exported for scripts that split a clip across processes.
frame_phase_sums = frame_phase_sums
