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

The steps (objects, their heights, impacts, sound, frames) are in :mod:`vmic.synth.impact_scene`.

Seeds
    :func:`split_seeds` gives disjoint seed ranges for the ``train``, ``val`` and ``test``
    splits, so the three never share a clip.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vmic.loudness import frame_loudness_db
from vmic.synth.impact_scene import (
    impact_audio,
    impact_events,
    impact_frame_indices,
    render_frames,
    sample_objects,
)

__all__ = [
    "ImpactParams",
    "ImpactClip",
    "SPLIT_SEED_BASE",
    "split_seeds",
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
        Frame in which each impact is heard
        (:func:`vmic.synth.impact_scene.impact_frame_indices`), sorted.
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


def split_seeds(split: str, n_clips: int, *, offset: int = 0) -> list[int]:
    """Seeds of ``n_clips`` clips of a split (``"train"``, ``"val"`` or ``"test"``).

    The splits' seed ranges are disjoint, so train, validation and test never share a clip.
    """
    if split not in SPLIT_SEED_BASE:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLIT_SEED_BASE)}")
    if n_clips < 0 or offset < 0 or offset + n_clips > SPLIT_SIZE:
        raise ValueError(f"a split holds at most {SPLIT_SIZE} seeds")
    base = SPLIT_SEED_BASE[split] + offset
    return list(range(base, base + n_clips))


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


def write_impact_clip(clip: ImpactClip, stem: str | os.PathLike) -> dict[str, Path]:
    """Write a clip as ``STEM.npy`` (T,H,W uint8), ``STEM.wav`` and sidecar ``STEM.json``.

    The JSON holds ``fps`` (read by :func:`vmic.io.clip.open_clip`), the audio rate, the seed,
    the parameters and the truth (per-frame dB, impact frames, times, speeds, radii). Each
    file is written atomically.

    Returns
    -------
    dict
        ``{"frames": Path, "audio": Path, "meta": Path}``.
    """
    from vmic.io.atomic import atomic_path
    from vmic.io.audio import write_wav

    stem = Path(stem)
    paths = {"frames": stem.with_suffix(".npy"), "audio": stem.with_suffix(".wav"),
             "meta": stem.with_suffix(".json")}
    with atomic_path(paths["frames"]) as tmp, open(tmp, "wb") as handle:
        np.save(handle, clip.frames)
    write_wav(paths["audio"], clip.audio, clip.params.audio_rate_hz)
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
