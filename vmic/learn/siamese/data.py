"""Synthetic training, validation and test clips of the learned recovery.

Clips come from :mod:`vmic.synth` (:func:`draw_config`); the train, validation and test splits
use disjoint seed ranges (:data:`SPLIT_SEEDS`), and every random choice of a clip (source
signal, texture, scene, noise) is drawn from its seed, so no two splits share a source signal
or a texture. :func:`synth_clip_maps` renders one in memory and returns its maps
(:mod:`vmic.learn.siamese.maps`) and truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vmic.errors import VmicError
from vmic.learn.siamese.maps import ClipMaps, MapSpec, clip_maps

if TYPE_CHECKING:  # annotations only: vmic.synth is imported when a clip is drawn
    from vmic.synth import SynthConfig

__all__ = ["SPLIT_SEEDS", "draw_config", "synth_clip_maps"]

SPLIT_SEEDS = {"train": 100_000, "val": 200_000, "test": 300_000}
"""First seed of each split; split ``name`` uses seeds ``SPLIT_SEEDS[name] + i``."""


def draw_config(split: str, index: int, *, duration_s: float = 0.5, size: int = 96,
                fps: float = 2200.0) -> SynthConfig:
    """A random synthetic clip configuration of a split.

    Parameters
    ----------
    split : {"train", "val", "test"}
    index : int
        Clip index within the split; the seed is ``SPLIT_SEEDS[split] + index`` and every
        choice below is drawn from it.
    duration_s : float
        Clip length (s).
    size : int
        Frame side (px).
    fps : float
        Capture rate (frames/s).

    Returns
    -------
    vmic.synth.SynthConfig
        Source (tones at random frequencies, chirp, speech-like, white or pink noise), motion
        (global 60 %, membrane mode (1,1) 25 %, two regions 15 %), amplitude 0.005-0.1 px
        (log-uniform), direction 0-180 deg, texture (noise or print), object (disk, rect or
        full frame), read noise 0-60 e- of a 10 000 e- well, shot noise on half of the clips,
        8 or 16 bit.
    """
    from vmic.synth import SynthConfig

    if split not in SPLIT_SEEDS:
        raise VmicError(f"unknown split {split!r}; choose from {', '.join(SPLIT_SEEDS)}")
    seed = SPLIT_SEEDS[split] + int(index)
    rng = np.random.default_rng(seed)
    source = str(rng.choice(["tones", "chirp", "speech", "white", "pink"]))
    n_tones = int(rng.integers(1, 4))
    tones_hz = tuple(float(f) for f in np.exp(rng.uniform(np.log(80), np.log(0.4 * fps),
                                                          n_tones)))
    chirp_hz = (float(rng.uniform(50, 300)), float(rng.uniform(0.2, 0.45) * fps))
    motion = str(rng.choice(["global", "membrane", "two_regions"], p=[0.6, 0.25, 0.15]))
    amplitude = float(np.exp(rng.uniform(np.log(0.005), np.log(0.1))))
    noise = float(rng.choice([0.0, rng.uniform(5, 60)], p=[0.25, 0.75]))
    return SynthConfig(
        fps=fps, duration_s=duration_s, height=size, width=size, source=source,
        tones_hz=tones_hz, chirp_hz=chirp_hz, motion=motion, amplitude_px=amplitude,
        direction_deg=float(rng.uniform(0, 180)),
        texture=str(rng.choice(["noise", "print"])),
        object="full" if motion == "global" and rng.random() < 0.3 else str(
            rng.choice(["disk", "rect"])),
        object_size=float(rng.uniform(0.5, 0.9)),
        contrast=float(rng.uniform(0.15, 0.4)),
        background_contrast=float(rng.uniform(0.05, 0.15)),
        bits=int(rng.choice([8, 16])), read_noise_e=noise, shot_noise=bool(rng.random() < 0.5),
        seed=seed,
    )


def synth_clip_maps(cfg: SynthConfig, spec: MapSpec) -> tuple[ClipMaps, np.ndarray]:
    """Render a synthetic clip in memory and return its maps and truth.

    Returns
    -------
    maps : ClipMaps
    truth : ndarray of float64, shape (T,)
        Displacement of the clip's reference point (px).
    """
    from vmic.io.clip import open_clip
    from vmic.synth import synthesize

    synth = synthesize(cfg)
    with open_clip(synth.frames, fps=cfg.fps) as clip:
        maps = clip_maps(clip, spec)
    return maps, synth.truth
