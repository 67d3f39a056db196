"""The registry of combination methods, and what a method declares.

A method is an object with a ``name``, the extraction it needs (:class:`CombineMethod`'s
attributes and :meth:`~CombineMethod.scales` / :meth:`~CombineMethod.tiles`), and a
:meth:`~CombineMethod.combine` that turns the joined sums of a clip into audio.
:func:`vmic.recovery.recover` looks methods up by name with :func:`get_method`; a new
method is one module that calls :func:`register_method`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vmic import post
from vmic.core.pyramid import max_scales
from vmic.errors import VmicError

if TYPE_CHECKING:
    from vmic.extraction import Extraction
    from vmic.ranges import RangeSums

__all__ = ["CombineMethod", "Combined", "METHODS", "register_method", "get_method",
           "highpass_rows", "default_tiles", "LOCAL_TILE_PX", "REFERENCE_AVERAGE"]

LOCAL_TILE_PX = 16  # tile side at scale 0 for the tiled methods (px)
REFERENCE_AVERAGE = 32  # frames averaged into the reference image (not for align)

METHODS: dict[str, CombineMethod] = {}


@dataclass
class Combined:
    """What a method's :meth:`~CombineMethod.combine` returns.

    Attributes
    ----------
    audio : ndarray of float64, shape (T,)
        The combined signal, high-passed and scaled (peak 1, or ``align``'s [-1, 1] span).
    method : str
        The method that made ``audio`` (``auto``: "local" or "align").
    band_signals : ndarray of float64, shape (S, K, T)
        ``vmSoundFromVideo``'s per-band signals of the sums ``audio`` was made of (rad).
    weights : ndarray of float64 or None
        See :class:`vmic.recovery.Recovery`.
    weights_unit : str or None
        Units of ``weights``.
    gain_px : float or None
        Motion in px per unit of ``audio``; None where the method has no calibration.
    details : dict
        Further :class:`vmic.recovery.RecoveryInfo` fields (``candidate``, ``detected``...).
    """

    audio: np.ndarray
    method: str
    band_signals: np.ndarray
    weights: np.ndarray | None = None
    weights_unit: str | None = None
    gain_px: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CombineMethod:
    """A combination method: the extraction it needs, and its combination.

    Attributes
    ----------
    name : str
    default_scales : int or None
        Pyramid scales when none are given; None: up to 3 (as many as the frame allows).
    reference_average : int
        Frames averaged into the reference image when no number is given.
    flow : bool
        Whether the extraction keeps per-tile flow sums (reduced by their noise weights).
    align_sums : bool
        Whether the extraction also keeps ``align``'s band sums (one reference frame,
        ``align``'s scales, whole-frame tiles) in the same pass.
    px_output : bool
        Whether the output has a gain in px (``units="px"`` is allowed).
    """

    name: str
    default_scales: int | None = None
    reference_average: int = REFERENCE_AVERAGE
    flow: bool = False
    align_sums: bool = False
    px_output: bool = False

    def scales(self, frame_shape: tuple[int, int]) -> int:
        """Scales used when none are given, for frames of ``frame_shape`` (px).

        Coarser scales hold much of a natural texture's gradient energy, which is what
        motion information is (the Cramér-Rao bound sums it over all frequencies): on
        rendered clips, 3 scales recover 4-5 dB more than 1 and come within about 1 dB of
        the bound.
        """
        if self.default_scales is not None:
            return self.default_scales
        return max(1, min(3, max_scales(frame_shape)))

    def tiles(self, band_shapes: list[tuple[int, int]]) -> tuple[int, int]:
        """Tile grid (down, across) of the extraction; whole-frame sums by default."""
        return (1, 1)

    def combine(self, extraction: Extraction, sums: RangeSums, *,
                highpass_hz: float | None = None, units: str = "scaled") -> Combined:
        """Combine the joined sums of a clip into audio (see :class:`Combined`)."""
        raise NotImplementedError


def register_method(method: CombineMethod) -> CombineMethod:
    """Add a method to :data:`METHODS` under its name; returns it."""
    METHODS[method.name] = method
    return method


def get_method(name: str) -> CombineMethod:
    """The registered method called ``name``.

    Raises
    ------
    VmicError
        For an unknown name (the message names the parameter ``combine``).
    """
    method = METHODS.get(name) if isinstance(name, str) else None
    if method is None:
        raise VmicError(f"unknown combination {name!r} (combine); choose from "
                        f"{', '.join(METHODS)}")
    return method


def default_tiles(band_shapes: list[tuple[int, int]], tile_px: int = LOCAL_TILE_PX):
    """Tile grid for local aggregation: ``tile_px`` tiles at scale 0, at least 2 px of the
    coarsest band per tile, at most 24 x 24 tiles."""
    (h0, w0), (hc, wc) = band_shapes[0], band_shapes[-1]
    ty = max(1, min(h0 // tile_px, hc // 2, 24))
    tx = max(1, min(w0 // tile_px, wc // 2, 24))
    return ty, tx


def highpass_rows(signals: np.ndarray, sr: float, cutoff_hz: float,
                  rows_per_block: int = 8) -> np.ndarray:
    """Mean-removed, zero-phase high-passed copy of signals (N, T), in float32.

    A block of rows at a time, so the filter's float64 temporaries stay small however
    many signals a clip has. ``sr`` and ``cutoff_hz`` in Hz.
    """
    out = np.empty(signals.shape, dtype=np.float32)
    for i in range(0, signals.shape[0], rows_per_block):
        block = np.asarray(signals[i : i + rows_per_block], dtype=np.float64)
        block = block - block.mean(axis=-1, keepdims=True)
        out[i : i + rows_per_block] = post.highpass(block, sr, cutoff_hz)
    return out
