"""Render a benchmark clip: a band-limited texture translated by a sub-pixel tone.

Usage: python bench/render_stack.py OUT.npy --frames 1100 --size 192 [--avi OUT.avi]
Writes float32 (T, H, W) frames (and, with --avi, the same frames as 8-bit lossless FFV1)
plus a sidecar JSON with the capture rate (2200 fps).
"""

import argparse
import json
from pathlib import Path

import numpy as np


def render(n_frames, size, fps=2200.0, seed=0):
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.standard_normal((size, size)))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    spectrum *= np.exp(-(fy**2 + fx**2) / (2 * 0.15**2))
    t = np.arange(n_frames) / fps
    shift = 0.05 * np.sin(2 * np.pi * 440.0 * t) + 0.02 * np.sin(2 * np.pi * 660.0 * t)
    base = np.fft.ifft2(spectrum).real
    scale = 200.0 / np.ptp(base)
    offset = 28.0 - base.min() * scale
    frames = np.empty((n_frames, size, size), dtype=np.float32)
    for i, d in enumerate(shift):
        frames[i] = np.fft.ifft2(spectrum * np.exp(-2j * np.pi * fx * d)).real * scale + offset
    return frames


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=1100)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--avi", default=None)
    args = parser.parse_args()
    frames = render(args.frames, args.size)
    np.save(args.out, frames)
    Path(args.out).with_suffix(".json").write_text(json.dumps({"fps": 2200.0}))
    if args.avi:
        import cv2

        writer = cv2.VideoWriter(args.avi, cv2.VideoWriter_fourcc(*"FFV1"), 30,
                                 (args.size, args.size), isColor=False)
        for frame in frames:
            writer.write(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        writer.release()
        Path(args.avi).with_suffix(".json").write_text(json.dumps({"fps": 2200.0}))


if __name__ == "__main__":
    main()
