"""The falling objects of an impacts clip: their motion, impacts, sound and frames.

The physics, sound law and exposure model are described in :mod:`vmic.synth.impacts`, which
composes these steps into a clip (:func:`vmic.synth.impacts.render_impacts`). Every function
takes the clip's :class:`vmic.synth.impacts.ImpactParams`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vmic.loudness import chunk_bounds

if TYPE_CHECKING:  # annotations only: vmic.synth.impacts imports this module
    from vmic.synth.impacts import ImpactParams

__all__ = [
    "sample_objects",
    "object_heights",
    "impact_events",
    "impact_audio",
    "render_frames",
    "impact_frame_indices",
]


def sample_objects(rng: np.random.Generator, params: ImpactParams) -> dict[str, np.ndarray]:
    """Draw the objects of one clip.

    Returns
    -------
    dict of numpy.ndarray, each shape (n,)
        ``radius_px``, ``x_px`` (centre column), ``drop_px`` (fall height of the centre),
        ``release_s`` (release time, s), ``is_box`` (bool), ``grey`` (intensity in [0, 1]).
        Release times are drawn so that every impact lies inside the clip (not in its first
        or last two frames) and impacts of different objects are at least
        ``params.min_gap_frames`` frames apart.
    """
    n = int(rng.integers(params.n_objects[0], params.n_objects[1] + 1))
    radius = rng.uniform(*params.radius_px, size=n)
    slot = params.width_px / n
    x = (np.arange(n) + 0.5) * slot + rng.uniform(-0.2, 0.2, size=n) * slot
    drop = rng.uniform(*params.drop_px, size=n)
    is_box = rng.random(n) < 0.5
    grey = rng.uniform(0.6, 1.0, size=n)
    duration = params.n_frames / params.fps
    g, e = params.gravity_px_s2, params.restitution
    fall = np.sqrt(2.0 * drop / g)
    flight = 2.0 * e * g * fall / g          # rebound flight time
    margin = 2.0 / params.fps
    release = np.zeros(n)
    for _ in range(1000):
        latest = duration - margin - fall - flight
        release = rng.uniform(margin, np.maximum(latest, margin + 1e-3))
        hits = np.concatenate([release + fall, release + fall + flight])
        frames = np.sort(np.floor(hits * params.fps))
        owners = np.concatenate([np.arange(n), np.arange(n)])[np.argsort(
            np.floor(hits * params.fps), kind="stable")]
        gaps_ok = all(
            frames[j + 1] - frames[j] >= params.min_gap_frames or owners[j + 1] == owners[j]
            for j in range(len(frames) - 1)
        )
        if gaps_ok and np.all(hits < duration - margin):
            break
    return {"radius_px": radius, "x_px": x, "drop_px": drop, "release_s": release,
            "is_box": is_box, "grey": grey}


def object_heights(times_s: np.ndarray, objects: dict[str, np.ndarray],
                   params: ImpactParams) -> np.ndarray:
    """Centre row (px, growing downwards) of every object at the given times.

    Parameters
    ----------
    times_s : array_like, shape (M,)
        Times, s.
    objects : dict
        As returned by :func:`sample_objects`.
    params : ImpactParams

    Returns
    -------
    numpy.ndarray of float64, shape (n_objects, M)
    """
    t = np.asarray(times_s, dtype=np.float64)[None, :]
    g, e = params.gravity_px_s2, params.restitution
    rest_y = params.floor_y_px - objects["radius_px"][:, None]
    start_y = rest_y - objects["drop_px"][:, None]
    release = objects["release_s"][:, None]
    fall = np.sqrt(2.0 * objects["drop_px"][:, None] / g)
    speed = g * fall
    flight = 2.0 * e * speed / g
    tau = t - release
    falling = start_y + 0.5 * g * np.clip(tau, 0.0, None) ** 2
    tb = tau - fall
    bouncing = rest_y - (e * speed * tb - 0.5 * g * tb**2)
    y = np.where(tau < fall, falling, np.where(tb < flight, bouncing, rest_y))
    return np.where(tau <= 0, start_y, y)


def impact_events(objects: dict[str, np.ndarray], params: ImpactParams) -> dict[str, np.ndarray]:
    """Floor contacts of every object: onset time (s), speed (px/s), radius (px), amplitude.

    Two contacts per object (the fall and the rebound's landing), sorted by time. The
    amplitude follows the sound law of the module docstring.
    """
    g, e = params.gravity_px_s2, params.restitution
    fall = np.sqrt(2.0 * objects["drop_px"] / g)
    speed = g * fall
    times = np.concatenate([objects["release_s"] + fall,
                            objects["release_s"] + fall + 2.0 * e * speed / g])
    speeds = np.concatenate([speed, e * speed])
    radii = np.concatenate([objects["radius_px"], objects["radius_px"]])
    order = np.argsort(times, kind="stable")
    times, speeds, radii = times[order], speeds[order], radii[order]
    amplitude = (params.amplitude_ref * (radii / params.radius_ref_px)
                 * (speeds / params.speed_ref_px_s))
    return {"time_s": times, "speed_px_s": speeds, "radius_px": radii, "amplitude": amplitude}


def impact_audio(events: dict[str, np.ndarray], n_samples: int, params: ImpactParams,
                 rng: np.random.Generator) -> np.ndarray:
    """Sum of the impacts' decaying resonant bursts plus the noise floor.

    Returns
    -------
    numpy.ndarray of float32, shape (n_samples,)
        Audio at ``params.audio_rate_hz``, in [-1, 1] for the default parameters.
    """
    fs = float(params.audio_rate_hz)
    t = np.arange(n_samples) / fs
    audio = params.noise_rms * rng.standard_normal(n_samples)
    for t0, radius, amp in zip(events["time_s"], events["radius_px"], events["amplitude"],
                               strict=True):
        first = int(math.ceil(t0 * fs))
        last = min(n_samples, first + int(12 * params.decay_s * fs) + 1)
        tau = t[first:last] - t0
        pitch = params.pitch_ref_hz * params.radius_ref_px / radius
        audio[first:last] += amp * np.exp(-tau / params.decay_s) * np.sin(2 * np.pi * pitch * tau)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _background(rng: np.random.Generator, params: ImpactParams) -> np.ndarray:
    """Static textured background in [0, 1], shape (H, W): smooth noise, darker floor."""
    import cv2

    h, w = params.height_px, params.width_px
    noise = rng.standard_normal((h, w)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), sigmaX=3.0)
    texture = texture / (np.abs(texture).max() + 1e-6)
    background = 0.25 + 0.1 * texture
    rows = np.arange(h)[:, None]
    floor = rows >= params.floor_y_px
    background = np.where(floor, 0.12 + 0.05 * texture, background)
    return background.astype(np.float32)


def _draw(canvas: np.ndarray, cx: float, cy: float, radius: float, is_box: bool,
          grey: float, weight: float) -> None:
    """Blend one anti-aliased disc or box into ``canvas`` (in place), scaled by ``weight``."""
    h, w = canvas.shape
    r0, r1 = max(0, int(cy - radius - 2)), min(h, int(cy + radius + 3))
    c0, c1 = max(0, int(cx - radius - 2)), min(w, int(cx + radius + 3))
    if r0 >= r1 or c0 >= c1:
        return
    yy = np.arange(r0, r1)[:, None] + 0.5 - cy
    xx = np.arange(c0, c1)[None, :] + 0.5 - cx
    if is_box:
        cover = (np.clip(radius + 0.5 - np.abs(xx), 0, 1)
                 * np.clip(radius + 0.5 - np.abs(yy), 0, 1))
    else:
        cover = np.clip(radius + 0.5 - np.sqrt(xx * xx + yy * yy), 0, 1)
    cover = cover * weight
    patch = canvas[r0:r1, c0:c1]
    patch += cover * (grey - patch)


def render_frames(objects: dict[str, np.ndarray], params: ImpactParams,
                  rng: np.random.Generator) -> np.ndarray:
    """Grey frames of the scene, motion-blurred over each frame's full exposure.

    Returns
    -------
    numpy.ndarray of uint8, shape (T, H, W)
    """
    background = _background(rng, params)
    n_sub = params.subframes
    sub_times = (np.arange(params.n_frames)[:, None] + (np.arange(n_sub)[None, :] + 0.5) / n_sub)
    heights = object_heights(sub_times.ravel() / params.fps, objects, params)
    heights = heights.reshape(len(objects["radius_px"]), params.n_frames, n_sub)
    frames = np.empty((params.n_frames, params.height_px, params.width_px), dtype=np.uint8)
    for i in range(params.n_frames):
        acc = np.zeros_like(background)
        for s in range(n_sub):
            canvas = background.copy()
            for k in range(len(objects["radius_px"])):
                _draw(canvas, objects["x_px"][k], heights[k, i, s], objects["radius_px"][k],
                      bool(objects["is_box"][k]), objects["grey"][k], 1.0)
            acc += canvas
        grey = acc / n_sub * 255.0 + params.sensor_noise * rng.standard_normal(acc.shape)
        frames[i] = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return frames


def impact_frame_indices(times_s: np.ndarray, n_samples: int, params: ImpactParams) -> np.ndarray:
    """Frame in which each impact is heard: the chunk holding most of its burst's energy.

    That is the chunk holding the onset's first sample, or the next chunk when less than half
    of the burst's energy (``1 - exp(-2 d / decay_s)`` for ``d`` s of burst left in the onset
    chunk) falls before the chunk ends.

    Parameters
    ----------
    times_s : array_like, shape (E,)
        Onset times, s.
    n_samples : int
        Length of the clip's audio, samples.
    params : ImpactParams

    Returns
    -------
    numpy.ndarray of int64, shape (E,)
    """
    fs = float(params.audio_rate_hz)
    bounds = chunk_bounds(n_samples, fs / params.fps)
    first = np.ceil(np.asarray(times_s, dtype=np.float64) * fs).astype(np.int64)
    onset_chunk = np.searchsorted(bounds, first, side="right") - 1
    left_s = (bounds[np.minimum(onset_chunk + 1, bounds.size - 1)] - first) / fs
    spills = 1.0 - np.exp(-2.0 * left_s / params.decay_s) < 0.5
    last_frame = bounds.size - 2
    return np.minimum(onset_chunk + spills.astype(np.int64), last_frame).astype(np.int64)
