"""What a recovery returns: the audio (:class:`Recovery`) and what was done."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Recovery", "RecoveryInfo"]


@dataclass
class RecoveryInfo:
    """What a recovery did. Every field is always present; None where it does not apply.

    Attributes
    ----------
    frames : int
        Frames recovered (samples of the audio).
    frame_shape : (int, int)
        Height and width of the frames (px).
    scales, orientations : int
        Pyramid shape of the sums the audio was made of.
    tiles : (int, int)
        Tile grid (down, across) of those sums.
    reference_average : int or None
        Frames averaged into their reference image (None for ``learned``).
    fps_source : str
        Where the capture rate came from: "argument", "sidecar", "header", "metadata" or
        "container" (:mod:`vmic.io.rate`).
    combine : str
        The method asked for ("auto", "local", "bands", "align", "learned").
    method : str
        The method that made the audio: ``auto`` gives "local", or "align" after its
        fallback.
    candidate : str or None
        ``local``'s chosen estimate: "rigid" or "rank1 GYxGX" (also kept after ``auto``'s
        fallback); None for ``align``, ``bands`` and ``learned``.
    split_snr_db : dict of str to float, or None
        ``local``'s blind SNR estimate (dB) of each candidate, on what it was judged on.
    half_snr_db : dict of str to float, or None
        ``local``'s blind SNR estimate (dB) of each candidate from two halves of the tiles.
    detected : bool or None
        Whether ``local`` detected a common motion signal (None: the tile grid is too small
        to test, or no test was made).
    detection_z : dict of str to float, or None
        ``local``'s cross-fit test statistic per candidate (about N(0, 1) without a
        signal), where the cross-fit judged.
    judged_on : str or None
        What ``local``'s choice was judged on: "halves", "cross-fit" or "none".
    spectral_gain_mean : float or None
        ``local``'s mean spectral weighting of its fits (0 to 1).
    fallback : bool
        True when ``auto`` detected no signal and gave ``align``'s output.
    weights_unit : str or None
        Units of :attr:`Recovery.weights` (None where there are no weights).
    gain_px : float or None
        Px of motion per unit of the output audio: ``audio * gain_px`` is the motion (px),
        along the combination's direction, after the high-pass and band-pass (1.0 when the
        audio is returned in px). None where the output has no px calibration (``align``,
        ``bands``, ``learned``).
    units : str
        "scaled" (peak 1, or ``align``'s [-1, 1] span) or "px".
    elapsed_s : float
        Wall time of the recovery (s).
    model : str or None
        The weights file of ``learned``.
    motion_px : ndarray of float64, shape (T, 2) or None
        The large motion found (dx, dy per frame, px of the frame, smoothed below the audio
        band; :mod:`vmic.core.motion`), whether or not it was removed; None where motion
        was not measured (``motion="off"``, ``align``'s default, ``learned``).
    motion_compensated : bool
        Whether that motion was removed before the pyramid.
    motion_margin_px : int or None
        Border cropped from the frames by the compensation (px).
    lost_frames : ndarray of bool, shape (T,) or None
        Frames whose motion took the reference out of view: set to zero in the audio
        (one per audio sample).
    filled_samples : ndarray of bool, shape (T,) or None
        Where frames were dropped (their stored times leave gaps; :mod:`vmic.timeline`):
        the audio samples of the missing frames, interpolated from their neighbours'
        sums. ``frames`` counts the stored frames, the audio one sample per time slot.
    tile_motion_px : ndarray of float64, shape (T, GY, GX, 2) or None
        The large motion of each tile of a coarse grid (dx, dy per frame and tile, px of the
        frame, smoothed; :attr:`vmic.core.tiles.TileTracks.field`): what was removed
        where ``motion_regional``, else the recovery's screening for it (tiles that stay
        within 1 px of ``motion_px`` show ``motion_px``); None where not measured (as
        ``motion_px``, or frames too small for two tiles).
    tile_edges_px : (ndarray, ndarray) or None
        The tiles' edges (GY + 1,) and (GX + 1,) in px of the frame the motion was measured
        on (the clip's, before any crop by the compensation).
    regional_tiles : ndarray of bool, shape (GY, GX) or None
        Tiles whose own motion was removed instead of ``motion_px``.
    motion_regional : bool
        Whether parts of the scene moved apart and were compensated tile by tile.
    """

    frames: int
    frame_shape: tuple[int, int]
    scales: int
    orientations: int
    tiles: tuple[int, int]
    reference_average: int | None
    fps_source: str
    combine: str
    method: str
    candidate: str | None = None
    split_snr_db: dict[str, float] | None = None
    half_snr_db: dict[str, float] | None = None
    detected: bool | None = None
    detection_z: dict[str, float] | None = None
    judged_on: str | None = None
    spectral_gain_mean: float | None = None
    fallback: bool = False
    weights_unit: str | None = None
    gain_px: float | None = None
    units: str = "scaled"
    elapsed_s: float = 0.0
    model: str | None = None
    motion_px: np.ndarray | None = field(default=None, repr=False)
    motion_compensated: bool = False
    motion_margin_px: int | None = None
    lost_frames: np.ndarray | None = field(default=None, repr=False)
    filled_samples: np.ndarray | None = field(default=None, repr=False)
    tile_motion_px: np.ndarray | None = field(default=None, repr=False)
    tile_edges_px: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    regional_tiles: np.ndarray | None = field(default=None, repr=False)
    motion_regional: bool = False


@dataclass
class Recovery:
    """Result of :func:`recover`.

    Attributes
    ----------
    audio : ndarray of float32, shape (T,)
        Recovered sound, scaled to [-1, 1] (or in px with ``units="px"``).
    sr : float
        Sample rate (Hz) = capture rate.
    band_signals : ndarray of float64, shape (S, K, T)
        ``vmSoundFromVideo``'s per-band signals, mean(dphi * A**2) / sum(A) (rad), of the
        sums the audio was made of.
    weights : ndarray of float64 or None
        Signed weights of the combined signals (``bands``: shape (S, K, TY, TX), one per
        band and tile; ``local``: shape (2, TY, TX), the weight of each tile's x and y
        motion); None for ``align``. Units in ``info.weights_unit``.
    info : RecoveryInfo
    """

    audio: np.ndarray
    sr: float
    band_signals: np.ndarray
    weights: np.ndarray | None
    info: RecoveryInfo
