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
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from vmic.core.flow import flow_information
from vmic.core.phase import flow_weights, reference_bands
from vmic.core.pyramid import SteerablePyramid
from vmic.errors import VmicError
from vmic.io.clip import Clip
from vmic.ranges import RangeSums, stream_sums
from vmic.timeline import frame_slots

__all__ = ["Extraction", "ExtractionPlan", "prepare_extraction", "extract_range",
           "check_reference"]

_CACHED = ("pyramid", "reference_bands", "flow_weights", "flow_terms", "align_bands",
           "tracker", "tile_tracker")


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
    track_motion : bool
        Whether each frame's large motion against the reference is measured in the pass
        (:class:`vmic.core.tracker.MotionTracker`; :attr:`RangeSums.motion`).
    motion : ndarray of float64, shape (N, 2) or None
        The clip's smoothed large motion (px per frame), removed from every frame before
        the pyramid (:class:`vmic.core.motion.MotionCompensator`); ``frame_shape`` is then
        the compensated frames' (cropped) shape.
    tile_motion : ndarray of float64, shape (N, GY, GX, 2) or None
        Where parts of the scene move apart (:mod:`vmic.core.regional`): each tile's
        smoothed large motion (px), removed tile by tile instead of :attr:`motion`.
    motion_keep : ndarray of bool, shape (N,) or None
        Frames whose motion is followed (the others stand still: see
        :class:`~vmic.core.motion.MotionCompensator`).
    source_shape : (int, int) or None
        The clip's own frame shape where its motion is removed (px).
    motion_region : (int, int, int, int) or None
        Where the analysed region follows the motion: ``(x, y, w, h)`` in the whole
        frames of ``source_shape`` (:class:`~vmic.core.compensation.MotionCompensator`).
    frame_slots : ndarray of int64, shape (N,) or None
        Where frames were dropped (their stored times leave slots empty): each frame's
        slot on the uniform time grid (:func:`vmic.timeline.frame_slots`); the audio has a
        sample per slot. None where the frames are evenly spaced or have no stored times.
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
    track_motion: bool = False
    motion: np.ndarray | None = field(default=None, repr=False)
    motion_keep: np.ndarray | None = field(default=None, repr=False)
    tile_motion: np.ndarray | None = field(default=None, repr=False)
    source_shape: tuple[int, int] | None = None
    motion_region: tuple[int, int, int, int] | None = None
    frame_slots: np.ndarray | None = field(default=None, repr=False)
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

    def build(self) -> Extraction:
        """Build the pyramid, the reference's bands and the flow weights now (each is
        otherwise built on first use); returns the extraction."""
        for name in _CACHED:
            getattr(self, name)
        return self

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
    def tracker(self):
        """The :class:`~vmic.core.tracker.MotionTracker` on the reference, or None."""
        if not self.track_motion:
            return None
        from vmic.core.tracker import MotionTracker

        return MotionTracker(self.reference)

    @cached_property
    def tile_tracker(self):
        """The :class:`~vmic.core.regional.TileTracker` on the reference, or None (no
        tracking, or frames too small for two tiles)."""
        from vmic.core.regional import TileTracker, tile_grid

        if not self.track_motion or tile_grid(self.frame_shape) is None:
            return None
        return TileTracker(self.reference)

    def compensator(self, source_shape: tuple[int, int]):
        """The :class:`~vmic.core.compensation.MotionCompensator` of :attr:`motion` (or the
        :class:`~vmic.core.regional.RegionalCompensator` of :attr:`tile_motion`) for frames
        of ``source_shape``, or None without motion."""
        if self.motion is None:
            return None
        if self.tile_motion is not None:
            from vmic.core.compensation import RegionalCompensator

            return RegionalCompensator(source_shape, self.motion, self.tile_motion,
                                       self.motion_keep)
        from vmic.core.compensation import MotionCompensator

        return MotionCompensator(source_shape, self.motion, self.motion_keep,
                                 region=self.motion_region)

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


def prepare_extraction(clip: Clip, *, combine: str = "auto", scales: int | None = None,
                       orientations: int = 2, reference_frame: int = 0,
                       reference_average: int | None = None,
                       dtype: type | np.dtype = np.float32, motion=None) -> Extraction:
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
    motion : {"auto", "off"}, MotionTrack or ndarray of shape (T, 2), optional
        The clip's large motion, removed from every frame before the pyramid; every range
        extracted with this extraction is compensated alike (:mod:`vmic.core.motion`).
        "auto" measures it first (:func:`vmic.tracking.track_motion`, a pass over the clip
        without the pyramid) and removes it where it reaches
        :data:`~vmic.core.motion.MOTION_THRESHOLD_PX`, as :func:`vmic.recover` does; a
        track or known displacements (px per frame) are removed as they are; "off" removes
        nothing. Default "auto", except for ``align`` ("off").

    Returns
    -------
    Extraction
    """
    if not isinstance(clip, Clip):
        raise VmicError(f"clip must be an opened Clip (vmic.open_clip), got "
                        f"{type(clip).__name__}")
    from vmic.tracking import follow_motion

    clip = follow_motion(clip, motion, combine, reference_frame, reference_average)
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
        self.track_motion = False  # set by the caller that wants the large motion measured
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
        self.fft = choose_backend(clip.frame_shape)
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
        compensator = getattr(clip, "compensator", None)  # a CompensatedClip's
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
                             else np.asarray(align_reference, dtype=np.float32)),
            track_motion=self.track_motion,
            motion=None if compensator is None else compensator.shifts,
            motion_keep=None if compensator is None else compensator.keep,
            tile_motion=getattr(compensator, "field", None),
            source_shape=None if compensator is None else compensator.frame_shape,
            motion_region=None if compensator is None else compensator.region,
            frame_slots=frame_slots(clip.timestamps()))
        out.pyramid = self.pyramid  # already built (and validated) for this plan
        check_reference(out.reference_bands)
        return out


def extract_range(extraction: Extraction, clip_range: Clip, *, batch_size: int = 8,
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
    if extraction.motion is not None and not hasattr(clip_range, "compensator"):
        from vmic.core.compensation import CompensatedClip

        clip_range = CompensatedClip(clip_range, extraction.compensator(clip_range.frame_shape),
                                     offset=int(clip_range.start) - extraction.start)
    first = int(clip_range.start) - extraction.start
    same_selection = (tuple(clip_range.frame_shape) == extraction.frame_shape
                      and getattr(clip_range, "roi", None) == extraction.roi
                      and getattr(clip_range, "downsample", 1) == extraction.downsample)
    if not same_selection or not (
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
