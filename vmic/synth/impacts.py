"""Render ordinary-frame-rate clips of objects falling onto a floor, with their impact sounds.

The training and test set of the learned loudness predictor (:mod:`vmic.learn.loudness.model`):
each clip shows 2-4 objects (bright discs or boxes of radius 4-12 px on a textured
background) hanging still, released one after another, falling under gravity, bouncing once
and coming to rest on a floor. Every floor contact makes a sound; elsewhere there is only a
very quiet noise floor. Deterministic by seed: the same seed and parameters give the same
frames, audio and truth, bit for bit.

Physics (pixels, seconds)
    Falling from rest through ``h`` px, an object hits the floor at ``v = g * t``
    (``t = sqrt(2 h / g)``), rebounds at ``restitution * v``, lands again at that speed and
    then rests (a perfectly inelastic second contact).

Sound law
    An impact at time ``t0`` with speed ``v`` (px/s) of an object of radius ``r`` (px) adds

        a(t) = A * exp(-(t - t0) / decay_s) * sin(2 pi f (t - t0)),   t >= t0,
        A = amplitude_ref * (r / radius_ref) * (v / speed_ref),
        f = pitch_ref_hz * radius_ref / r           (bigger objects sound lower).

    The amplitude is proportional to size times speed, so its level in dB rises by
    20*log10 of each ratio. Onsets fall anywhere inside a frame (continuous time), so a
    late-in-frame impact spills part of its energy into the next frame's chunk.

Frames
    Frame ``i`` integrates the scene over its whole exposure ``[i/fps, (i+1)/fps)`` (a 360
    degree shutter, ``subframes`` samples), the same interval as audio chunk ``i``: the motion
    blur shows the speed, the blur's shape shows whether the floor was hit, and the object's
    area shows its size. The truth dB of frame ``i`` is :func:`vmic.loudness.frame_loudness_db`
    of chunk ``i``.

Seeds
    :func:`split_seeds` gives disjoint seed ranges for the ``train``, ``val`` and ``test``
    splits, so the three never share a clip.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vmic.loudness import chunk_bounds, frame_loudness_db

__all__ = [
    "ImpactParams",
    "ImpactClip",
    "SPLIT_SEED_BASE",
    "split_seeds",
    "sample_objects",
    "object_heights",
    "impact_events",
    "impact_audio",
    "render_frames",
    "impact_frame_indices",
    "render_impacts",
    "write_impact_clip",
]

#: First seed of each split; every split holds at most ``SPLIT_SIZE`` seeds, so none overlap.
SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}
SPLIT_SIZE = 1_000_000


@dataclass(frozen=True)
class ImpactParams:
    """Scene, sound and sampling parameters of an impacts clip (units in the names)."""

    height_px: int = 128
    width_px: int = 128
    fps: float = 30.0
    n_frames: int = 96
    audio_rate_hz: int = 8000
    floor_y_px: float = 112.0          # top of the floor (rows grow downwards)
    gravity_px_s2: float = 600.0
    restitution: float = 0.3
    n_objects: tuple[int, int] = (2, 4)          # inclusive range per clip
    radius_px: tuple[float, float] = (4.0, 12.0)
    drop_px: tuple[float, float] = (20.0, 90.0)  # fall height of the centre
    amplitude_ref: float = 0.3
    radius_ref_px: float = 8.0
    speed_ref_px_s: float = 250.0
    pitch_ref_hz: float = 1200.0
    decay_s: float = 0.008
    noise_rms: float = 1e-4
    min_gap_frames: int = 3            # impacts of different objects at least this far apart
    subframes: int = 8
    sensor_noise: float = 1.0          # grey levels (of 255), std
    floor_db: float = -100.0

    def __post_init__(self):
        if self.fps <= 0 or self.audio_rate_hz < 2 * self.fps or self.n_frames < 8:
            raise ValueError("need fps > 0, audio_rate_hz >= 2 fps and n_frames >= 8")
        if self.radius_px[0] <= 0 or self.radius_px[1] < self.radius_px[0]:
            raise ValueError("radius_px must be a (min, max) range of positive px")


@dataclass
class ImpactClip:
    """One rendered clip: frames, audio and the truth.

    Attributes
    ----------
    frames : numpy.ndarray of uint8, shape (T, H, W)
        Grey frames.
    audio : numpy.ndarray of float32, shape (N,)
        Sound at ``params.audio_rate_hz``; ``N = round(T * audio_rate / fps)``.
    db : numpy.ndarray of float64, shape (T,)
        Truth loudness of each frame's chunk, dB (:func:`vmic.loudness.frame_loudness_db`).
    impact_frames : numpy.ndarray of int64, shape (E,)
        Frame in which each impact is heard (:func:`impact_frame_indices`), sorted.
    impact_times_s, impact_speeds_px_s, impact_radii_px, impact_amplitudes :
        numpy.ndarray of float64, shape (E,) each, in the same order.
    params : ImpactParams
    seed : int
    """

    frames: np.ndarray
    audio: np.ndarray
    db: np.ndarray
    impact_frames: np.ndarray
    impact_times_s: np.ndarray
    impact_speeds_px_s: np.ndarray
    impact_radii_px: np.ndarray
    impact_amplitudes: np.ndarray
    params: ImpactParams = field(default_factory=ImpactParams)
    seed: int = 0


def split_seeds(split: str, n_clips: int, offset: int = 0) -> list[int]:
    """Seeds of ``n_clips`` clips of a split (``"train"``, ``"val"`` or ``"test"``).

    The splits' seed ranges are disjoint, so train, validation and test never share a clip.
    """
    if split not in SPLIT_SEED_BASE:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLIT_SEED_BASE)}")
    if n_clips < 0 or offset < 0 or offset + n_clips > SPLIT_SIZE:
        raise ValueError(f"a split holds at most {SPLIT_SIZE} seeds")
    base = SPLIT_SEED_BASE[split] + offset
    return list(range(base, base + n_clips))


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


def object_heights(times_s, objects: dict[str, np.ndarray], params: ImpactParams) -> np.ndarray:
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


def impact_frame_indices(times_s, n_samples: int, params: ImpactParams) -> np.ndarray:
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


def render_impacts(seed: int, params: ImpactParams | None = None) -> ImpactClip:
    """Render one impacts clip (frames, audio, truth dB) from a seed.

    Parameters
    ----------
    seed : int
        Determines everything; see :func:`split_seeds` for disjoint train/val/test seeds.
    params : ImpactParams, optional
        Scene and sampling parameters (default: 128x128 px, 96 frames at 30 fps, 8 kHz).

    Returns
    -------
    ImpactClip
    """
    params = ImpactParams() if params is None else params
    rng_objects, rng_audio, rng_frames = (np.random.default_rng(s)
                                          for s in np.random.SeedSequence(seed).spawn(3))
    objects = sample_objects(rng_objects, params)
    events = impact_events(objects, params)
    frame_len = params.audio_rate_hz / params.fps
    n_samples = int(math.floor(params.n_frames * frame_len + 0.5))
    audio = impact_audio(events, n_samples, params, rng_audio)
    db = frame_loudness_db(audio, frame_len, floor_db=params.floor_db)
    frames = render_frames(objects, params, rng_frames)
    impact_frames = impact_frame_indices(events["time_s"], n_samples, params)
    return ImpactClip(frames=frames, audio=audio, db=db, impact_frames=impact_frames,
                      impact_times_s=events["time_s"], impact_speeds_px_s=events["speed_px_s"],
                      impact_radii_px=events["radius_px"], impact_amplitudes=events["amplitude"],
                      params=params, seed=int(seed))


def write_impact_clip(clip: ImpactClip, stem: str | Path) -> dict[str, Path]:
    """Write a clip as ``STEM.npy`` (T,H,W uint8), ``STEM.wav`` and sidecar ``STEM.json``.

    The JSON holds ``fps`` (read by :func:`vmic.io.clip.open_clip`), the audio rate, the seed,
    the parameters and the truth (per-frame dB, impact frames, times, speeds, radii). Each
    file is written atomically.

    Returns
    -------
    dict
        ``{"frames": Path, "audio": Path, "meta": Path}``.
    """
    import soundfile

    from vmic.io.atomic import atomic_path

    stem = Path(stem)
    paths = {"frames": stem.with_suffix(".npy"), "audio": stem.with_suffix(".wav"),
             "meta": stem.with_suffix(".json")}
    with atomic_path(paths["frames"]) as tmp, open(tmp, "wb") as handle:
        np.save(handle, clip.frames)
    with atomic_path(paths["audio"]) as tmp:
        soundfile.write(str(tmp), clip.audio, clip.params.audio_rate_hz, subtype="FLOAT",
                        format="WAV")
    meta = {
        "fps": clip.params.fps,
        "audio_rate_hz": clip.params.audio_rate_hz,
        "seed": clip.seed,
        "params": asdict(clip.params),
        "db": [round(float(v), 4) for v in clip.db],
        "impact_frames": [int(v) for v in clip.impact_frames],
        "impact_times_s": [float(v) for v in clip.impact_times_s],
        "impact_speeds_px_s": [float(v) for v in clip.impact_speeds_px_s],
        "impact_radii_px": [float(v) for v in clip.impact_radii_px],
    }
    with atomic_path(paths["meta"]) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m vmic.synth.impacts OUT_DIR [--split test] [--clips 10] [--fps 30]``.

    Writes ``OUT_DIR/impacts_<seed>.{npy,wav,json}`` for the first clips of a split.
    """
    import argparse
    import dataclasses

    parser = argparse.ArgumentParser(prog="python -m vmic.synth.impacts",
                                     description="render an impacts set (frames, audio, truth)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--split", choices=sorted(SPLIT_SEED_BASE), default="test")
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate, 15-30 frames/s")
    parser.add_argument("--frames", type=int, default=96, help="frames per clip")
    args = parser.parse_args(argv)
    params = dataclasses.replace(ImpactParams(), fps=args.fps, n_frames=args.frames)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for seed in split_seeds(args.split, args.clips):
        write_impact_clip(render_impacts(seed, params), args.out_dir / f"impacts_{seed}")
    print(f"wrote {args.clips} {args.split} clips to {args.out_dir}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
