"""Benchmark: align vs the default classical method vs the learned model on held-out clips.

Usage::

    python bench/compare.py [--model PATH] [--quick] [--per-clip] [--duration S]

Every clip is rendered in memory by :mod:`vmic.synth` from the *test* seed range of
:func:`vmic.learn.siamese.data.draw_config` (seeds the training and validation never use; texture,
scene and source drawn from the seed), with the grid's source, amplitude, camera noise and
motion forced. When ``../shared/audio/melody_2200hz.wav`` exists, clips with that melody as
the source are added (a source no training clip uses). Each clip is scored with
:func:`vmic.metrics.score` (scoring band 20 Hz - 0.45 sr, lag and gain alignment); RMSE is that
of the aligned signals min-max scaled to [0, 1] (``rmse01``).

Prints a markdown table of means and medians per method, how often the learned method's SNR
is at least that of ``align`` and of the default, and the learned inference speed on a 1 s,
96 x 96 px, 2200 fps clip (frames/s; the machine's load average is printed beside it, since
the CPU may be shared).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MELODY = SHARED / "audio" / "melody_2200hz.wav"


def held_out_grid(quick: bool, duration_s: float):
    """Synth configs of the held-out grid (test seeds)."""
    from vmic.learn.siamese.data import draw_config

    sources = ["tones", "speech", "chirp", "pink"]
    amplitudes = [0.01, 0.05]
    noises = [10.0, 40.0]
    motions = ["global", "membrane"]
    if quick:
        sources, motions = ["tones", "speech", "pink"], ["global"]
    configs = []
    for i, (source, amp, noise, motion) in enumerate(
            itertools.product(sources, amplitudes, noises, motions)):
        cfg = replace(draw_config("test", i, duration_s=duration_s), source=source,
                      amplitude_px=amp, read_noise_e=noise, motion=motion)
        configs.append(cfg)
    if MELODY.is_file():
        for j, amp in enumerate(amplitudes):
            cfg = replace(draw_config("test", 1000 + j, duration_s=duration_s), source="wav",
                          wav=str(MELODY), wav_offset_s=2.0, amplitude_px=amp,
                          read_noise_e=20.0, motion="global")
            configs.append(cfg)
    return configs


def inference_speed(model, n_frames: int = 2200, size: int = 96, fps: float = 2200.0):
    """Frames/s of :func:`recover_learned` on a ``size`` x ``size`` clip (best of 2 runs)."""
    from vmic.learn.siamese.data import draw_config
    from vmic.learn.siamese.infer import recover_learned
    from vmic.synth import synthesize

    cfg = replace(draw_config("test", 2000, duration_s=n_frames / fps, size=size, fps=fps))
    frames = synthesize(cfg).frames
    best = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        recover_learned(frames, fps=fps, model=model)
        best = min(best, time.perf_counter() - t0)
    return n_frames / best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="learned weights (default: shipped)")
    parser.add_argument("--quick", action="store_true", help="a smaller grid (12 clips)")
    parser.add_argument("--duration", type=float, default=0.5, help="clip length (s)")
    parser.add_argument("--per-clip", action="store_true", help="also print every clip")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    args = parser.parse_args(argv)

    from vmic.compare import compare_methods
    from vmic.learn.siamese.infer import load_model
    from vmic.synth import synthesize

    model = load_model(args.model)
    configs = held_out_grid(args.quick, args.duration)
    per_clip = []
    for k, cfg in enumerate(configs):
        synth = synthesize(cfg)
        rows = compare_methods(synth.frames, synth.truth, fps=cfg.fps, model=model)
        label = (f"{cfg.source} {cfg.motion} {cfg.amplitude_px:g}px {cfg.read_noise_e:g}e- "
                 f"seed {cfg.seed}")
        per_clip.append((label, {r["method"]: r for r in rows}))
        print(f"[{k + 1}/{len(configs)}] {label}: " + ", ".join(
            f"{r['method']} {r['snr_db']:.1f} dB" for r in rows), file=sys.stderr, flush=True)

    methods = list(per_clip[0][1])
    keys = [("snr_db", "SNR (dB)"), ("segsnr_db", "segSNR (dB)"), ("pearson", "r"),
            ("rmse01", "RMSE [0,1]"), ("seconds", "time (s)")]
    print(f"\nHeld-out grid: {len(per_clip)} clips, {args.duration:g} s each, 96x96 px, "
          "2200 fps (test seeds)\n")
    print("| method | " + " | ".join(f"mean {label}" for _, label in keys)
          + " | median SNR (dB) |")
    print("|---" * (len(keys) + 2) + "|")
    for m in methods:
        vals = [np.mean([c[m][k] for _, c in per_clip]) for k, _ in keys]
        med = np.median([c[m]["snr_db"] for _, c in per_clip])
        print(f"| {m} | " + " | ".join(f"{v:.3f}" if k in ("pearson", "rmse01") else f"{v:.2f}"
                                       for v, (k, _) in zip(vals, keys, strict=True))
              + f" | {med:.2f} |")
    learned = np.array([c["learned"]["snr_db"] for _, c in per_clip])
    for other in [m for m in methods if m != "learned"]:
        base = np.array([c[other]["snr_db"] for _, c in per_clip])
        print(f"\nlearned SNR >= {other}: {np.mean(learned >= base) * 100:.0f} % of clips "
              f"(mean difference {np.mean(learned - base):+.2f} dB)")
    rmse = np.array([c["learned"]["rmse01"] for _, c in per_clip])
    print(f"learned RMSE [0,1]: mean {rmse.mean():.4f}, max {rmse.max():.4f}")
    if args.per_clip:
        print("\n| clip | " + " | ".join(f"{m} SNR" for m in methods) + " | learned RMSE |")
        print("|---" * (len(methods) + 2) + "|")
        for label, c in per_clip:
            print(f"| {label} | " + " | ".join(f"{c[m]['snr_db']:.2f}" for m in methods)
                  + f" | {c['learned']['rmse01']:.4f} |")
    if not args.no_speed:
        speed = inference_speed(model)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\nlearned inference: {speed:.0f} frames/s on a 96x96 px, 2200 fps clip "
              f"({'real-time' if speed >= 2200 else 'slower than real-time'}; "
              f"{os.cpu_count()} CPUs, load average {load:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
