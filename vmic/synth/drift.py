"""Slow camera drift and region translation: the tracks, the canvas, and their rendering.

A drift is a translation ``g(t)`` (px, ``(dx, dy)``) of the whole scene, evaluated at each frame
time: frame ``t`` shows the undrifted scene at ``x - g(t)``. It is not part of the truth.

Tracks (:func:`camera_track`)
-----------------------------
- ``sine``: on each axis, ``sin(2 pi f t + p1) + 0.7 sin(2 pi 0.37 f t + p2)`` with random
  phases, scaled to a peak of ``drift_px`` (``f = drift_hz``);
- ``pan``: ``g(t) = v t (cos a, sin a)`` with ``v = drift_speed_px_s`` and ``a =
  drift_direction_deg``, starting at 0 (the undrifted scene) on the first frame;
- ``walk``: a "handheld" random walk: a white 2-D velocity, low-passed by a zero-phase
  Butterworth filter (order 4, forward and backward) at ``drift_cutoff_hz`` (<= 20 Hz, below the
  audio band), scaled to an RMS speed ``sqrt(mean(|v|^2)) = drift_speed_px_s`` and integrated
  from 0.

For ``two_regions``, :func:`region_tracks` adds each region's own slow translation on top of the
camera's (sum-of-two-sines of peak ``region_drift_px`` at ``region_drift_hz``, with region B the
opposite of region A or independent of it).

Rendering (:func:`render_canvas`)
---------------------------------
The scene (textures, object window, motion shape) is made on a canvas ``(Hc, Wc)`` larger than
the frame by a margin of at least the largest translation plus :data:`PAD_PX` on each side, so
that the frame never sees the canvas's period and a pan can take the object out of view. Each
layer is translated on its own, then composed and cropped to the frame: the band-limited
textures by an exact Fourier phase ramp on the canvas; the window and the motion shape,
analytic functions of position, by evaluating them at the translated position. Translating the
composed frame instead (one Fourier ramp) is available as ``translate="composed"``: the soft
1 px window edge is not band-limited, so that is not exact (:func:`composed_error` measures
it). The sound-driven motion is rendered as for still clips (Fourier shift or Taylor series,
exposure and rolling shutter), so its 2 px limit does not bound the drift; the drift is taken at
the frame time for every exposure sub-sample and every row.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from vmic.errors import VmicError
from vmic.synth import engine
from vmic.synth import scene as scene_mod
from vmic.synth.config import SynthConfig

__all__ = ["PAD_PX", "TRACK_DECIMALS", "two_sines", "walk", "camera_track", "region_tracks",
           "layer_offsets", "required_margin", "canvas_layout", "render_canvas",
           "composed_error", "track_summary"]

PAD_PX = 4
"""Extra canvas margin (px) beyond the largest translation (covers the sound's <= 2 px)."""

TRACK_DECIMALS = 4
"""Tracks are written to the sidecar rounded to 1e-4 px."""


# ----------------------------------------------------------------------------- tracks

def two_sines(n: int, fps: float, peak_px: float, hz: float,
              rng: np.random.Generator) -> np.ndarray:
    """Sum of two sines per axis at ``hz`` and ``0.37 hz``, random phases, peak ``peak_px``.

    Returns
    -------
    numpy.ndarray
        float64 (n, 2) px, ``(dx, dy)``; zeros when ``peak_px`` is 0 (no randomness drawn).
    """
    out = np.zeros((n, 2))
    if peak_px == 0:
        return out
    t = np.arange(n) / fps
    for axis in range(2):
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        x = np.sin(2 * np.pi * hz * t + p1) + 0.7 * np.sin(2 * np.pi * 0.37 * hz * t + p2)
        out[:, axis] = peak_px * x / np.max(np.abs(x))
    return out


def walk(n: int, fps: float, rms_speed_px_s: float, cutoff_hz: float,
         rng: np.random.Generator) -> np.ndarray:
    """Random walk: low-passed white velocity (zero phase) of RMS speed ``rms_speed_px_s``.

    Returns
    -------
    numpy.ndarray
        float64 (n, 2) px, starting at (0, 0); ``diff(track) * fps`` has an RMS speed of exactly
        ``rms_speed_px_s`` and almost no power above ``cutoff_hz``.
    """
    out = np.zeros((n, 2))
    if rms_speed_px_s == 0:
        return out
    sos = signal.butter(4, cutoff_hz, fs=fps, output="sos")
    velocity = signal.sosfiltfilt(sos, rng.standard_normal((n - 1, 2)), axis=0)
    velocity *= rms_speed_px_s / math.sqrt(np.mean(np.sum(velocity ** 2, axis=1)))
    out[1:] = np.cumsum(velocity, axis=0) / fps
    return out


def camera_track(cfg: SynthConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """The camera drift ``g(t)`` of ``cfg`` at each frame time: float64 (n, 2) px, (dx, dy).

    Zeros when ``cfg`` has no drift. See the module's docstring for the kinds.
    """
    if cfg.drift_kind == "sine":
        return two_sines(n, cfg.fps, cfg.drift_px, cfg.drift_hz, rng)
    if cfg.drift_kind == "pan":
        angle = math.radians(cfg.drift_direction_deg)
        t = np.arange(n) / cfg.fps
        return cfg.drift_speed_px_s * t[:, None] * np.array([[math.cos(angle), math.sin(angle)]])
    if cfg.drift_kind == "walk":
        return walk(n, cfg.fps, cfg.drift_speed_px_s, cfg.drift_cutoff_hz, rng)
    raise VmicError(f"unknown drift kind {cfg.drift_kind!r} (--drift-kind)")


def region_tracks(cfg: SynthConfig, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """Each region's own translation on top of the camera drift, or None.

    Returns
    -------
    numpy.ndarray or None
        float64 (2, n, 2) px: region A (the object's left half, the truth's reference) then
        region B (right half); None unless ``two_regions`` with ``region_drift_px > 0``.
    """
    if cfg.motion != "two_regions" or cfg.region_drift_px == 0:
        return None
    a = two_sines(n, cfg.fps, cfg.region_drift_px, cfg.region_drift_hz, rng)
    if cfg.region_drift_mode == "opposite":
        b = -a
    else:
        b = two_sines(n, cfg.fps, cfg.region_drift_px, cfg.region_drift_hz, rng)
    return np.stack([a, b])


def layer_offsets(drift: np.ndarray | None, regions: np.ndarray | None, n: int) -> np.ndarray:
    """Translation of each object layer per frame: float64 (L, n, 2) px (L = 1, or 2 regions).

    ``drift`` is the camera track float64 (n, 2) px (None: still), ``regions`` the regions'
    own translations float64 (2, n, 2) px (None: one layer).
    """
    base = np.zeros((n, 2)) if drift is None else np.asarray(drift, dtype=np.float64)
    if regions is None:
        return base[None]
    return base[None] + regions


# ----------------------------------------------------------------------------- canvas

def required_margin(drift: np.ndarray | None, regions: np.ndarray | None = None) -> tuple:
    """Smallest canvas margin ``(rows, columns)`` px for these translations (0 when none).

    ``drift`` float64 (n, 2) px and ``regions`` float64 (2, n, 2) px, as :func:`layer_offsets`.
    """
    if (drift is None or not np.any(drift)) and (regions is None or not np.any(regions)):
        return (0, 0)
    n = (drift if drift is not None else regions[0]).shape[0]
    offsets = np.concatenate([layer_offsets(drift, regions, n),
                              (np.zeros((1, n, 2)) if drift is None else drift[None])])
    reach = np.max(np.abs(offsets), axis=(0, 1))  # (x, y)
    return (int(math.ceil(reach[1])) + PAD_PX, int(math.ceil(reach[0])) + PAD_PX)


def canvas_layout(frame_shape: tuple[int, int], margin: tuple[int, int]) -> tuple:
    """Canvas shape and the frame's origin on it, for margins ``(rows, columns)`` px.

    Each side grows to a fast FFT length (5-smooth) of at least ``frame + 2 margin``; the frame
    sits at ``(floor((Hc - H) / 2), floor((Wc - W) / 2))``.

    Returns
    -------
    (canvas_shape, origin) : ((int, int), (int, int))
    """
    if margin == (0, 0):
        return tuple(frame_shape), (0, 0)
    shape = tuple(sp_fft.next_fast_len(int(size + 2 * m), real=True)
                  for size, m in zip(frame_shape, margin, strict=True))
    origin = tuple((c - f) // 2 for c, f in zip(shape, frame_shape, strict=True))
    return shape, origin


def _ramp(wy: np.ndarray, wx: np.ndarray, offset) -> np.ndarray:
    """Fourier phase ramp translating an image by ``offset = (dx, dy)`` px (separable)."""
    return np.exp(-1j * wy * offset[1]) * np.exp(-1j * wx * offset[0])


# ----------------------------------------------------------------------------- rendering

def _geometry(cfg: SynthConfig, offset) -> tuple[np.ndarray, np.ndarray]:
    """Window and motion shape on the frame grid, the object translated by ``offset`` px."""
    frame = (cfg.height, cfg.width)
    centre = ((cfg.width - 1) / 2 + offset[0], (cfg.height - 1) / 2 + offset[1])
    window, box = scene_mod.object_window(frame, kind=cfg.object, size=cfg.object_size,
                                          centre=centre)
    phi, _ = scene_mod.motion_shape(frame, cfg.motion, box, mode=cfg.mode)
    return window, phi


class _ObjectRenderer:
    """The object's texture under the sound-driven motion, translated, on the frame grid."""

    def __init__(self, cfg: SynthConfig, sc: engine.Scene, s: np.ndarray):
        self.sc = sc
        self.shape = sc.obj.shape
        wu, self.wy, self.wx = engine.spatial_frequencies(self.shape, sc.direction)
        self.wu = wu
        self.s_sub = engine.sub_frame_signals(cfg, s)
        spec = sp_fft.rfft2(sc.obj)
        self.taylor = engine.uses_taylor(cfg)
        if self.taylor:
            # phi is at most 1 in magnitude for every motion shape
            order = engine.taylor_order(float(np.max(np.abs(self.s_sub))))
            self.specs = np.stack([spec * (1j * wu) ** k for k in range(order + 1)])
            self.inv_fact = 1.0 / np.cumprod(np.concatenate([[1.0], np.arange(1, order + 1)]))
        else:
            self.specs = spec[None]

    def cropped_inverse(self, specs: np.ndarray) -> np.ndarray:
        """``irfft2`` of spectra (..., Hc, Wc//2+1) on the frame's part only: (..., H, W).

        The inverse along the rows is taken for every column, then only the frame's rows are
        inverted along the columns (the crop of the full ``irfft2``, for less work).
        """
        top, left = self.sc.origin
        h, w = self.sc.frame_shape
        rows = sp_fft.ifft(specs, axis=-2)[..., top:top + h, :]
        return sp_fft.irfft(rows, n=self.shape[1], axis=-1)[..., left:left + w]

    def phase(self, i: int) -> np.ndarray:
        """Exposure-averaged Fourier shift of frame ``i`` along the motion (Hc, Wc//2+1)."""
        return np.exp(-1j * self.s_sub[:, 0, i][:, None, None] * self.wu[None]).mean(axis=0)

    def texture(self, i: int, offset, phi: np.ndarray) -> np.ndarray:
        """Frame ``i``'s object texture translated by ``offset`` (H, W); ``phi`` on the frame."""
        ramp = _ramp(self.wy, self.wx, offset)
        if not self.taylor:
            return self.cropped_inverse(self.specs[0] * self.phase(i) * ramp)
        derivs = self.cropped_inverse(self.specs * ramp)  # (K+1, H, W)
        # sum_k E_j[(-s_j)^k] / k! phi^k D_k, the moments per row (rolling shutter) or global
        neg = -self.s_sub[:, :, i]  # (J, H or 1)
        power = np.ones_like(neg)
        phi_k = np.ones_like(phi)
        out = np.zeros(phi.shape)
        for k in range(derivs.shape[0]):
            coef = power.mean(axis=0)[:, None] * self.inv_fact[k]
            out += (coef * phi_k) * derivs[k]
            power = power * neg
            phi_k = phi_k * phi
        return out

    def canvas_texture(self, i: int) -> np.ndarray:
        """Frame ``i``'s untranslated object texture on the whole canvas (Hc, Wc)."""
        if not self.taylor:
            return sp_fft.irfft2(self.specs[0] * self.phase(i), self.shape)
        derivs = sp_fft.irfft2(self.specs, self.shape)
        terms = [self.sc.phi ** k * self.inv_fact[k] * derivs[k] for k in range(len(derivs))]
        return engine.taylor_sum(terms, self.s_sub[:, :, i])


def render_canvas(cfg: SynthConfig, sc: engine.Scene, s: np.ndarray,
                  drift: np.ndarray | None = None, regions: np.ndarray | None = None, *,
                  translate: str = "layers") -> Iterator[np.ndarray]:
    """Noiseless frames (relative intensity, float64 (H, W)) of a drifting scene.

    Parameters
    ----------
    cfg : SynthConfig
        Motion and camera parameters.
    sc : Scene
        A canvas scene (:func:`vmic.synth.engine.build_scene` with ``canvas_shape``) whose
        margin covers every translation (:func:`required_margin`).
    s : numpy.ndarray
        float64 (T,), the truth (px).
    drift : numpy.ndarray, optional
        float64 (T, 2), the camera drift ``(dx, dy)`` px per frame (default none).
    regions : numpy.ndarray, optional
        float64 (2, T, 2), regions A and B's own translations (px), ``two_regions`` only.
    translate : {"layers", "composed"}
        ``layers`` (exact): translate textures by Fourier ramps and evaluate the window and
        motion shape at the translated position; ``composed``: compose the frame on the canvas
        and translate it by one Fourier ramp (not exact at the window's edge; global or field
        motion without rolling shutter or regions only).
    """
    n = s.size
    top, left = sc.origin
    need = required_margin(drift, regions)
    have = (top, left, sc.obj.shape[0] - top - cfg.height, sc.obj.shape[1] - left - cfg.width)
    if min(have[0], have[2]) < need[0] or min(have[1], have[3]) < need[1]:
        raise VmicError(f"the canvas margin ({min(have)} px) is smaller than the drift needs "
                        f"({max(need)} px; --drift-margin)")
    drift = np.zeros((n, 2)) if drift is None else np.asarray(drift, dtype=np.float64)
    renderer = _ObjectRenderer(cfg, sc, s)
    if translate == "composed":
        if regions is not None or cfg.line_delay_s > 0:
            raise VmicError("translate='composed' supports neither regions nor a rolling shutter")
        yield from _render_composed(sc, renderer, drift)
        return
    if translate != "layers":
        raise VmicError(f"unknown translation {translate!r}; choose layers or composed")
    offsets = layer_offsets(drift, regions, n)
    # a full-frame object hides the background, unless regions part and show it
    hidden = cfg.object == "full" and regions is None
    bg_spec = None if hidden else sp_fft.rfft2(sc.background)
    for i in range(n):
        layers = []
        for offset in offsets[:, i]:
            window, phi = _geometry(cfg, offset)
            layers.append((window, phi, renderer.texture(i, offset, phi)))
        if len(layers) == 1:
            window, _, tex = layers[0]
            obj, cover = window * tex, window
        else:
            obj, cover = _blend_regions(layers)
        if bg_spec is None:
            yield obj
            continue
        background = renderer.cropped_inverse(bg_spec * _ramp(renderer.wy, renderer.wx,
                                                              drift[i]))
        yield obj + (1 - cover) * background


def _blend_regions(layers) -> tuple[np.ndarray, np.ndarray]:
    """Compose regions A and B, each translated on its own, over the background.

    Region weights ``W_A = W (1 + phi) / 2`` and ``W_B = W (1 - phi) / 2`` (``phi`` is the
    two-region ``tanh`` step, each at its own translation) partition the object when both sit at
    the same offset, which then gives the one-object frame; where they overlap (regions
    converging), their textures are averaged by weight; where they part, the background shows.

    Returns
    -------
    (object, cover) : (numpy.ndarray, numpy.ndarray)
        The object's weighted intensity and its total weight in [0, 1], float64 (H, W).
    """
    (win_a, phi_a, tex_a), (win_b, phi_b, tex_b) = layers
    w_a = win_a * (1 + phi_a) / 2
    w_b = win_b * (1 - phi_b) / 2
    total = w_a + w_b
    norm = np.maximum(total, 1.0)
    return (w_a * tex_a + w_b * tex_b) / norm, np.minimum(total, 1.0)


def _render_composed(sc: engine.Scene, renderer: _ObjectRenderer,
                     drift: np.ndarray) -> Iterator[np.ndarray]:
    """Compose each frame on the canvas, then translate it by one Fourier ramp and crop."""
    static = (1 - sc.window) * sc.background
    for i in range(drift.shape[0]):
        canvas = sc.window * renderer.canvas_texture(i) + static
        ramp = _ramp(renderer.wy, renderer.wx, drift[i])
        yield sc.crop(sp_fft.irfft2(sp_fft.rfft2(canvas) * ramp, sc.obj.shape))


def composed_error(cfg: SynthConfig, sc: engine.Scene, s: np.ndarray,
                   drift: np.ndarray) -> dict:
    """Error of translating the composed frame instead of each layer (relative intensity).

    ``s`` is the truth float64 (n,) px and ``drift`` the camera track float64 (n, 2) px.

    Returns
    -------
    dict
        ``max_abs`` and ``rms`` of ``composed - layers`` over all frames and pixels, and
        ``max_abs_dn8``, the same in 8-bit DN (255 per unit).
    """
    diffs = [a - b for a, b in zip(render_canvas(cfg, sc, s, drift, translate="composed"),
                                   render_canvas(cfg, sc, s, drift), strict=True)]
    diff = np.stack(diffs)
    max_abs = float(np.max(np.abs(diff)))
    return {"max_abs": max_abs, "rms": float(np.sqrt(np.mean(diff ** 2))),
            "max_abs_dn8": 255.0 * max_abs}


# ----------------------------------------------------------------------------- sidecar

def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), TRACK_DECIMALS) for v in values]


def track_summary(track: np.ndarray, fps: float) -> dict:
    """Sidecar entry of one track (T, 2) px: ``dx``, ``dy`` (rounded to 1e-4 px) and stats."""
    speed = np.hypot(*np.diff(track, axis=0).T) * fps if track.shape[0] > 1 else np.zeros(1)
    return {
        "max_abs_px": [float(v) for v in np.max(np.abs(track), axis=0)],
        "rms_speed_px_s": float(np.sqrt(np.mean(speed ** 2))),
        "dx": _rounded(track[:, 0]),
        "dy": _rounded(track[:, 1]),
    }
