"""Complex steerable pyramid in the frequency domain (Portilla & Simoncelli).

The pyramid is the one of ``buildSCFpyr`` in matlabPyrTools, which the original visual
microphone (``vmSoundFromVideo``, Davis et al. 2014) uses, and of
``pyrtools.pyramids.SteerablePyramidFreq(img, height=S, order=K-1, is_complex=True)``,
which the test suite checks it against band for band.

Unlike those, :class:`SteerablePyramid` builds its filters once for a frame shape and then
applies them to any number of frames: the masks (:mod:`vmic.core.levels`) are stored in
natural (un-shifted) FFT order on each level's cropped frequency grid, so a band costs one
gather-and-multiply (a numba-compiled loop, :func:`vmic.core.kernels.gather_multiply`) and
one inverse FFT of the level's size.

Conventions
-----------
Scale 0 is the finest band-pass scale (full frame size); scale ``s`` has roughly
``shape / 2**s`` pixels. Orientation ``k`` of ``K`` is centred on the angle ``pi * k / K``
(0 = horizontal frequencies, i.e. it responds to vertical edges and horizontal motion).
Band coefficients are complex; their real part is the real steerable pyramid's band.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from vmic.core import fft as _fft
from vmic.core import kernels
from vmic.core.levels import Level, build_levels, max_scales, point_op
from vmic.errors import VmicError

# max_scales and point_op live with the masks (vmic.core.levels) and are re-exported here.
__all__ = ["SteerablePyramid", "max_scales", "point_op"]


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
    fft : {"scipy", "opencv"}, optional
        FFT back-end (:mod:`vmic.core.fft`). Default: the faster for this shape
        (:func:`vmic.core.fft.choose_backend`: OpenCV's on frame sizes with no prime factor
        over 5, scipy's on others), as :func:`vmic.recover` uses.

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

    def __init__(self, shape: tuple[int, int], scales: int | None = None,
                 orientations: int = 4, *, dtype: DTypeLike = np.float32, twidth: float = 1.0,
                 fft: str | None = None) -> None:
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
        if fft is None:
            fft = _fft.choose_backend((height, width))
        try:
            self.fft = _fft.check_backend(fft)
        except ValueError as exc:
            raise VmicError(str(exc)) from None
        self.shape = (height, width)
        self.scales = scales
        self.orientations = orientations
        self.order = orientations - 1
        levels = build_levels(self.shape, scales, orientations, twidth=float(twidth),
                              dtype=self.dtype)
        for level in (*levels.bands, levels.low_level):
            level.filters.flags.writeable = False
        self._hi0 = levels.highpass
        self._levels = levels.bands
        self._low = levels.lowpass
        self._low_level = levels.low_level
        self.band_shapes = [level.shape for level in levels.bands]
        self.lowpass_shape = tuple(levels.lowpass.shape)

    # ------------------------------------------------------------------ filters
    def band_filters(self, scale: int) -> np.ndarray:
        """The analysis filters of one scale, on its level's frequency grid.

        Parameters
        ----------
        scale : int
            Scale index, 0 (finest) to ``scales - 1``.

        Returns
        -------
        ndarray of complex, shape (K, h, w)
            Frequency responses in natural (un-shifted) FFT order of the level's
            ``(h, w) = band_shapes[scale]`` grid, the ``(-1j)**order`` phase included.
            Read-only: the pyramid's own.
        """
        return self._levels[scale].filters

    # ------------------------------------------------------------------ analysis
    def _as_batch(self, frames: ArrayLike) -> tuple[np.ndarray, bool]:
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

    def spectra(self, frames: ArrayLike, *, workers: int = -1) -> np.ndarray:
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

    def band_spectra(self, spectra: np.ndarray, scale: int) -> np.ndarray:
        """Spectra of one scale's bands, before the inverse transform.

        Parameters
        ----------
        spectra : ndarray of complex, shape (N, H, W // 2 + 1)
            Output of :meth:`spectra`.
        scale : int
            Scale index, 0 (finest) to ``scales - 1``.

        Returns
        -------
        ndarray of complex, shape (N, K, h, w)
            The level's frequencies of each frame times its filters, in natural FFT order,
            divided by ``h w``: the band is their *unnormalised* inverse FFT
            (``vmic.core.fft.ifft2(..., normalize=False)``).
        """
        return self._gather(spectra, self._levels[scale])

    def _gather(self, spectra, level: Level) -> np.ndarray:
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

    def scale_bands(self, spectra: np.ndarray, scale: int, *, workers: int = -1) -> np.ndarray:
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

    def build(self, frames: ArrayLike, *, residuals: bool = True) -> dict:
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
