"""Extraction: the phase sums of frame ranges against one reference, for any method.

The sums of a frame range depend only on the settings and the reference frame, so a clip
can be cut into ranges, each extracted on its own (another process, another machine), and
the parts joined::

    clip = vmic.open_clip("clip.avi", fps=2200)
    extraction = vmic.prepare_extraction(clip)              # settings + reference pixels
    parts = [vmic.extract_range(extraction, clip[a:b]) for a, b in ranges]
    result = vmic.recover_from_ranges(extraction, parts)    # as vmic.recover(clip)

:func:`vmic.recovery.recover` is made of the same pieces, on one range streamed from the
clip: what it keeps of each batch is what :func:`extract_range` returns, so its memory
stays flat on long clips.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from vmic.core.phase import (
    PhaseSums,
    band_sums,
    concatenate_sums,
    flow_weights,
    frame_phase_sums,
    reference_bands,
    tile_grid,
)
from vmic.core.pyramid import SteerablePyramid
from vmic.errors import VmicError

__all__ = ["Extraction", "RangeSums", "prepare_extraction", "extract_range", "join_ranges",
           "stream_sums", "check_reference", "flow_information"]

_CACHED = ("pyramid", "reference_bands", "flow_weights", "flow_terms", "align_bands")


@dataclass(eq=False)
class Extraction:
    """Settings and reference of an extraction (from :func:`prepare_extraction`).

    Picklable: holds the settings and the reference pixels; the pyramid, the reference's
    bands and the flow weights are built on first use and cached (not pickled).

    Attributes
    ----------
    combine : str
        Combination method the sums are for (:data:`vmic.combine.METHODS`).
    frame_shape : (int, int)
        Height and width of the clip's frames (px).
    fps : float
        Capture rate (Hz).
    fps_source : str
        Where ``fps`` came from (see :class:`vmic.io.clip.Clip`).
    start : int
        First frame of the clip in its source (a range's frames are counted from it).
    n_frames : int
        Frames of the clip.
    roi, downsample
        The clip's crop ``(x, y, w, h)`` (px) and downsampling factor.
    scales, orientations : int
        Pyramid shape.
    dtype : str
        Pyramid precision ("float32" or "float64").
    fft : str
        FFT back-end (:func:`vmic.core.fft.choose_backend`, chosen for the whole clip so
        every range is transformed alike).
    reference_frame, reference_average : int
        The reference image is the mean of ``reference_average`` frames from
        ``reference_frame`` on (counted from ``start``).
    tiles : (int, int)
        Tile grid of the sums.
    flow : bool
        Whether flow sums are kept.
    align_scales, align_reference_average : int or None
        ``align``'s scales and reference frames when its band sums are kept in the same
        pass (``auto``), else None.
    reference : ndarray of float32, shape (H, W)
        The reference image.
    align_reference : ndarray of float32, shape (H, W) or None
        ``align``'s reference image when its sums are kept.
    key : str
        Digest of all of the above: ranges extracted with other settings are refused.
    """

    combine: str
    frame_shape: tuple[int, int]
    fps: float
    fps_source: str
    start: int
    n_frames: int
    roi: tuple[int, int, int, int] | None
    downsample: int
    scales: int
    orientations: int
    dtype: str
    fft: str
    reference_frame: int
    reference_average: int
    tiles: tuple[int, int]
    flow: bool
    align_scales: int | None
    align_reference_average: int | None
    reference: np.ndarray = field(repr=False)
    align_reference: np.ndarray | None = field(default=None, repr=False)
    key: str = field(init=False)

    def __post_init__(self):
        digest = hashlib.sha1()
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                digest.update(np.ascontiguousarray(value).tobytes())
            elif name not in _CACHED:
                digest.update(repr((name, value)).encode())
        self.key = digest.hexdigest()

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k not in _CACHED}

    @cached_property
    def pyramid(self) -> SteerablePyramid:
        return SteerablePyramid(self.frame_shape, self.scales, self.orientations,
                                dtype=np.dtype(self.dtype), fft=self.fft)

    @cached_property
    def reference_bands(self) -> list[np.ndarray]:
        """The reference image's bands, (K, h, w) complex per scale."""
        return reference_bands(self.pyramid, self.reference)

    @cached_property
    def align_bands(self) -> list[np.ndarray] | None:
        """``align``'s reference bands, its scales only (a pyramid's first scales do not
        depend on how many it has), or None."""
        if self.align_scales is None:
            return None
        if np.array_equal(self.align_reference, self.reference):
            return self.reference_bands[: self.align_scales]
        return reference_bands(self.pyramid, self.align_reference)[: self.align_scales]

    @cached_property
    def flow_weights(self) -> list[np.ndarray] | None:
        return flow_weights(self.pyramid, self.reference) if self.flow else None

    @cached_property
    def flow_terms(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(scale, information)`` of :func:`flow_information`, or None without flow."""
        if not self.flow:
            return None
        return flow_information(self.pyramid, self.reference_bands, self.flow_weights,
                                self.tiles)


@dataclass
class RangeSums:
    """The sums of one frame range (from :func:`extract_range`).

    Attributes
    ----------
    key : str
        :attr:`Extraction.key` of the extraction they were made with.
    start : int
        First frame of the range, counted from the extraction's clip start.
    bands : PhaseSums
        Band sums: whole-frame totals where flow sums are kept, else per tile.
    flow : ndarray of float32, shape (T, 2, TY, TX) or None
        Per-tile flow statistic ``F`` (:func:`flow_information`), grey level**2 / px.
    align : PhaseSums or None
        ``align``'s whole-frame band sums, where the extraction keeps them.
    """

    key: str
    start: int
    bands: PhaseSums
    flow: np.ndarray | None = None
    align: PhaseSums | None = None

    @property
    def n_frames(self) -> int:
        return self.bands.n_frames

    @property
    def stop(self) -> int:
        """One past the range's last frame."""
        return self.start + self.n_frames


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


def prepare_extraction(clip, *, combine: str = "auto", scales: int | None = None,
                       orientations: int = 2, reference_frame: int = 0,
                       reference_average: int | None = None,
                       dtype=np.float32) -> Extraction:
    """Settings and reference image of an extraction of ``clip`` (reads the reference).

    Parameters
    ----------
    clip : Clip
        The opened clip (:func:`vmic.io.clip.open_clip`).
    combine : str, default "auto"
        The method the sums are for: it says what they hold (:mod:`vmic.combine`).
    scales : int, optional
        Pyramid scales (default: the method's).
    orientations : int, default 2
    reference_frame : int, default 0
        Counted from the clip's start.
    reference_average : int, optional
        Frames averaged into the reference image (default: the method's: 1 for ``align``,
        else 32).
    dtype : float32 or float64
        Pyramid precision.

    Returns
    -------
    Extraction
    """
    plan = ExtractionPlan(clip, combine, scales, orientations, reference_frame,
                          reference_average, dtype)
    reference = clip.mean_frame(reference_frame, plan.reference_average)
    single = None
    if plan.align_scales is not None:
        single = clip.mean_frame(reference_frame, plan.align_reference_average)
    return plan.extraction(reference, single)


class ExtractionPlan:
    """Validated settings of an extraction, before its reference image is read."""

    def __init__(self, clip, combine, scales, orientations, reference_frame,
                 reference_average, dtype):
        from vmic.combine import get_method
        from vmic.core.fft import choose_backend

        self.method = method = get_method(combine)
        self.clip = clip
        if not 0 <= reference_frame < clip.n_frames:
            raise VmicError(f"reference frame {reference_frame} is outside the clip's "
                            f"{clip.n_frames} frames (0..{clip.n_frames - 1})")
        for name, value in (("reference_average", reference_average), ("scales", scales),
                            ("orientations", orientations)):
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise VmicError(f"{name} must be >= 1 (frames to average, scales, "
                                f"orientations), got {value!r}")
        self.scales = method.scales(clip.frame_shape) if scales is None else int(scales)
        self.orientations = int(orientations)
        self.reference_frame = int(reference_frame)
        average = method.reference_average if reference_average is None else reference_average
        self.reference_average = min(int(average), clip.n_frames - reference_frame)
        self.dtype = np.dtype(dtype).name
        self.fft = choose_backend(clip.n_frames, clip.frame_shape)
        pyramid = SteerablePyramid(clip.frame_shape, self.scales, self.orientations,
                                   dtype=np.dtype(self.dtype), fft=self.fft)
        self.pyramid = pyramid
        self.tiles = method.tiles(pyramid.band_shapes)
        self.align_scales = self.align_reference_average = None
        if method.align_sums:
            # align's own defaults where none were given, as combine="align" would use.
            align = get_method("align")
            self.align_scales = (align.scales(clip.frame_shape) if scales is None
                                 else int(scales))
            average = (align.reference_average if reference_average is None
                       else reference_average)
            self.align_reference_average = min(int(average), clip.n_frames - reference_frame)

    def extraction(self, reference: np.ndarray, align_reference: np.ndarray | None):
        clip = self.clip
        out = Extraction(
            combine=self.method.name, frame_shape=tuple(clip.frame_shape),
            fps=float(clip.capture_fps), fps_source=clip.fps_source, start=int(clip.start),
            n_frames=int(clip.n_frames), roi=getattr(clip, "roi", None),
            downsample=int(getattr(clip, "downsample", 1)), scales=self.scales,
            orientations=self.orientations, dtype=self.dtype, fft=self.fft,
            reference_frame=self.reference_frame, reference_average=self.reference_average,
            tiles=tuple(self.tiles), flow=self.method.flow, align_scales=self.align_scales,
            align_reference_average=self.align_reference_average,
            reference=np.asarray(reference, dtype=np.float32),
            align_reference=(None if align_reference is None
                             else np.asarray(align_reference, dtype=np.float32)))
        out.pyramid = self.pyramid  # already built (and validated) for this plan
        check_reference(out.reference_bands)
        return out


def extract_range(extraction: Extraction, clip_range, *, batch_size: int = 8,
                  bar=None) -> RangeSums:
    """The sums of one frame range of the clip ``extraction`` was prepared on.

    Parameters
    ----------
    extraction : Extraction
    clip_range : Clip
        A range of that clip (``clip[a:b]``, or :func:`vmic.io.clip.open_clip` with
        ``start`` and ``n_frames`` on the same source and selection).
    batch_size : int, default 8
        Frames per batch.
    bar : tqdm-like, optional
        Updated by the frames of each batch.

    Returns
    -------
    RangeSums
    """
    first = int(clip_range.start) - extraction.start
    if tuple(clip_range.frame_shape) != extraction.frame_shape or not (
            0 <= first and first + clip_range.n_frames <= extraction.n_frames):
        raise VmicError(
            f"clip_range (frames {clip_range.start}..{clip_range.start + clip_range.n_frames}"
            f" of {clip_range.frame_shape[1]}x{clip_range.frame_shape[0]} px) is not a range "
            f"of the clip the extraction was prepared on (frames {extraction.start}.."
            f"{extraction.start + extraction.n_frames} of {extraction.frame_shape[1]}x"
            f"{extraction.frame_shape[0]} px)")
    batches = clip_range.iter_batches(batch_size)
    try:
        return stream_sums(extraction, batches, first=first, n_frames=clip_range.n_frames,
                           bar=bar)
    finally:
        batches.close()


def stream_sums(extraction: Extraction, batches, *, first: int = 0,
                n_frames: int | None = None, bar=None, threads: int | None = None) -> RangeSums:
    """The sums of a stream of batches, ``(index, frames)`` or frames (B, H, W), that hold
    the clip's frames ``first`` on, consecutive.

    Batches are processed by a pool of threads, each running a whole batch (FFTs and
    numba loops, which release the GIL) on its own. What is kept of each batch is small
    (:class:`RangeSums`), and with ``n_frames`` written into arrays of that length as it
    comes, so memory stays flat however long the stream.
    """
    threads = threads or os.cpu_count() or 1
    gather = _Gather(n_frames)
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vmic-phase") as pool:
        for item in batches:
            frames = item[1] if isinstance(item, tuple) else item
            pending.append((pool.submit(batch_sums, extraction, frames), frames.shape[0]))
            # At most two batches per thread in flight: memory stays bounded.
            while len(pending) >= 2 * threads or (pending and pending[0][0].done()):
                gather.add(*pending.popleft(), bar)
        while pending:
            gather.add(*pending.popleft(), bar)
    return gather.result(extraction.key, first)


def batch_sums(extraction: Extraction, frames: np.ndarray) -> dict:
    """What an extraction keeps of one batch of frames (B, H, W): ``bands``, ``flow`` and
    ``align`` arrays, each with the batch's frames first (see :class:`RangeSums`)."""
    frames = np.asarray(frames)
    pyramid, count = extraction.pyramid, frames.shape[0]
    align_bands, on_bands = extraction.align_bands, None
    if align_bands is not None:
        # align's sums from the same bands, against its own reference, whole frame.
        totals = np.zeros((len(align_bands), 3, count, pyramid.orientations, 1, 1))
        pixels = np.zeros((len(align_bands), 1, 1), dtype=np.int64)

        def on_bands(s, bands):
            if s < len(align_bands):
                pixels[s] = band_sums(bands, align_bands[s], (1, 1), totals[s])

    part = frame_phase_sums(pyramid, extraction.reference_bands, frames, extraction.tiles,
                            extraction.flow_weights, workers=1, on_bands=on_bands)
    out = {"bands": part, "flow": None, "align": None}
    if extraction.flow:
        # Keep only what the combination needs: whole-frame band totals (for the band
        # signals) and the flow sums reduced to each tile's statistic F, in float32.
        keep = (-2, -1)
        scale, _ = extraction.flow_terms
        out["flow"] = apply_flow_scale(part.flow, scale).astype(np.float32)
        out["bands"] = PhaseSums(part.weighted_phase.sum(axis=keep, keepdims=True),
                                 part.amplitude.sum(axis=keep, keepdims=True),
                                 part.energy.sum(axis=keep, keepdims=True),
                                 part.pixels.sum(axis=keep, keepdims=True))
    if align_bands is not None:
        q = totals.transpose(1, 2, 0, 3, 4, 5)  # (3, B, S, K, 1, 1)
        out["align"] = PhaseSums(np.ascontiguousarray(q[0]), np.ascontiguousarray(q[1]),
                                 np.ascontiguousarray(q[2]), pixels)
    return out


class _Gather:
    # Per-batch results in order: written into arrays of n_frames when that is known
    # (no list of parts and final copy), else listed and concatenated at the end.

    def __init__(self, n_frames: int | None):
        self.n_frames = n_frames
        self.parts: list[dict] = []
        self.out: dict | None = None
        self.filled = 0

    def add(self, future, count: int, bar) -> None:
        part = future.result()
        if bar is not None:
            bar.update(count)
        if self.n_frames is None:
            self.parts.append(part)
            return
        if self.out is None:
            self.out = {key: _preallocate(value, self.n_frames) for key, value in part.items()}
        if self.filled + count > self.n_frames:
            raise ValueError(f"more frames than the {self.n_frames} announced")
        for key, value in part.items():
            _store(self.out[key], value, self.filled)
        self.filled += count

    def result(self, key: str, first: int) -> RangeSums:
        if self.n_frames is None or self.out is None:
            if not self.parts:
                raise VmicError("no frames could be decoded")
            joined = {name: _concatenate([p[name] for p in self.parts])
                      for name in self.parts[0]}
        else:
            joined = {name: _head(value, self.filled) for name, value in self.out.items()}
        return RangeSums(key, first, **joined)


def _preallocate(value, n: int):
    if value is None:
        return None
    if isinstance(value, PhaseSums):
        return PhaseSums(*(np.empty((n,) + a.shape[1:], a.dtype) for a in
                           (value.weighted_phase, value.amplitude, value.energy)),
                         value.pixels, _preallocate(value.flow, n))
    return np.empty((n,) + value.shape[1:], value.dtype)


def _store(out, value, at: int) -> None:
    if value is None:
        return
    if isinstance(value, PhaseSums):
        for name in ("weighted_phase", "amplitude", "energy", "flow"):
            _store(getattr(out, name), getattr(value, name), at)
        return
    out[at : at + value.shape[0]] = value


def _head(value, n: int):
    if value is None:
        return None
    if isinstance(value, PhaseSums):
        return PhaseSums(value.weighted_phase[:n], value.amplitude[:n], value.energy[:n],
                         value.pixels, None if value.flow is None else value.flow[:n])
    return value[:n]


def _concatenate(values: list):
    if values[0] is None:
        return None
    if isinstance(values[0], PhaseSums):
        return concatenate_sums(values)
    return np.concatenate(values)


def join_ranges(extraction: Extraction, parts: list[RangeSums]) -> RangeSums:
    """Join the sums of consecutive ranges into one.

    Raises
    ------
    VmicError
        No parts, parts of another extraction's settings, out of order, with gaps or
        overlaps.
    """
    if isinstance(parts, RangeSums):
        parts = [parts]
    if not isinstance(parts, (list, tuple)) or not parts:
        raise VmicError("parts must be a non-empty list of RangeSums (from extract_range)")
    for i, part in enumerate(parts):
        if not isinstance(part, RangeSums):
            raise VmicError(f"parts[{i}] is a {type(part).__name__}, not RangeSums "
                            "(from extract_range)")
        if part.key != extraction.key:
            raise VmicError(f"parts[{i}] was extracted with other settings or another "
                            "reference than this extraction")
        if i and part.start != parts[i - 1].stop:
            what = ("overlaps" if part.start < parts[i - 1].stop else "leaves a gap after")
            raise VmicError(
                f"parts must be consecutive frame ranges in order: parts[{i}] (frames "
                f"{part.start}..{part.stop}) {what} parts[{i - 1}] (frames "
                f"{parts[i - 1].start}..{parts[i - 1].stop})")
    if len(parts) == 1:
        return parts[0]
    joined = {name: _concatenate([getattr(p, name) for p in parts])
              for name in ("bands", "flow", "align")}
    return RangeSums(extraction.key, parts[0].start, **joined)


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
        ``M`` per tile (grey level**2 / px**2; px**-2 per unit pixel-noise variance).
    """
    height, width = pyramid.shape
    ty, tx = tiles
    scale = np.zeros((pyramid.scales, pyramid.orientations, 2))
    information = np.zeros((ty, tx, 2, 2))
    for s, (h, w) in enumerate(pyramid.band_shapes):
        to_full = np.array([w / width, h / height])  # d(level px)/d(frame px) per axis
        rows, cols = tile_grid((h, w), tiles)
        for k in range(pyramid.orientations):
            filt = pyramid._levels[s].filters[k]
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
