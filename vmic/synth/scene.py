"""Scenes for synthetic clips: textures, the object's window, and motion shapes.

Coordinates: ``x`` is the column (px, to the right), ``y`` the row (px, down), the origin at the
centre of the top-left pixel. Textures are float64 (H, W) images in relative intensity (0 black,
1 the camera's full well), *periodic and band-limited*, so that they can be shifted exactly by a
Fourier phase ramp and differentiated exactly in the Fourier domain.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import special

from vmic.errors import VmicError

TEXTURE_KINDS = ("noise", "print", "image")
OBJECT_KINDS = ("disk", "rect", "full")
MOTION_SHAPES = ("global", "membrane", "two_regions")

CUTOFF_CYCLES_PER_PX = 0.3
"""Textures are low-passed (Gaussian) so that little energy lies above this frequency."""


def _freq_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies (cycles/px) of ``numpy.fft.fft2``: ``fy`` (H,1), ``fx`` (1,W)."""
    h, w = shape
    return np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]


def _lowpass(image: np.ndarray, cutoff: float = CUTOFF_CYCLES_PER_PX) -> np.ndarray:
    """Periodic Gaussian low-pass with a gain of 1/e^2 at ``cutoff`` cycles/px."""
    fy, fx = _freq_grid(image.shape)
    sigma_f = cutoff / 2.0
    gain = np.exp(-(fx ** 2 + fy ** 2) / (2 * sigma_f ** 2))
    # No energy at the Nyquist frequency (even sizes): a shift there is not representable.
    gain = gain * (np.abs(fx) < 0.5) * (np.abs(fy) < 0.5)
    return np.real(np.fft.ifft2(np.fft.fft2(image) * gain))


def _to_range(image: np.ndarray, mean: float, contrast: float) -> np.ndarray:
    """Scale to ``mean +- contrast`` (peak deviation), float64."""
    dev = image - image.mean()
    peak = float(np.max(np.abs(dev)))
    if peak == 0.0:
        raise VmicError("the texture is flat (no contrast)")
    return mean + contrast * dev / peak


def noise_texture(shape: tuple[int, int], rng: np.random.Generator, *,
                  beta: float = 1.0) -> np.ndarray:
    """Multi-scale noise: white noise shaped to a ``1/f^beta`` amplitude spectrum, low-passed.

    Parameters
    ----------
    shape : (int, int)
        (H, W) in px.
    rng : numpy.random.Generator
        Randomness.
    beta : float
        Spectral slope of the amplitude (1 = natural-image-like, equal energy per octave).

    Returns
    -------
    numpy.ndarray
        float64 (H, W), zero mean, peak absolute value 1.
    """
    fy, fx = _freq_grid(shape)
    f = np.sqrt(fx ** 2 + fy ** 2)
    amp = 1.0 / np.maximum(f, 1.0 / max(shape)) ** beta
    spectrum = np.fft.fft2(rng.standard_normal(shape)) * amp
    spectrum[0, 0] = 0.0
    return _to_range(_lowpass(np.real(np.fft.ifft2(spectrum))), 0.0, 1.0)


def print_texture(shape: tuple[int, int], rng: np.random.Generator, *,
                  n_marks: int | None = None) -> np.ndarray:
    """Print-like marks: dark bars and dots with sharp edges, blurred to the band limit.

    Draws ``n_marks`` axis-aligned bars (strokes of 1.5-4 px width) and dots at random, with
    periodic wrap-around, then applies the texture low-pass (edges about 1 px wide).

    Returns
    -------
    numpy.ndarray
        float64 (H, W), zero mean, peak absolute value 1.
    """
    h, w = shape
    n_marks = n_marks if n_marks is not None else max(6, h * w // 120)
    ys, xs = np.mgrid[0:h, 0:w]
    ink = np.zeros(shape)
    for _ in range(n_marks):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        dy = (ys - cy + h / 2) % h - h / 2
        dx = (xs - cx + w / 2) % w - w / 2
        kind = rng.integers(3)
        if kind == 0:  # horizontal stroke
            half_len, half_wid = rng.uniform(3, 10), rng.uniform(0.75, 2.0)
            mark = (np.abs(dx) < half_len) & (np.abs(dy) < half_wid)
        elif kind == 1:  # vertical stroke
            half_len, half_wid = rng.uniform(3, 10), rng.uniform(0.75, 2.0)
            mark = (np.abs(dy) < half_len) & (np.abs(dx) < half_wid)
        else:  # dot
            mark = dx ** 2 + dy ** 2 < rng.uniform(1.5, 4.0) ** 2
        ink = np.maximum(ink, mark.astype(np.float64))
    return _to_range(_lowpass(-ink), 0.0, 1.0)


def image_texture(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """An image file as a texture: grey, resized to ``shape``, tapered to be periodic, low-passed.

    The border (1/8 of each side) is blended to the image mean with a cosine taper, so that the
    periodic Fourier shift does not wrap a seam through the object.

    Returns
    -------
    numpy.ndarray
        float64 (H, W), zero mean, peak absolute value 1.
    """
    import cv2

    path = Path(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if image is None:
        raise VmicError(f"cannot read image {path}")
    image = image.astype(np.float64)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=2)
    h, w = shape
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    taper = np.outer(_tukey(h), _tukey(w))
    image = image.mean() + (image - image.mean()) * taper
    return _to_range(_lowpass(image), 0.0, 1.0)


def _tukey(n: int, fraction: float = 0.25) -> np.ndarray:
    from scipy.signal.windows import tukey

    return tukey(n, fraction)


def make_texture(kind: str, shape: tuple[int, int], rng: np.random.Generator, *,
                 image: str | os.PathLike | None = None) -> np.ndarray:
    """Dispatch to a texture of ``kind`` (:data:`TEXTURE_KINDS`); float64 (H, W), peak 1."""
    if kind == "noise":
        return noise_texture(shape, rng)
    if kind == "print":
        return print_texture(shape, rng)
    if kind == "image":
        if image is None:
            raise VmicError("texture 'image' needs an image file (--image PATH)")
        return image_texture(image, shape)
    raise VmicError(f"unknown texture {kind!r}; choose from {', '.join(TEXTURE_KINDS)}")


def object_window(shape: tuple[int, int], *, kind: str = "disk", size: float = 0.7,
                  edge_px: float = 1.0, frame_shape: tuple[int, int] | None = None,
                  centre: tuple[float, float] | None = None,
                  ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Soft window of the moving object (1 inside, 0 on the static background), and its box.

    The window is an analytic function of position, so it can be evaluated exactly at any
    translation (``centre``), which is how drifting clips move the object's outline.

    Parameters
    ----------
    shape : (int, int)
        (H, W) in px, the grid on which the window is evaluated.
    kind : str
        ``"disk"`` (diameter ``size * min(Hf, Wf)``), ``"rect"`` (sides ``size * Hf`` and
        ``size * Wf``) or ``"full"`` (everything moves, no background), where ``(Hf, Wf)`` is
        ``frame_shape``.
    size : float
        Relative size in (0, 1].
    edge_px : float
        Width (px, Gaussian sigma) of the soft edge.
    frame_shape : (int, int), optional
        The frame that sizes the object (default ``shape``); a drift canvas is larger than it.
    centre : (float, float), optional
        Object centre ``(x, y)`` in px on the grid (default the grid's centre).

    Returns
    -------
    window : numpy.ndarray
        float64 (H, W) in [0, 1].
    box : (float, float, float, float)
        Object bounding box ``(x0, y0, x1, y1)`` in px.
    """
    h, w = shape
    if not 0 < size <= 1:
        raise VmicError(f"object size must be in (0, 1], got {size:g}")
    fh, fw = frame_shape if frame_shape is not None else shape
    cx, cy = centre if centre is not None else ((w - 1) / 2, (h - 1) / 2)
    if kind == "full":
        return np.ones(shape), (cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2)
    # open grids: the same values as full ones, computed on (H, 1) and (1, W)
    ys, xs = np.ogrid[0:h, 0:w]
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    if kind == "disk":
        radius = size * min(fh, fw) / 2
        dist = np.hypot(xs - cx, ys - cy) - radius
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
    elif kind == "rect":
        hx, hy = size * fw / 2, size * fh / 2
        dist = np.maximum(np.abs(xs - cx) - hx, np.abs(ys - cy) - hy)
        box = (cx - hx, cy - hy, cx + hx, cy + hy)
    else:
        raise VmicError(f"unknown object {kind!r}; choose from {', '.join(OBJECT_KINDS)}")
    window = 0.5 * special.erfc(dist / (np.sqrt(2) * edge_px))
    return window, box


def motion_shape(shape: tuple[int, int], kind: str, box: tuple[float, float, float, float], *,
                 mode: tuple[int, int] = (1, 1), edge_px: float = 1.0,
                 ) -> tuple[np.ndarray, tuple[float, float]]:
    """Relative displacement ``phi`` (H, W) of each pixel, and the reference point.

    The displacement of pixel ``p`` at time ``t`` is ``s(t) * phi[p]`` along the motion
    direction, where ``s(t)`` is the truth signal (px); ``phi = 1`` at the reference point.

    Parameters
    ----------
    shape : (int, int)
        (H, W) in px.
    kind : str
        ``"global"`` (``phi = 1``), ``"membrane"`` (``sin(m pi u) sin(n pi v)`` over the object
        box, ``u, v`` in [0, 1] across it, 0 outside; reference = the first antinode) or
        ``"two_regions"`` (+1 on the object's left half, -1 on its right half, a smooth
        ``tanh`` step of width ``edge_px``; reference = the left half's centre, region A).
    box : (float, float, float, float)
        Object box ``(x0, y0, x1, y1)`` (px) from :func:`object_window`.
    mode : (int, int)
        Membrane mode numbers ``(m, n)`` along x and y.
    edge_px : float
        Width of the two-region step (px).

    Returns
    -------
    phi : numpy.ndarray
        float64 (H, W).
    reference : (float, float)
        Reference point ``(x, y)`` in px.
    """
    h, w = shape
    x0, y0, x1, y1 = box
    ys, xs = np.ogrid[0:h, 0:w]
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    if kind == "global":
        return np.ones(shape), ((x0 + x1) / 2, (y0 + y1) / 2)
    if kind == "membrane":
        m, n = (int(v) for v in mode)
        if m < 1 or n < 1:
            raise VmicError(f"membrane mode numbers must be >= 1, got {mode}")
        u = np.clip((xs - x0) / (x1 - x0), 0, 1)
        v = np.clip((ys - y0) / (y1 - y0), 0, 1)
        phi = np.sin(m * np.pi * u) * np.sin(n * np.pi * v)
        ref = (x0 + (x1 - x0) / (2 * m), y0 + (y1 - y0) / (2 * n))
        return phi, ref
    if kind == "two_regions":
        xc = (x0 + x1) / 2
        phi = np.repeat(np.tanh((xc - xs) / edge_px), h, axis=0)
        return phi, ((x0 + xc) / 2, (y0 + y1) / 2)
    raise VmicError(f"unknown motion shape {kind!r}; choose from {', '.join(MOTION_SHAPES)}")
