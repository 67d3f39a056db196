"""The steerable pyramid's levels: frequency masks and where they lie in a frame's spectrum.

:func:`build_levels` computes, once per frame shape, matlabPyrTools' ``buildSCFpyr``
masks (raised-cosine radial transitions times ``cos**order`` angular profiles) and crops
each scale to its own frequency grid, as ``buildSCFpyr`` does. The masks are stored in
natural (un-shifted) FFT order, with index tables that say where each of a level's
frequencies lives in the frame's half (``rfft2``) spectrum, so that
:class:`vmic.core.pyramid.SteerablePyramid` applies a level with one gather-and-multiply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["Level", "Levels", "build_levels", "max_scales", "point_op"]


def max_scales(shape: tuple[int, int]) -> int:
    """Largest number of band-pass scales for a frame shape (pyrtools' limit).

    Parameters
    ----------
    shape : (int, int)
        Frame height and width in pixels.

    Returns
    -------
    int
        ``floor(log2(min(shape))) - 2`` (0 for frames under 8 px).
    """
    smallest = min(int(shape[0]), int(shape[1]))
    if smallest < 1:
        return 0
    return max(0, int(np.floor(np.log2(smallest))) - 2)


def point_op(x: np.ndarray, lut: np.ndarray, origin: float, increment: float) -> np.ndarray:
    """Look up ``x`` in an equi-spaced table with linear interpolation and extrapolation.

    This is matlabPyrTools' ``pointOp``: positions outside the table extrapolate linearly
    from its first or last two entries (the raised-cosine tables repeat their end values,
    so they extend as constants).

    Parameters
    ----------
    x : ndarray of float64
        Abscissae.
    lut : ndarray of float64, shape (n,)
        Table values at ``origin + increment * arange(n)``.
    origin, increment : float
        First abscissa and spacing of the table.

    Returns
    -------
    ndarray of float64, same shape as ``x``
    """
    pos = (np.asarray(x, dtype=np.float64) - origin) / increment
    index = np.clip(np.trunc(pos), 0, lut.size - 2).astype(np.int64)
    return lut[index] + (lut[index + 1] - lut[index]) * (pos - index)


def _raised_cosine(width: float = 1.0, position: float = 0.0):
    # matlabPyrTools' rcosFn with values (0, 1): a cos^2 transition from 0 to 1 over `width`
    # octaves, as a table whose end values are repeated for extrapolation.
    size = 256
    x = np.pi * np.arange(-size - 1, 2) / (2 * size)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[size + 2] = y[size + 1]
    x = position + (2 * width / np.pi) * (x + np.pi / 4)
    return x, y


def _angle_table(order: int, complex_filters: bool):
    # Angular profile cos^order of the steerable filters, as a table over [-3pi, 1pi].
    # The complex pyramid keeps one half-plane of it, doubled, so the real part of each
    # complex band equals the real pyramid's band.
    lutsize = 1024
    x = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
    n_orient = order + 1
    const = (2 ** (2 * order)) * (factorial(order) ** 2) / (n_orient * factorial(2 * order))
    if complex_filters:
        alfa = ((np.pi + x) % (2.0 * np.pi)) - np.pi
        y = 2.0 * np.sqrt(const) * np.cos(x) ** order * (np.abs(alfa) < np.pi / 2.0)
        # Frequencies exactly on the half-plane's edge belong to both halves: give them half
        # the weight, so the real part still sums to the full filter. This only matters for
        # order 0 (cos**0 = 1 there); for order >= 1 the filter is ~0 on the edge anyway, and
        # pyrtools (which refuses order 0) is matched to 1e-16.
        edge = np.isclose(np.abs(alfa), np.pi / 2.0, rtol=0, atol=1e-12)
        y[edge] = np.sqrt(const) * np.cos(x[edge]) ** order
    else:
        y = np.sqrt(const) * np.cos(x) ** order
    return x, y


def _natural_index(level_size: int, offset: int, full_size: int) -> np.ndarray:
    # Index into the full frame's (natural-order) spectrum of each natural-order frequency
    # of a level's cropped grid. Cropping happens in fftshift-ed coordinates (as in
    # buildSCFpyr): level natural n -> level shifted s -> full shifted s + offset -> full n.
    n = np.arange(level_size)
    shifted = (n + level_size // 2) % level_size
    return ((shifted + offset - full_size // 2) % full_size).astype(np.int64)


def _half_spectrum_index(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]):
    # Where each full-spectrum frequency (rows x cols) lives in the rfft2 half spectrum.
    height, width = shape
    conjugate = cols > width // 2
    half_cols = np.where(conjugate, (width - cols) % width, cols).astype(np.int64)
    mirror_rows = ((height - rows) % height).astype(np.int64)
    return mirror_rows, half_cols, conjugate


@dataclass(frozen=True)
class Level:
    """One level's filters on its cropped frequency grid, and where that grid lies in the
    frame's spectrum. ``h, w`` is the level's shape, ``K`` the number of orientations."""

    shape: tuple[int, int]
    rows: np.ndarray  # (h,) int64, into the full natural spectrum
    cols: np.ndarray  # (w,) int64
    mirror_rows: np.ndarray  # (h,) rows of the mirrored frequencies
    half_cols: np.ndarray  # (w,) columns in the rfft2 half spectrum
    conjugate: np.ndarray  # (w,) bool, read the mirrored frequency's conjugate
    filters: np.ndarray  # (K, h, w) complex, analysis filters incl. (-1j)**order
    synthesis: np.ndarray  # (K, h, w) complex, applied to fft2(real(band)) to reconstruct

    # Real and imaginary parts of `filters / (h w)`, contiguous, for the gather kernel: the
    # inverse transform's 1 / (h w) is folded into the filters, so the band is an
    # unnormalised inverse FFT of the gathered spectrum (one pass less per band).
    filters_re: np.ndarray = field(init=False, repr=False)
    filters_im: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        scaled = self.filters / (self.shape[0] * self.shape[1])
        object.__setattr__(self, "filters_re", np.ascontiguousarray(scaled.real))
        object.__setattr__(self, "filters_im", np.ascontiguousarray(scaled.imag))


def _polar_grid(shape: tuple[int, int]):
    # Angle and log2 radius of each frequency of the fftshift-ed grid (as buildSCFpyr).
    height, width = shape
    ctr = np.ceil((np.array(shape) + 0.5) / 2).astype(int)
    xramp, yramp = np.meshgrid(
        np.linspace(-1, 1, width + 1)[:-1], np.linspace(-1, 1, height + 1)[:-1]
    )
    angle = np.arctan2(yramp, xramp)
    log_rad = np.sqrt(xramp**2 + yramp**2)
    # The DC sample would be log2(0); borrow its neighbour's radius (as buildSCFpyr).
    log_rad[ctr[0] - 1, ctr[1] - 1] = log_rad[ctr[0] - 1, ctr[1] - 2]
    return angle, np.log2(log_rad)


def _next_level_crop(level_shape: tuple[int, int]):
    # Start and slices of the next (half-size) level's grid within this one's.
    dims = np.array(level_shape)
    ctr = np.ceil((dims + 0.5) / 2).astype(int)
    lodims = np.ceil((dims - 0.5) / 2).astype(int)
    loctr = np.ceil((lodims + 0.5) / 2).astype(int)
    lostart = ctr - loctr
    loend = lostart + lodims
    return lostart, (slice(lostart[0], loend[0]), slice(lostart[1], loend[1]))


@dataclass(frozen=True)
class Levels:
    """Everything :func:`build_levels` computes for one frame shape."""

    highpass: np.ndarray  # (H, W) real, the high-pass residual's mask, natural order
    bands: list[Level]  # one per scale, finest first
    lowpass: np.ndarray  # (h, w) real, the low-pass residual's mask, natural order
    low_level: Level  # the low-pass residual's grid (K = 1)


def build_levels(shape: tuple[int, int], scales: int, orientations: int, *,
                 twidth: float = 1.0, dtype: DTypeLike = np.float32) -> Levels:
    """The pyramid's masks for frames of ``shape`` (height, width) px.

    Parameters
    ----------
    shape : (int, int)
        Frame height and width in pixels.
    scales : int
        Band-pass scales, 1 to :func:`max_scales` ``(shape)`` (not checked here).
    orientations : int
        Orientations per scale (``order + 1``).
    twidth : float, default 1
        Width of the radial transition between scales, in octaves.
    dtype : numpy dtype, default float32
        Real precision of the masks (float32 or float64); complex filters take the
        matching complex dtype.

    Returns
    -------
    Levels
    """
    dtype = np.dtype(dtype)
    complex_dtype = np.result_type(dtype, np.complex64)
    order = orientations - 1
    height, width = shape
    angle, log_rad = _polar_grid(shape)

    xrcos, yrcos = _raised_cosine(twidth, -twidth / 2.0)
    yrcos = np.sqrt(yrcos)
    yircos = np.sqrt(1.0 - yrcos**2)
    step = xrcos[1] - xrcos[0]

    lo0 = point_op(log_rad, yircos, xrcos[0], step)
    hi0 = point_op(log_rad, yrcos, xrcos[0], step)
    highpass = np.fft.ifftshift(hi0).astype(dtype)

    xcosn, ycosn_complex = _angle_table(order, complex_filters=True)
    _, ycosn_real = _angle_table(order, complex_filters=False)
    cstep = xcosn[1] - xcosn[0]
    analysis_phase = (-1j) ** order
    synthesis_phase = (1j) ** order

    lo = lo0  # product of the low-pass masks down to the current level, shifted order
    offset = np.zeros(2, dtype=int)
    levels = []
    for _ in range(scales):
        xrcos = xrcos - 1.0
        himask = point_op(log_rad, yrcos, xrcos[0], step)
        level_shape = lo.shape
        filters = np.empty((orientations,) + level_shape, dtype=complex_dtype)
        synthesis = np.empty_like(filters)
        for k in range(orientations):
            origin = xcosn[0] + np.pi * k / orientations
            amask = point_op(angle, ycosn_complex, origin, cstep)
            rmask = point_op(angle, ycosn_real, origin, cstep)
            filters[k] = np.fft.ifftshift(analysis_phase * lo * amask * himask)
            synthesis[k] = np.fft.ifftshift(synthesis_phase * lo * rmask * himask)
        rows = _natural_index(level_shape[0], offset[0], height)
        cols = _natural_index(level_shape[1], offset[1], width)
        levels.append(
            Level(level_shape, rows, cols, *_half_spectrum_index(rows, cols, shape),
                  filters=filters, synthesis=synthesis)
        )
        # Crop to the next level's frequency grid (in fftshift-ed coordinates).
        lostart, crop = _next_level_crop(level_shape)
        log_rad = log_rad[crop]
        angle = angle[crop]
        lo = lo[crop] * point_op(log_rad, yircos, xrcos[0], step)
        offset = offset + lostart
    lowpass = np.fft.ifftshift(lo).astype(dtype)
    low_rows = _natural_index(lo.shape[0], offset[0], height)
    low_cols = _natural_index(lo.shape[1], offset[1], width)
    low_level = Level(
        tuple(lo.shape), low_rows, low_cols,
        *_half_spectrum_index(low_rows, low_cols, shape),
        filters=lowpass[None].astype(complex_dtype), synthesis=lowpass[None],
    )
    return Levels(highpass, levels, lowpass, low_level)
