"""Rendering of synthetic high-speed clips with a known displacement (the ground truth).

Model
-----
A frame is ``I = W * O(x - d(x, t)) + (1 - W) * B(x - g(t))`` where ``O`` is the object's
texture, ``B`` the static background, ``W`` the object's soft window (static), ``g(t)`` an
optional slow camera drift (px, both layers) and ``d(x, t) = s(t) phi(x) u + g(t)`` the object's
displacement: ``s(t)`` the truth signal (px at the reference point), ``phi`` the motion shape
(:func:`vmic.synth.scene.motion_shape`) and ``u = (cos a, sin a)`` the motion direction
(``a`` in degrees from +x towards +y, i.e. clockwise on screen).

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
    src = sources.make_source(cfg.source, n, cfg.fps, rng, tones_hz=cfg.tones_hz,
                              chirp_hz=cfg.chirp_hz, wav=cfg.wav, wav_offset_s=cfg.wav_offset_s)
    if cfg.resonance_hz:
        src = sources.resonate(src, cfg.fps, cfg.resonance_hz, cfg.resonance_q)
    return cfg.amplitude_px * src


def fractional_delays(s: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Band-limited values ``s(n + delay)`` for each delay (in samples), float64 (D, T).

    Uses the FFT of the even (mirrored) extension of ``s``, so the ends do not wrap onto each
    other; a zero delay returns ``s`` exactly.
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


def drift_signal(cfg: SynthConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """Slow global camera drift (px), float64 (n, 2) as (dx, dy); zeros when ``drift_px`` is 0.

    Each axis is a sum of two sines at ``drift_hz`` and ``0.37 drift_hz`` with random phases,
    scaled to a peak of ``drift_px``.
    """
    out = np.zeros((n, 2))
    if cfg.drift_px == 0:
        return out
    t = np.arange(n) / cfg.fps
    for axis in range(2):
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        x = (np.sin(2 * np.pi * cfg.drift_hz * t + p1)
             + 0.7 * np.sin(2 * np.pi * 0.37 * cfg.drift_hz * t + p2))
        out[:, axis] = cfg.drift_px * x / np.max(np.abs(x))
    return out


# ----------------------------------------------------------------------------- scene

@dataclass
class Scene:
    """The static parts of a clip: layers (relative intensity), window, motion shape."""

    obj: np.ndarray  # float64 (H, W), object texture (periodic, band-limited)
    background: np.ndarray  # float64 (H, W)
    window: np.ndarray  # float64 (H, W) in [0, 1]
    phi: np.ndarray  # float64 (H, W), relative displacement
    reference: tuple  # (x, y) px
    direction: tuple  # unit vector (ux, uy)


def build_scene(cfg: SynthConfig, rng_obj: np.random.Generator,
                rng_bg: np.random.Generator) -> Scene:
    """Textures, window and motion shape of ``cfg``."""
    shape = (cfg.height, cfg.width)
    obj = cfg.mean_level + cfg.contrast * scene_mod.make_texture(cfg.texture, shape, rng_obj,
                                                                 cfg.image)
    bg = cfg.mean_level + cfg.background_contrast * scene_mod.make_texture(
        cfg.background_texture, shape, rng_bg, cfg.image)
    window, box = scene_mod.object_window(shape, cfg.object, cfg.object_size)
    phi, ref = scene_mod.motion_shape(shape, cfg.motion, box, cfg.mode)
    angle = math.radians(cfg.direction_deg)
    return Scene(obj, bg, window, phi, ref, (math.cos(angle), math.sin(angle)))


def _omega_u(shape, direction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angular spatial frequencies (rad/px) for rfft2: along u (H, W//2+1), and wy, wx."""
    h, w = shape
    wy = 2 * np.pi * np.fft.fftfreq(h)[:, None]
    wx = 2 * np.pi * np.fft.rfftfreq(w)[None, :]
    return direction[0] * wx + direction[1] * wy, wy, wx


def directional_derivative(image: np.ndarray, direction, order: int = 1) -> np.ndarray:
    """Exact ``(u.grad)^order`` of a periodic band-limited image (Fourier), float64 (H, W) px^-k."""
    wu, _, _ = _omega_u(image.shape, direction)
    return np.fft.irfft2(np.fft.rfft2(image) * (1j * wu) ** order, image.shape)


def taylor_order(max_shift_px: float, tol: float = 1e-10) -> int:
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


def render_layers(cfg: SynthConfig, sc: Scene, s: np.ndarray,
                  drift: np.ndarray) -> Iterator[np.ndarray]:
    """Noiseless frames (relative intensity, float64 (H, W)), one per sample of ``s``."""
    shape = sc.obj.shape
    n = s.size
    wu, wy, wx = _omega_u(shape, sc.direction)
    obj_spec = np.fft.rfft2(sc.obj)
    bg_spec = np.fft.rfft2(sc.background)
    sub = sub_frame_delays(cfg)
    rolling = cfg.line_delay_s > 0
    use_taylor = cfg.motion != "global" or rolling
    has_drift = bool(np.any(drift))
    if rolling:
        row_delay = np.arange(shape[0]) * cfg.line_delay_s * cfg.fps
        delays = (sub[:, None] + row_delay[None, :]).reshape(-1)
        s_sub = fractional_delays(s, delays).reshape(sub.size, shape[0], n)  # (J, H, T)
    else:
        s_sub = fractional_delays(s, sub)[:, None, :]  # (J, 1, T)
    background = sc.background
    win = sc.window
    if use_taylor:
        order = taylor_order(float(np.max(np.abs(s_sub))) * float(np.max(np.abs(sc.phi))))
        fact = np.cumprod(np.concatenate([[1.0], np.arange(1, order + 1)]))
        deriv_specs = [obj_spec * (1j * wu) ** k for k in range(order + 1)]
        phi_pow = [sc.phi ** k / fact[k] for k in range(order + 1)]
        static_terms = None
        if not has_drift:
            static_terms = [phi_pow[k] * np.fft.irfft2(deriv_specs[k], shape)
                            for k in range(order + 1)]
    for i in range(n):
        ramp = None
        if has_drift:
            ramp = np.exp(-1j * (wx * drift[i, 0] + wy * drift[i, 1]))
            background = np.fft.irfft2(bg_spec * ramp, shape)
        if use_taylor:
            neg = -s_sub[:, :, i]  # (J, H or 1)
            frame = np.zeros(shape)
            power = np.ones_like(neg)
            for k in range(order + 1):
                moment = power.mean(axis=0)[:, None]  # (H or 1, 1)
                if static_terms is not None:
                    term = static_terms[k]
                else:
                    term = phi_pow[k] * np.fft.irfft2(deriv_specs[k] * ramp, shape)
                frame += moment * term
                power = power * neg
        else:
            phase = np.exp(-1j * s_sub[:, 0, i][:, None, None] * wu[None]).mean(axis=0)
            spec = obj_spec * phase
            if ramp is not None:
                spec = spec * ramp
            frame = np.fft.irfft2(spec, shape)
        yield win * frame + (1 - win) * background


# ----------------------------------------------------------------------------- camera

def output_scale(bits: int | None) -> float:
    """Output units per unit of relative intensity: ``2^bits - 1`` (DN), or 1 for float frames."""
    return float(2 ** bits - 1) if bits else 1.0


def output_dtype(bits: int | None):
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
    """Per-pixel noise variance in output units^2: read + shot + quantisation (LSB^2/12)."""
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
    after the same band-pass as :func:`vmic.metrics.snr_db`.

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
    grad = scale * sc.window * sc.phi * directional_derivative(sc.obj, sc.direction)
    intensity = sc.window * sc.obj + (1 - sc.window) * sc.background
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
