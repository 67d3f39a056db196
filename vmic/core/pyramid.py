"""Complex steerable pyramid in the frequency domain (Portilla & Simoncelli).

The pyramid is the one of ``buildSCFpyr`` in matlabPyrTools, which the original visual
microphone (``vmSoundFromVideo``, Davis et al. 2014) uses, and of
``pyrtools.pyramids.SteerablePyramidFreq(img, height=S, order=K-1, is_complex=True)``,
which the test suite checks it against band for band.

Unlike those, :class:`SteerablePyramid` builds its filters once for a frame shape and then
applies them to any number of frames: the masks are stored in natural (un-shifted) FFT
order on each level's cropped frequency grid, so a band costs one gather-and-multiply
(a numba-compiled loop, :func:`vmic.core.kernels.gather_multiply`) and one inverse FFT of the
level's size.

Conventions
-----------
Scale 0 is the finest band-pass scale (full frame size); scale ``s`` has roughly
``shape / 2**s`` pixels. Orientation ``k`` of ``K`` is centred on the angle ``pi * k / K``
(0 = horizontal frequencies, i.e. it responds to vertical edges and horizontal motion).
Band coefficients are complex; their real part is the real steerable pyramid's band.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import numpy as np

from vmic.core import fft as _fft
from vmic.core import kernels
from vmic.errors import VmicError

__all__ = ["SteerablePyramid", "max_scales", "point_op"]


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
class _Level:
    shape: tuple[int, int]
    rows: np.ndarray  # (h,) int64, into the full natural spectrum
    cols: np.ndarray  # (w,) int64
    mirror_rows: np.ndarray  # (h,) rows of the mirrored frequencies
    half_cols: np.ndarray  # (w,) columns in the rfft2 half spectrum
    conjugate: np.ndarray  # (w,) bool, read the mirrored frequency's conjugate
    filters: np.ndarray  # (K, h, w) complex, analysis filters incl. (-1j)**order
    synthesis: np.ndarray  # (K, h, w) complex, applied to fft2(real(band)) to reconstruct

    # Real and imaginary parts of `filters / (h w)`, contiguous, for _gather_multiply: the
    # inverse transform's 1 / (h w) is folded into the filters, so the band is an
    # unnormalised inverse FFT of the gathered spectrum (one pass less per band).
    filters_re: np.ndarray = field(init=False, repr=False)
    filters_im: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        scaled = self.filters / (self.shape[0] * self.shape[1])
        object.__setattr__(self, "filters_re", np.ascontiguousarray(scaled.real))
        object.__setattr__(self, "filters_im", np.ascontiguousarray(scaled.imag))


class SteerablePyramid:
    """A complex steerable pyramid for one frame shape, built once, applied to many frames.

    Parameters
    ----------
    shape : (int, int)
        Frame height and width in pixels.
    scales : int, optional
        Number of band-pass scales, 1 to :func:`max_scales` ``(shape)`` (default: the maximum).
    orientations : int, default 4
        Number of orientations per scale, 1 to 16 (pyrtools' ``order + 1``).
    dtype : numpy dtype, default float32
        Real precision of the computation: float32 (bands complex64) or float64
        (bands complex128).
    twidth : float, default 1
        Width of the radial transition between scales, in octaves.
    fft : {"scipy", "numpy", "opencv"}, default "scipy"
        FFT back-end (:mod:`vmic.core.fft`): scipy's is faster per frame than numpy's, numpy's
        saves the 0.3 s of importing scipy.fft, and OpenCV's is the fastest on frame sizes
        with no prime factor over 5 (:func:`vmic.core.fft.choose_backend` picks one).

    Attributes
    ----------
    band_shapes : list of (int, int)
        Shape of each scale's bands.
    lowpass_shape : (int, int)
        Shape of the low-pass residual.

    Examples
    --------
    >>> pyr = SteerablePyramid((64, 64), scales=2, orientations=4)
    >>> coeffs = pyr.build(np.random.rand(64, 64))
    >>> coeffs[(0, 1)].shape, coeffs[(1, 0)].shape
    ((64, 64), (32, 32))
    >>> bool(np.allclose(pyr.reconstruct(coeffs), pyr.reconstruct(coeffs)))
    True
    """

    def __init__(self, shape, scales=None, orientations=4, *, dtype=np.float32, twidth=1.0,
                 fft: str = "scipy"):
        try:
            height, width = (int(v) for v in shape)
        except (TypeError, ValueError):
            raise VmicError(f"frame shape must be (height, width), got {shape!r}") from None
        limit = max_scales((height, width))
        if limit < 1:
            raise VmicError(
                f"frames of {height}x{width} px are too small for a steerable pyramid "
                "(need at least 8 px on each side)"
            )
        if scales is None:
            scales = limit
        scales = int(scales)
        if scales < 1:
            raise VmicError(f"scales must be >= 1, got {scales}")
        if scales > limit:
            raise VmicError(
                f"{scales} scales is too many for {height}x{width} px frames "
                f"(at most {limit}: floor(log2(min side)) - 2)"
            )
        orientations = int(orientations)
        if not 1 <= orientations <= 16:
            raise VmicError(f"orientations must be between 1 and 16, got {orientations}")
        if twidth <= 0:
            raise VmicError("twidth must be positive")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise VmicError(f"dtype must be float32 or float64, got {self.dtype}")
        self.complex_dtype = np.result_type(self.dtype, np.complex64)
        try:
            self.fft = _fft.check_backend(fft)
        except ValueError as exc:
            raise VmicError(str(exc)) from None
        self.shape = (height, width)
        self.scales = scales
        self.orientations = orientations
        self.order = orientations - 1
        self._build_filters(float(twidth))

    # ------------------------------------------------------------------ filters
    def _build_filters(self, twidth: float) -> None:
        height, width = self.shape
        dims = np.array(self.shape)
        ctr = np.ceil((dims + 0.5) / 2).astype(int)
        xramp, yramp = np.meshgrid(
            np.linspace(-1, 1, width + 1)[:-1], np.linspace(-1, 1, height + 1)[:-1]
        )
        angle = np.arctan2(yramp, xramp)
        log_rad = np.sqrt(xramp**2 + yramp**2)
        # The DC sample would be log2(0); borrow its neighbour's radius (as buildSCFpyr).
        log_rad[ctr[0] - 1, ctr[1] - 1] = log_rad[ctr[0] - 1, ctr[1] - 2]
        log_rad = np.log2(log_rad)

        xrcos, yrcos = _raised_cosine(twidth, -twidth / 2.0)
        yrcos = np.sqrt(yrcos)
        yircos = np.sqrt(1.0 - yrcos**2)
        step = xrcos[1] - xrcos[0]

        lo0 = point_op(log_rad, yircos, xrcos[0], step)
        hi0 = point_op(log_rad, yrcos, xrcos[0], step)
        self._hi0 = np.fft.ifftshift(hi0).astype(self.dtype)

        xcosn, ycosn_complex = _angle_table(self.order, complex_filters=True)
        _, ycosn_real = _angle_table(self.order, complex_filters=False)
        cstep = xcosn[1] - xcosn[0]
        analysis_phase = (-1j) ** self.order
        synthesis_phase = (1j) ** self.order

        lo = lo0  # product of the low-pass masks down to the current level, shifted order
        offset = np.zeros(2, dtype=int)
        levels = []
        for _ in range(self.scales):
            xrcos = xrcos - 1.0
            himask = point_op(log_rad, yrcos, xrcos[0], step)
            level_shape = lo.shape
            filters = np.empty((self.orientations,) + level_shape, dtype=self.complex_dtype)
            synthesis = np.empty_like(filters)
            for k in range(self.orientations):
                origin = xcosn[0] + np.pi * k / self.orientations
                amask = point_op(angle, ycosn_complex, origin, cstep)
                rmask = point_op(angle, ycosn_real, origin, cstep)
                filters[k] = np.fft.ifftshift(analysis_phase * lo * amask * himask)
                synthesis[k] = np.fft.ifftshift(synthesis_phase * lo * rmask * himask)
            rows = _natural_index(level_shape[0], offset[0], height)
            cols = _natural_index(level_shape[1], offset[1], width)
            levels.append(
                _Level(level_shape, rows, cols, *_half_spectrum_index(rows, cols, self.shape),
                       filters=filters, synthesis=synthesis)
            )
            # Crop to the next level's frequency grid (in fftshift-ed coordinates).
            dims = np.array(level_shape)
            ctr = np.ceil((dims + 0.5) / 2).astype(int)
            lodims = np.ceil((dims - 0.5) / 2).astype(int)
            loctr = np.ceil((lodims + 0.5) / 2).astype(int)
            lostart = ctr - loctr
            loend = lostart + lodims
            log_rad = log_rad[lostart[0] : loend[0], lostart[1] : loend[1]]
            angle = angle[lostart[0] : loend[0], lostart[1] : loend[1]]
            lomask = point_op(log_rad, yircos, xrcos[0], step)
            lo = lo[lostart[0] : loend[0], lostart[1] : loend[1]] * lomask
            offset = offset + lostart
        self._levels = levels
        self._low = np.fft.ifftshift(lo).astype(self.dtype)
        low_rows = _natural_index(lo.shape[0], offset[0], height)
        low_cols = _natural_index(lo.shape[1], offset[1], width)
        self._low_level = _Level(
            tuple(lo.shape), low_rows, low_cols,
            *_half_spectrum_index(low_rows, low_cols, self.shape),
            filters=self._low[None].astype(self.complex_dtype), synthesis=self._low[None],
        )
        self.band_shapes = [lv.shape for lv in levels]
        self.lowpass_shape = tuple(lo.shape)

    # ------------------------------------------------------------------ analysis
    def _as_batch(self, frames) -> tuple[np.ndarray, bool]:
        frames = np.asarray(frames)
        single = frames.ndim == 2
        if single:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise VmicError(
                f"frames must have shape {self.shape} or (N, *{self.shape}); "
                f"got {frames.shape}"
            )
        return np.ascontiguousarray(frames, dtype=self.dtype), single

    def spectra(self, frames, workers: int = -1) -> np.ndarray:
        """Half (``rfft2``) spectrum of a frame or batch, in the pyramid's complex dtype.

        Frames are real, so half the spectrum determines the rest; :meth:`scale_bands`
        reads the other half through Hermitian symmetry.

        Parameters
        ----------
        frames : ndarray, shape (H, W) or (N, H, W)
        workers : int, default -1
            Threads of the FFT (-1: all cores).

        Returns
        -------
        ndarray of complex, shape (N, H, W // 2 + 1)
        """
        batch, _ = self._as_batch(frames)
        return _fft.rfft2(batch, self.fft, workers)

    def _gather(self, spectra, level) -> np.ndarray:
        # The level's frequencies of the frame spectra times its filters, divided by the
        # level's h w: `_fft.ifft2(..., normalize=False)` of it is the band.
        spectra = np.ascontiguousarray(spectra, dtype=self.complex_dtype)
        if spectra.ndim != 3 or spectra.shape[1:] != (self.shape[0], self.shape[1] // 2 + 1):
            raise VmicError(f"spectra must come from this pyramid's spectra(); got shape "
                            f"{spectra.shape}")
        out = np.empty((spectra.shape[0],) + level.filters.shape, dtype=self.complex_dtype)
        real = spectra.real.dtype
        scratch = np.empty((2, level.filters.shape[-1]), dtype=real)
        status = kernels.gather_multiply(spectra.view(real), level.rows, level.mirror_rows,
                                         level.half_cols, level.conjugate, level.filters_re,
                                         level.filters_im, out.view(real), scratch)
        if status:  # the level's index tables do not fit these spectra (a bug, not input)
            raise ValueError("row or column index outside the spectrum")
        return out

    def scale_bands(self, spectra: np.ndarray, scale: int, workers: int = -1) -> np.ndarray:
        """All orientation bands of one scale, from frame spectra.

        Parameters
        ----------
        spectra : ndarray of complex, shape (N, H, W // 2 + 1)
            Output of :meth:`spectra`.
        scale : int
            Scale index, 0 (finest) to ``scales - 1``.
        workers : int, default -1
            Threads of the inverse FFT (-1: all cores).

        Returns
        -------
        ndarray of complex, shape (N, K, h, w)
            Complex band coefficients; ``(h, w) = band_shapes[scale]``.
        """
        out = self._gather(spectra, self._levels[scale])
        return _fft.ifft2(out, self.fft, workers, overwrite=True, normalize=False)

    def build(self, frames, residuals: bool = True) -> dict:
        """Decompose a frame or a batch of frames.

        Parameters
        ----------
        frames : ndarray, shape (H, W) or (N, H, W)
            Grey frames (any real dtype; computed in the pyramid's dtype).
        residuals : bool, default True
            Also return the real high-pass and low-pass residuals (needed to reconstruct).

        Returns
        -------
        dict
            Keyed like pyrtools: ``(scale, orientation)`` -> complex band of shape
            ``band_shapes[scale]`` (with a leading N axis for a batch), plus
            ``"residual_highpass"`` (H, W) and ``"residual_lowpass"`` ``lowpass_shape``,
            both real.
        """
        batch, single = self._as_batch(frames)
        spectra = self.spectra(batch)
        coeffs: dict = {}
        squeeze = (lambda a: a[0]) if single else (lambda a: a)
        if residuals:
            # The high-pass mask is not exactly Hermitian-symmetric on an even grid (the
            # Nyquist row has no partner), so this residual takes the full spectrum.
            full = _fft.fft2(batch, self.fft)
            hi = _fft.ifft2(full * self._hi0, self.fft, overwrite=True).real
            coeffs["residual_highpass"] = squeeze(hi)
        for s in range(self.scales):
            bands = self.scale_bands(spectra, s)
            for k in range(self.orientations):
                coeffs[(s, k)] = squeeze(bands[:, k])
        if residuals:
            low_spec = self._gather(spectra, self._low_level)[:, 0]
            low = _fft.ifft2(low_spec, self.fft, normalize=False).real
            coeffs["residual_lowpass"] = squeeze(low)
        return coeffs

    # ------------------------------------------------------------------ synthesis
    def reconstruct(self, coeffs: dict) -> np.ndarray:
        """Invert :meth:`build` (exact for even frame sizes; see notes).

        Only the real part of each complex band is used: it is the real steerable pyramid's
        band, and the real pyramid is a tight frame.

        Parameters
        ----------
        coeffs : dict
            As returned by :meth:`build` with ``residuals=True``; a band or residual that is
            missing counts as zero.

        Returns
        -------
        ndarray of the pyramid's real dtype, shape (H, W) or (N, H, W)

        Notes
        -----
        As in matlabPyrTools and pyrtools, frames with an odd side do not reconstruct
        exactly: the Nyquist row/column has no symmetric partner in the one-sided filters.
        """
        sample = next(iter(coeffs.values()))
        single = np.ndim(sample) == 2
        batch_len = 1 if single else np.shape(sample)[0]
        full = np.zeros((batch_len,) + self.shape, dtype=self.complex_dtype)

        def spectrum(key):
            value = coeffs.get(key)
            if value is None:
                return None
            value = np.real(np.asarray(value)).astype(self.dtype)
            if single:
                value = value[None]
            return _fft.fft2(value, self.fft)

        hi = spectrum("residual_highpass")
        if hi is not None:
            full += hi * self._hi0
        low = spectrum("residual_lowpass")
        if low is not None:
            low_level = self._low_level
            full[:, low_level.rows[:, None], low_level.cols[None, :]] += low * self._low
        for s, level in enumerate(self._levels):
            acc = np.zeros((batch_len,) + level.shape, dtype=self.complex_dtype)
            for k in range(self.orientations):
                band = spectrum((s, k))
                if band is not None:
                    acc += band * level.synthesis[k]
            full[:, level.rows[:, None], level.cols[None, :]] += acc
        image = _fft.ifft2(full, self.fft, overwrite=True).real.astype(self.dtype)
        return image[0] if single else image

    def __repr__(self) -> str:
        return (
            f"SteerablePyramid(shape={self.shape}, scales={self.scales}, "
            f"orientations={self.orientations}, dtype={self.dtype.name})"
        )
