"""Recovery: compose frames -> pyramid -> phase signals -> combination -> post -> audio."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from vmic import combine as _combine
from vmic import post
from vmic.core.fft import choose_backend
from vmic.core.phase import (
    PhaseSums,
    flow_weights,
    local_phase,
    original_band_signals,
    phase_sums,
    reference_bands,
)
from vmic.core.pyramid import SteerablePyramid, max_scales
from vmic.errors import VmicError
from vmic.io.clip import Clip, open_clip

__all__ = ["Recovery", "recover", "recover_from_sums", "COMBINE_METHODS", "DEFAULT_COMBINE",
           "default_tiles", "default_scales", "default_reference_average", "check_reference",
           "tile_flow", "flow_information", "apply_flow_scale"]

COMBINE_METHODS = ("align", "bands", "local", "auto")
DEFAULT_COMBINE = "auto"
LOCAL_TILE_PX = 16  # tile side at scale 0 for the local method (px)
REFERENCE_AVERAGE = 32  # frames averaged into the reference image (not for align)
HEAD_BYTES = 64 << 20  # at most this much of a stream's first frames (float32) is held
BANDS_GRID = (4, 4)  # tiles of the bands method: few signals per band, each still well lit


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
        Signed weights of the combined signals (``bands``: shape (S, K, TY, TX), one per
        band and tile; ``local``: shape (2, TY, TX), the weight of each tile's x and y
        motion); None for ``align``.
    elapsed_s : float
        Wall time of the recovery (s).
    info : dict
        Details: frames, shapes, tiles, where the capture rate came from, and for
        ``local`` and ``auto`` which candidate was chosen ("rigid" or "rank1 GYxGX") with
        every candidate's blind SNR estimate (dB, ``split_snr_db``) and whether a signal
        was ``detected`` (see :func:`vmic.combine.local_combine`). ``auto`` adds
        ``fallback``: True when no signal was detected and the audio is ``align``'s.
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
                      denoise: str = "none", flow_terms=None,
                      tiles: tuple[int, int] = (1, 1)) -> Recovery:
    """Combine and post-process phase sums into audio.

    Parameters
    ----------
    sums : PhaseSums
        From :func:`vmic.core.phase.phase_sums` (whole-frame tiles suffice for ``align``;
        ``bands`` fits one signal per band and tile of these sums, :data:`BANDS_GRID` in
        :func:`recover`; ``local`` and ``auto`` use ``flow_terms``).
    rate : float
        Capture rate (Hz).
    combine : {"align", "bands", "local", "auto"}
        ``auto`` combines as ``local`` here; the fallback to ``align`` when no signal is
        detected needs the frames again and is made by :func:`recover`.
    highpass_hz : float, optional
        Zero-phase high-pass cutoff (Hz); default :func:`vmic.post.audible_highpass_hz`
        (20 Hz). ``align`` always uses the original's fixed causal filter and ignores it.
    bandpass_hz : (float, float), optional
        Keep only [lo, hi] Hz (zero-phase), after the combination.
    denoise : str, default "none"
        Denoising method of :mod:`vmic.denoise`, applied last.
    flow_terms : (ndarray, ndarray), optional
        ``(F, M)`` from :func:`tile_flow`; required for ``local`` and ``auto``.
    tiles : (int, int)
        Tile grid of ``flow_terms``.

    Returns
    -------
    Recovery
    """
    if combine not in COMBINE_METHODS:
        raise VmicError(f"unknown combination {combine!r}; choose from "
                        f"{', '.join(COMBINE_METHODS)}")
    band_signals = original_band_signals(sums)
    weights = None
    info: dict = {}
    if combine == "align":
        raw = _combine.align_to_reference(band_signals)
        audio = post.scale_original(post.original_highpass(raw))
    else:
        cutoff = post.audible_highpass_hz(rate) if highpass_hz is None else highpass_hz
        if combine == "bands":
            # One signal per band and tile: regions moving with opposite signs get loadings
            # of opposite signs instead of cancelling inside a whole-frame band signal.
            per_tile = local_phase(sums)  # (S, K, TY, TX, T)
            signals = per_tile.reshape(-1, per_tile.shape[-1])
            live = np.flatnonzero(signals.std(axis=-1) > 0)
            if live.size == 0:
                raise VmicError("no band holds any motion signal (all band signals are flat)")
            filtered = _highpass_rows(signals[live], rate, cutoff)
            combined, fitted = _combine.rank1_combine(filtered)
            weights = np.zeros(signals.shape[0])
            weights[live] = fitted
            weights = weights.reshape(per_tile.shape[:-1])
        else:
            if flow_terms is None:
                raise VmicError(f"{combine} combination needs the tile flow sums and "
                                "information (flow_terms); use recover() or tile_flow()")
            tile_signals, information = flow_terms
            n_tiles = tile_signals.shape[0]
            filtered = _highpass_rows(tile_signals.reshape(n_tiles * 2, -1), rate, cutoff)
            combined, weights, details = _combine.local_combine(
                filtered.reshape(n_tiles, 2, -1), information, tiles)
            info.update(details)
            weights = weights.T.reshape((2,) + tuple(tiles))
        audio = post.scale_peak(combined)
    audio = post.finish(audio, rate, bandpass_hz=bandpass_hz, denoise=denoise)
    return Recovery(audio=audio.astype(np.float32), rate=rate, band_signals=band_signals,
                    combine=combine, weights=weights, info=info)


def flow_information(pyramid: SteerablePyramid, reference: list[np.ndarray],
                     weights: list[np.ndarray], tiles: tuple[int, int]):
    """Band noise weights and per-tile Fisher information for the flow sums.

    For white pixel noise of variance sigma**2, band ``b`` has coefficient noise variance
    ``sigma**2 * v_b`` with ``v_b = H W sum|H_b|**2 / (h w)**2`` (its filter's energy),
    so a pixel's phase change has variance ``sigma**2 v_b / (2 A**2)``. The flow sums
    ``f_b = sum A**2 grad(phi) dphi`` then have mean ``-N_b d`` and covariance
    ``sigma**2 v_b N_b / 2`` with ``N_b = sum A**2 grad(phi) grad(phi)^T``. Summing
    ``f_b / v_b`` (gradients in frame px) over bands gives each tile's sufficient statistic
    ``F`` for its displacement ``d``, with information ``M = sum N_b / v_b``.

    Parameters
    ----------
    pyramid : SteerablePyramid
    reference : list of ndarray of complex, shape (K, h, w)
        Reference bands per scale.
    weights : list of ndarray of float32, shape (K, 2, h, w)
        From :func:`vmic.core.phase.flow_weights`.
    tiles : (int, int)

    Returns
    -------
    scale : ndarray of float64, shape (S, K, 2)
        Factor of each band's x and y flow sums in ``F`` (:func:`apply_flow_scale`).
    information : ndarray of float64, shape (TY * TX, 2, 2)
        ``M`` per tile (px**-2 per unit pixel-noise variance).
    """
    from vmic.core.phase import tile_grid

    height, width = pyramid.shape
    ty, tx = tiles
    scale = np.zeros((pyramid.scales, pyramid.orientations, 2))
    information = np.zeros((ty, tx, 2, 2))
    for s, (h, w) in enumerate(pyramid.band_shapes):
        to_full = np.array([w / width, h / height])  # d(level px)/d(frame px) per axis
        rows, cols = tile_grid((h, w), tiles)
        for k in range(pyramid.orientations):
            filt = pyramid.band_filters(s)[k]
            noise = height * width * float(np.sum(np.abs(filt) ** 2)) / float(h * w) ** 2
            if noise <= 0:
                continue
            scale[s, k] = to_full / noise
            power = np.abs(reference[s][k]).astype(np.float64) ** 2
            usable = power > 1e-12 * max(power.max(), 1e-300)
            wk = weights[s][k].astype(np.float64) * to_full[:, None, None]  # (2, h, w)
            inv_power = np.where(usable, 1.0 / np.where(usable, power, 1.0), 0.0)
            outer = wk[:, None] * wk[None, :] * inv_power  # (2, 2, h, w)
            # Per-tile sums of each of the 4 entries (bincount: np.add.at loops per pixel).
            tile = (rows[:, None] * tx + cols[None, :]).ravel()
            per_tile = np.stack([np.bincount(tile, weights=entry.ravel(), minlength=ty * tx)
                                 for entry in outer.reshape(4, h, w)], axis=-1)
            information += per_tile.reshape(ty, tx, 2, 2) / noise
    return scale, information.reshape(ty * tx, 2, 2)


def apply_flow_scale(flow: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-tile statistic ``F`` from flow sums (T, S, K, 2, TY, TX) -> (T, 2, TY, TX)."""
    return np.einsum("tskcyx,skc->tcyx", flow, scale)


def tile_flow(pyramid: SteerablePyramid, reference: list[np.ndarray],
              weights: list[np.ndarray], flow: np.ndarray, tiles: tuple[int, int]):
    """``(F, M)`` for :func:`recover_from_sums` from full flow sums.

    Parameters
    ----------
    flow : ndarray, shape (T, S, K, 2, TY, TX)
        ``PhaseSums.flow``.

    Returns
    -------
    F : ndarray of float64, shape (TY * TX, 2, T)
    M : ndarray of float64, shape (TY * TX, 2, 2)
    """
    scale, information = flow_information(pyramid, reference, weights, tiles)
    return _tile_major(apply_flow_scale(flow, scale)), information


def _tile_major(reduced: np.ndarray) -> np.ndarray:
    # (T, 2, TY, TX) -> (TY * TX, 2, T)
    n_frames = reduced.shape[0]
    return np.moveaxis(reduced.reshape(n_frames, 2, -1), 0, -1).transpose(1, 0, 2)


def _highpass_rows(signals: np.ndarray, rate: float, cutoff_hz: float,
                   rows_per_block: int = 8) -> np.ndarray:
    # Mean-removed, zero-phase high-passed copy in float32, a block of rows at a time, so
    # the filter's float64 temporaries stay small however many signals a clip has.
    out = np.empty(signals.shape, dtype=np.float32)
    for i in range(0, signals.shape[0], rows_per_block):
        block = np.asarray(signals[i : i + rows_per_block], dtype=np.float64)
        block = block - block.mean(axis=-1, keepdims=True)
        out[i : i + rows_per_block] = post.highpass(block, rate, cutoff_hz)
    return out


def _check_post_options(rate, bandpass_hz, denoise) -> None:
    # Checked before the long extraction, so a typo does not cost a whole run.
    from vmic.denoise import DENOISE_METHODS

    if denoise not in DENOISE_METHODS:
        raise VmicError(f"unknown denoise method {denoise!r}; choose from "
                        f"{', '.join(DENOISE_METHODS)}")
    if bandpass_hz is not None:
        post.check_band(*bandpass_hz, sr=rate, name="bandpass_hz")


def _reference_from_stream(batches, clip: Clip, first: int, count: int,
                           max_bytes: int = HEAD_BYTES):
    """The reference image (mean of frames ``first`` to ``first + count - 1``) and the
    batches to process.

    When those frames are among the first the stream yields (``(index, frames)`` batches
    from frame 0) and fit in ``max_bytes`` as float32, they are taken from the stream and
    its first batches are replayed: the reference frames are then decoded once, not a
    second time by :meth:`Clip.mean_frame` on a capture of its own (for a video, on the
    start-up's critical path). Otherwise the clip's own :meth:`~Clip.mean_frame`.
    """
    import itertools

    clip._check_index(first)
    if count < 1:
        raise VmicError(f"frames to average must be >= 1, got {count}")
    count = min(int(count), clip.n_frames - first)
    height, width = clip.frame_shape
    if (first + count) * height * width * 4 > max_bytes:
        return clip.mean_frame(first, count), batches
    head = []
    total = np.zeros((height, width))
    expected = 0
    for item in batches:
        if not (isinstance(item, tuple) and item[0] == expected):
            # Not a stream of (index, frames) from frame 0: read the reference apart.
            return clip.mean_frame(first, count), itertools.chain(head, [item], batches)
        head.append(item)
        index, frames = item
        lo, hi = max(first - index, 0), min(first + count - index, frames.shape[0])
        if hi > lo:
            total += frames[lo:hi].sum(axis=0, dtype=np.float64)
        expected = index + frames.shape[0]
        if expected >= first + count:
            break
    if expected < first + count:  # decoding stopped early (a truncated file)
        n = max(expected - first, 0)
        if n == 0:
            return clip.mean_frame(first, count), itertools.chain(head, batches)
        count = n
    return (total / count).astype(np.float32), itertools.chain(head, batches)


def default_scales(combine: str, frame_shape: tuple[int, int]) -> int:
    """Scales used when none are given: 1 for ``align`` (as the original), else up to 3.

    Coarser scales hold much of a natural texture's gradient energy, which is what motion
    information is (the Cramér-Rao bound sums it over all frequencies): on rendered clips,
    3 scales recover 4-5 dB more than 1 and come within about 1 dB of the bound.
    """
    if combine == "align":
        return 1
    return max(1, min(3, max_scales(frame_shape)))


def default_reference_average(combine: str) -> int:
    """Frames averaged into the reference image when none is given: 1 for ``align`` (the
    original uses one frame), else :data:`REFERENCE_AVERAGE`.

    Each pixel's motion weight (``A**2 grad(phi)``) and the rank-1 fits come from the
    reference bands; with one noisy frame their errors cost information. On the fidelity
    grid's heavy-noise clips a 32-frame mean lifted ``local`` by a median 1.8 dB (up to
    4.9 dB; see the README).
    """
    return 1 if combine == "align" else REFERENCE_AVERAGE


def recover(clip, *, fps: float | None = None, scales: int | None = None,
            orientations: int = 2,
            combine: str = DEFAULT_COMBINE, highpass_hz: float | None = None,
            reference_frame: int = 0, roi=None, downsample: int = 1, start: int = 0,
            n_frames: int | None = None, bandpass_hz: tuple[float, float] | None = None,
            denoise: str = "none", batch_size: int = 8, quiet: bool = True,
            dtype=np.float32, batches=None,
            reference_average: int | None = None) -> Recovery:
    """Recover sound from a clip.

    Parameters
    ----------
    clip : str, Path, Clip or ndarray
        A clip path (video, image folder, ``.npy``), an opened :class:`~vmic.io.clip.Clip`,
        or frames (T, H, W) (then ``fps`` is required).
    fps : float, optional
        Capture rate (Hz); default from the sidecar, else the container (with a warning).
    scales : int, optional
        Pyramid scales; default :func:`default_scales` (1 for ``align``, else up to 3).
    orientations : int, default 2
        Pyramid orientations.
    combine : {"auto", "local", "bands", "align"}, default "auto"
        Combination method (see :mod:`vmic.combine`); ``align`` reproduces
        ``vmSoundFromVideo``. ``auto`` is ``local`` where it detects a common motion
        signal (``info["detected"]``); where it does not, it reads the clip a second time
        and returns what ``combine="align"`` with the same arguments returns, so that it
        is never worse than the original where neither holds more than noise
        (``info["fallback"]`` is then True).
    highpass_hz : float, optional
        High-pass cutoff (Hz), zero-phase; default 20 Hz (``align``: the original's causal
        filter at 0.05 of Nyquist).
    reference_frame : int, default 0
        Reference frame, counted from ``start``.
    reference_average : int, optional
        Frames averaged into the reference image, from ``reference_frame`` on. Default
        :func:`default_reference_average`: 1 for ``align`` (as the original), else 32: the
        reference's camera noise otherwise enters every pixel's motion weight.
    roi, downsample, start, n_frames
        Frame selection, see :func:`vmic.io.clip.open_clip`.
    bandpass_hz : (float, float), optional
        Keep only [lo, hi] Hz (zero-phase Butterworth).
    denoise : {"none", "spectral-subtraction", "wiener", "gate"}, default "none"
        Denoising of the recovered audio (see :mod:`vmic.denoise`).
    batch_size : int, default 8
        Frames per batch; memory is O(batch_size), not O(clip length).
    quiet : bool, default True
        No progress bar.
    dtype : float32 or float64
        Pyramid precision.
    batches : iterator, optional
        The clip's frames as ``clip.iter_batches(...)`` of the whole selected range,
        already started: a caller can start decoding before its own set-up (the command
        line does, before importing this module). Requires ``clip`` to be a Clip; closed
        here when done.

    Returns
    -------
    Recovery
    """
    started = time.perf_counter()
    requested = dict(scales=scales, orientations=orientations, highpass_hz=highpass_hz,
                     reference_frame=reference_frame, bandpass_hz=bandpass_hz,
                     denoise=denoise, batch_size=batch_size, quiet=quiet, dtype=dtype,
                     reference_average=reference_average)
    own_clip = not isinstance(clip, Clip)
    if batches is not None and own_clip:
        raise ValueError("batches= needs the Clip they come from as clip=")
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
            post.check_cutoff(highpass_hz, sr=clip.capture_fps, name="high-pass cutoff")
        _check_post_options(clip.capture_fps, bandpass_hz, denoise)
        if scales is None:
            scales = default_scales(combine, clip.frame_shape)
        pyramid = SteerablePyramid(clip.frame_shape, scales, orientations, dtype=dtype,
                                   fft=choose_backend(clip.frame_shape))
        # Start reading frames now: decoding overlaps the set-up below (numba's first use,
        # the reference frame), which holds one core at most.
        if batches is None:
            batches = clip.iter_batches(batch_size)
        if reference_average is None:
            reference_average = default_reference_average(combine)
        reference_frame_pixels, stream = _reference_from_stream(
            batches, clip, reference_frame, reference_average)
        reference = reference_bands(pyramid, reference_frame_pixels)
        check_reference(reference)
        local = combine in ("local", "auto")
        if local:
            tiles = default_tiles(pyramid.band_shapes)
        elif combine == "bands":
            tiles = tuple(min(g, t) for g, t in zip(BANDS_GRID,
                                                  default_tiles(pyramid.band_shapes),
                                                  strict=True))
        else:
            tiles = (1, 1)
        flow = flow_weights(pyramid, reference_frame_pixels) if local else None
        flow_scale = information = None
        if local:
            flow_scale, information = flow_information(pyramid, reference, flow, tiles)
        bar = tqdm(total=clip.n_frames, desc="recover", disable=quiet,
             file=sys.stderr, leave=False)
        try:
            sums = phase_sums(pyramid, reference, stream, tiles, bar,
                              flow=flow, flow_reduce=(
                                  (lambda f: apply_flow_scale(f, flow_scale)) if local
                                  else None), n_frames=clip.n_frames)
        finally:
            bar.close()
        if sums.n_frames < 2:
            raise VmicError(f"only {sums.n_frames} frame could be decoded; need at least 2")
        flow_terms = (_tile_major(sums.flow), information) if local else None
        result = recover_from_sums(sums, clip.capture_fps, combine, highpass_hz, bandpass_hz,
                                   denoise, flow_terms, tiles)
        if combine == "auto" and result.info.get("detected") is False:
            if hasattr(batches, "close"):
                batches.close()
            batches = None
            result = _align_fallback(clip, requested, result)
    finally:
        if batches is not None and hasattr(batches, "close"):
            batches.close()  # stops the reading thread if the set-up failed
        if own_clip:
            clip.close()
    result.elapsed_s = time.perf_counter() - started
    if not result.info.get("fallback"):
        result.info.update({"frames": int(sums.n_frames), "frame_shape": clip.frame_shape,
                            "scales": scales, "orientations": orientations, "tiles": tiles,
                            "reference_average": reference_average,
                            "fps_source": clip.fps_source})
    return result


def _align_fallback(clip: Clip, requested: dict, local: Recovery) -> Recovery:
    # combine="auto" found no signal: read the clip again as combine="align" with the same
    # arguments (align's own defaults where none were given), so that the output is exactly
    # the original method's. Keeps local's choice and test in the info.
    result = recover(clip, combine="align", **requested)
    result.combine = "auto"
    result.info.update(local.info, fallback=True)  # local's info holds only its combination
    return result
