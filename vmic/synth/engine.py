"""Rendering of synthetic high-speed clips with a known displacement (the ground truth).

Model
-----
A frame is ``I = W * O(x - d(x, t)) + (1 - W) * B(x)`` where ``O`` is the object's texture,
``B`` the static background, ``W`` the object's soft window and ``d(x, t) = s(t) phi(x) u`` the
object's displacement: ``s(t)`` the truth signal (px at the reference point), ``phi`` the motion
shape (:func:`vmic.synth.scene.motion_shape`) and ``u = (cos a, sin a)`` the motion direction
(``a`` in degrees from +x towards +y, i.e. clockwise on screen). A slow camera drift ``g(t)``
translates the whole scene, outline and motion shape included: ``I_g(x, t) = I(x - g(t), t)``,
rendered on a larger canvas by :mod:`vmic.synth.drift`; it is not part of the truth.

Warping is done in floating point, never by ``cv2.remap`` (which rounds positions to 1/32 px):

- global motion: exact Fourier shift of the band-limited periodic texture,
  ``O(x - d) = F^-1[F[O](f) exp(-2 pi i f.d)]``;
- motion fields (membrane, two regions, rolling shutter): Taylor series in the displacement,
  ``O(x - s phi u) = sum_k (-s phi)^k / k! (u.grad)^k O(x)``, with the directional derivatives
  computed exactly in the Fourier domain and the order chosen so that the first omitted term is
  below 1e-10 of the texture's range.

Exposure integration averages ``J`` sub-frames over a window of ``exposure`` frame periods
centred on the frame time (no delay), using band-limited (FFT) interpolation of ``s``; a rolling
shutter delays row ``r`` by ``r * line_delay_s``. Both are exact for the Taylor/Fourier forms
above (averages of ``(-s)^k`` and of the phase ramps).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vmic.synth import scene as scene_mod
from vmic.synth import sources
from vmic.synth.config import SynthConfig

# ----------------------------------------------------------------------------- signals

def truth_signal(cfg: SynthConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """The displacement ``s(t)`` (px) of the reference point at the capture rate, float64 (n,)."""
    return played_and_truth(cfg, n, rng)[1]


def played_and_truth(cfg: SynthConfig, n: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """The played sound, the displacement it causes and the response's scale.

    Returns
    -------
    played : numpy.ndarray
        float64 (n,), the source at the capture rate, peak 1 (unitless, full scale).
    truth : numpy.ndarray
        float64 (n,), the displacement ``s(t)`` (px) of the reference point.
    scale : float
        px per unit of ``played``: the true response is ``scale * sum_k g_k H_k(f)`` over the
        modes of :meth:`SynthConfig.modes` (``scale`` alone, flat, where there are none).
    """
    src = sources.make_source(cfg.source, n, cfg.fps, rng, tones_hz=cfg.tones_hz,
                              chirp_hz=cfg.chirp_hz, wav=cfg.wav, wav_offset_s=cfg.wav_offset_s)
    modes = cfg.modes()
    if not modes:
        return src, cfg.amplitude_px * src, float(cfg.amplitude_px)
    moved, scale = sources.resonate_modes(src, cfg.fps, modes)
    return src, cfg.amplitude_px * moved, float(cfg.amplitude_px * scale)


def fractional_delays(s: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Band-limited values ``s(n + delay)`` for each delay (in samples), float64 (D, T).

    ``s`` is float64 (T,) and ``delays`` (D,) in samples. Uses the FFT of the even (mirrored)
    extension of ``s``, so the ends do not wrap onto each other; a zero delay returns ``s``
    exactly.
    """
    n = s.size
    ext = np.concatenate([s, s[::-1]])
    spec = np.fft.rfft(ext)
    k = np.arange(spec.size)
    out = np.empty((len(delays), n))
    for i, delay in enumerate(delays):
        if delay == 0:
            out[i] = s
        else:
            out[i] = np.fft.irfft(spec * np.exp(2j * np.pi * k * delay / ext.size), ext.size)[:n]
    return out


# ----------------------------------------------------------------------------- scene

@dataclass
class Scene:
    """The static parts of a clip: layers (relative intensity), window, motion shape."""

    obj: np.ndarray  # float64 (Hc, Wc), object texture (periodic, band-limited)
    background: np.ndarray  # float64 (Hc, Wc)
    window: np.ndarray  # float64 (Hc, Wc) in [0, 1]
    phi: np.ndarray  # float64 (Hc, Wc), relative displacement
    reference: tuple  # (x, y) px, in the frame
    direction: tuple  # unit vector (ux, uy)
    origin: tuple = (0, 0)  # (row, column) of the frame's top-left pixel on the canvas
    frame_shape: tuple | None = None  # (H, W) px; None: the layers' shape (no canvas)

    @property
    def on_canvas(self) -> bool:
        """Whether the layers are larger than the frame (a drift canvas)."""
        return self.frame_shape is not None and tuple(self.obj.shape) != tuple(self.frame_shape)

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The frame's part ``(..., H, W)`` of canvas-sized images ``(..., Hc, Wc)`` (a view)."""
        if not self.on_canvas:
            return image
        top, left = self.origin
        return image[..., top:top + self.frame_shape[0], left:left + self.frame_shape[1]]


def build_scene(cfg: SynthConfig, rng_obj: np.random.Generator,
                rng_bg: np.random.Generator, *, canvas_shape: tuple[int, int] | None = None,
                origin: tuple[int, int] = (0, 0)) -> Scene:
    """Textures, window and motion shape of ``cfg``, on the frame or on a larger canvas.

    Parameters
    ----------
    cfg : SynthConfig
        Scene parameters; the object is sized relative to the frame ``(height, width)``.
    rng_obj, rng_bg : numpy.random.Generator
        Randomness of the object's and the background's textures.
    canvas_shape : (int, int), optional
        ``(Hc, Wc)`` px of the canvas (default the frame): the textures are made on it, periodic
        with its period.
    origin : (int, int)
        ``(row, column)`` of the frame's top-left pixel on the canvas; the object is centred on
        the frame.
    """
    frame = (cfg.height, cfg.width)
    shape = tuple(canvas_shape) if canvas_shape is not None else frame
    top, left = origin
    obj = cfg.mean_level + cfg.contrast * scene_mod.make_texture(cfg.texture, shape, rng_obj,
                                                                 image=cfg.image)
    bg = cfg.mean_level + cfg.background_contrast * scene_mod.make_texture(
        cfg.background_texture, shape, rng_bg, image=cfg.image)
    centre = (left + (cfg.width - 1) / 2, top + (cfg.height - 1) / 2)
    window, box = scene_mod.object_window(shape, kind=cfg.object, size=cfg.object_size,
                                          frame_shape=frame, centre=centre)
    phi, ref = scene_mod.motion_shape(shape, cfg.motion, box, mode=cfg.mode)
    angle = math.radians(cfg.direction_deg)
    return Scene(obj, bg, window, phi, (ref[0] - left, ref[1] - top),
                 (math.cos(angle), math.sin(angle)), (top, left), frame)


def spatial_frequencies(shape: tuple[int, int], direction: tuple[float, float],
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angular spatial frequencies (rad/px) for rfft2: along u (H, W//2+1), and wy, wx."""
    h, w = shape
    wy = 2 * np.pi * np.fft.fftfreq(h)[:, None]
    wx = 2 * np.pi * np.fft.rfftfreq(w)[None, :]
    return direction[0] * wx + direction[1] * wy, wy, wx


def directional_derivative(image: np.ndarray, direction: tuple[float, float], *,
                           order: int = 1) -> np.ndarray:
    """Exact ``(u.grad)^order`` of a periodic band-limited image (Fourier), float64 (H, W) px^-k."""
    wu, _, _ = spatial_frequencies(image.shape, direction)
    return np.fft.irfft2(np.fft.rfft2(image) * (1j * wu) ** order, image.shape)


def taylor_order(max_shift_px: float, *, tol: float = 1e-10) -> int:
    """Smallest order K with ``(pi sqrt2 A)^(K+1) / (K+1)! < tol`` for shifts up to A px."""
    x = math.pi * math.sqrt(2) * abs(max_shift_px)
    k, term = 0, x
    while term > tol and k < 200:
        k += 1
        term *= x / (k + 1)
    return k


def sub_frame_delays(cfg: SynthConfig) -> np.ndarray:
    """Exposure sub-sample offsets (frames), centred on 0: float64 (J,)."""
    if cfg.exposure == 0 or cfg.exposure_samples == 1:
        return np.zeros(1)
    j = np.arange(cfg.exposure_samples)
    return cfg.exposure * ((j + 0.5) / cfg.exposure_samples - 0.5)


def sub_frame_signals(cfg: SynthConfig, s: np.ndarray) -> np.ndarray:
    """``s`` at each exposure sub-sample (and each row under a rolling shutter).

    Returns
    -------
    numpy.ndarray
        float64 (J, H, T) with a rolling shutter (row ``r`` delayed by ``r * line_delay_s``),
        else (J, 1, T); J sub-samples of :func:`sub_frame_delays`, px.
    """
    n = s.size
    sub = sub_frame_delays(cfg)
    if cfg.line_delay_s > 0:
        row_delay = np.arange(cfg.height) * cfg.line_delay_s * cfg.fps
        delays = (sub[:, None] + row_delay[None, :]).reshape(-1)
        return fractional_delays(s, delays).reshape(sub.size, cfg.height, n)
    return fractional_delays(s, sub)[:, None, :]


def uses_taylor(cfg: SynthConfig) -> bool:
    """Whether the object is warped by the Taylor series (a motion field or a rolling shutter)."""
    return cfg.motion != "global" or cfg.line_delay_s > 0


def render_layers(cfg: SynthConfig, sc: Scene, s: np.ndarray, drift: np.ndarray | None = None,
                  regions: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Noiseless frames (relative intensity, float64 (H, W)), one per sample of ``s``.

    Parameters
    ----------
    cfg : SynthConfig
        Motion and camera parameters.
    sc : Scene
        From :func:`build_scene`.
    s : numpy.ndarray
        float64 (T,), the truth (px).
    drift : numpy.ndarray, optional
        float64 (T, 2) camera drift ``(dx, dy)`` px per frame; needs a canvas scene when not zero.
    regions : numpy.ndarray, optional
        float64 (2, T, 2), each region's own translation (px) on top of the drift
        (``two_regions``).

    Frames of a frame-sized scene without drift are rendered here; anything else is rendered on
    the canvas by :func:`vmic.synth.drift.render_canvas`.
    """
    moving = (drift is not None and np.any(drift)) or (regions is not None and np.any(regions))
    if moving or sc.on_canvas:
        from vmic.synth import drift as drift_mod

        yield from drift_mod.render_canvas(cfg, sc, s, drift, regions)
        return
    shape = sc.obj.shape
    wu, _, _ = spatial_frequencies(shape, sc.direction)
    obj_spec = np.fft.rfft2(sc.obj)
    s_sub = sub_frame_signals(cfg, s)
    win = sc.window
    static = (1 - win) * sc.background
    if uses_taylor(cfg):
        order = taylor_order(float(np.max(np.abs(s_sub))) * float(np.max(np.abs(sc.phi))))
        fact = np.cumprod(np.concatenate([[1.0], np.arange(1, order + 1)]))
        static_terms = [sc.phi ** k / fact[k] * np.fft.irfft2(obj_spec * (1j * wu) ** k, shape)
                        for k in range(order + 1)]
    for i in range(s.size):
        if uses_taylor(cfg):
            frame = taylor_sum(static_terms, s_sub[:, :, i])
        else:
            phase = np.exp(-1j * s_sub[:, 0, i][:, None, None] * wu[None]).mean(axis=0)
            frame = np.fft.irfft2(obj_spec * phase, shape)
        yield win * frame + static


def taylor_sum(terms: list[np.ndarray], s_sub: np.ndarray) -> np.ndarray:
    """``sum_k E_j[(-s_j)^k] terms[k]``: the exposure-averaged Taylor series, float64 (H, W).

    ``terms[k]`` is ``phi^k / k! (u.grad)^k O`` (H, W); ``s_sub`` (J, H or 1) the displacement
    at each sub-sample (and row), px.
    """
    neg = -s_sub
    frame = np.zeros(terms[0].shape)
    power = np.ones_like(neg)
    for term in terms:
        frame += power.mean(axis=0)[:, None] * term
        power = power * neg
    return frame


# ----------------------------------------------------------------------------- camera

def output_scale(bits: int | None) -> float:
    """Output units per unit of relative intensity: ``2^bits - 1`` (DN), or 1 for float frames."""
    return float(2 ** bits - 1) if bits else 1.0


def output_dtype(bits: int | None) -> type[np.generic]:
    """numpy dtype of the frames: uint8 (8 bit), uint16 (10-16 bit, LSB-aligned), float32."""
    if not bits:
        return np.float32
    return np.uint8 if bits == 8 else np.uint16


def expose(frame: np.ndarray, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Camera: shot noise (Poisson in e-), read noise (Gaussian, e-), quantisation to ``bits``.

    Parameters
    ----------
    frame : numpy.ndarray
        float64 (H, W), relative intensity.
    cfg : SynthConfig
        Camera settings.
    rng : numpy.random.Generator
        Noise randomness.

    Returns
    -------
    numpy.ndarray
        (H, W) in :func:`output_dtype`: DN in ``[0, 2^bits - 1]``, or float32 relative units.
    """
    electrons = frame * cfg.full_well_e
    if cfg.shot_noise:
        electrons = rng.poisson(np.maximum(electrons, 0.0)).astype(np.float64)
    if cfg.read_noise_e > 0:
        electrons = electrons + rng.normal(0.0, cfg.read_noise_e, frame.shape)
    value = electrons * (output_scale(cfg.bits) / cfg.full_well_e)
    if not cfg.bits:
        return value.astype(np.float32)
    return np.clip(np.rint(value), 0, 2 ** cfg.bits - 1).astype(output_dtype(cfg.bits))


def noise_variance(intensity: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Per-pixel noise variance in output units^2: read + shot + quantisation (LSB^2/12).

    ``intensity`` is the noiseless frame in relative intensity (1 = full well), float64 of
    any shape, as :func:`expose` takes it; the result has its shape.
    """
    k = output_scale(cfg.bits) / cfg.full_well_e
    var = np.full(intensity.shape, (cfg.read_noise_e * k) ** 2)
    if cfg.shot_noise:
        var = var + np.maximum(intensity, 0.0) * cfg.full_well_e * k ** 2
    if cfg.bits:
        var = var + 1.0 / 12.0
    return var


def cramer_rao(cfg: SynthConfig, sc: Scene, truth: np.ndarray, lo_hz: float) -> dict:
    """Cramér-Rao bound on the displacement ``s(t)`` and on the recovery SNR.

    With independent Gaussian noise of variance ``sigma_p^2`` per pixel (read + mean shot noise +
    ``LSB^2/12`` quantisation, in output units) and ``g_p = dI_p/ds = scale * W_p phi_p
    (u.grad O)_p`` (output units per px), any unbiased per-frame estimate of ``s`` has variance
    ``var_px2 >= 1 / sum_p g_p^2 / sigma_p^2``; for uniform noise this is
    ``sigma^2 / sum_p (dI/du)^2`` over the pixels that move. White across frames, its power in
    the scoring band ``[lo_hz, 0.45 fs]`` is ``var_px2 * (0.45 fs - lo_hz) / (fs / 2)``, and
    ``snr_db = 10 log10(P_band(s) / that)``, with ``P_band(s)`` the mean square of the truth
    after the same band-pass as :func:`vmic.metrics.snr_db`. For a drifting clip it is the
    bound of the undrifted frame (the scene at zero drift). ``truth`` is float64 (T,) px.

    The quantisation term is a valid noise model only when the other noise dithers it (rms
    >= 0.5 LSB, ``dithered`` true); for cleaner quantised clips the error is a deterministic
    function of the motion, not white, and the bound is indicative only (``note``).

    Returns
    -------
    dict
        ``var_px2`` and ``std_px`` (per frame; 0 when noiseless), ``snr_db`` (None when
        noiseless), ``signal_power_px2``, ``band_hz``, ``band_fraction``, ``formula``, and for
        quantised frames ``dithered`` (bool) and possibly ``note``.
    """
    from vmic import metrics

    scale = output_scale(cfg.bits)
    # On a drift canvas, the derivative is taken on the (periodic) canvas, then cropped: the
    # bound is that of the undrifted frame.
    grad = scale * sc.crop(sc.window * sc.phi * directional_derivative(sc.obj, sc.direction))
    intensity = sc.crop(sc.window * sc.obj + (1 - sc.window) * sc.background)
    var = noise_variance(intensity, cfg)
    hi = metrics.HI_FRACTION * cfg.fps
    band_fraction = (hi - lo_hz) / (cfg.fps / 2)
    power = float(np.mean(metrics.scoring_band(truth, cfg.fps, lo_hz=lo_hz) ** 2))
    out = {
        "band_hz": [lo_hz, hi],
        "band_fraction": band_fraction,
        "signal_power_px2": power,
        "formula": "var_px2 = 1 / sum_p (dI_p/ds)^2 / sigma_p^2; snr_db = 10 log10("
                   "signal_power_px2 / (var_px2 * band_fraction))",
    }
    if np.all(var == 0):
        out.update(var_px2=0.0, std_px=0.0, snr_db=None, note="noiseless: no bound")
        return out
    fisher = float(np.sum(grad ** 2 / var))
    var_px2 = 1.0 / fisher
    out.update(var_px2=var_px2, std_px=math.sqrt(var_px2),
               snr_db=10 * math.log10(power / (var_px2 * band_fraction)) if power > 0 else None,
               noise_var_mean=float(np.mean(var)))
    if cfg.bits:
        # Quantisation acts as independent, white noise of LSB^2/12 only when the other noise
        # dithers it (std >= ~0.5 LSB); otherwise its error follows the motion and the bound is
        # indicative only (recoveries can beat it).
        analog_std = float(np.sqrt(np.median(var - 1.0 / 12.0)))
        out["dithered"] = analog_std >= 0.5
        if not out["dithered"]:
            out["note"] = (f"camera noise ({analog_std:.2f} LSB rms) does not dither the "
                           "quantisation: the bound is indicative only")
    return out
