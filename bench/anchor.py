"""The anchor: recovery written the way public Python ports do it.

For every frame, pyrtools' ``SteerablePyramidFreq`` is rebuilt from scratch (filters and
all), and the original's reductions, mean(dphi * A**2) / sum(A) per band, are computed
with numpy. Reads a ``.npy`` stack (T, H, W). Prints the elapsed seconds as JSON on stdout
and saves the band signals (S, K, T) to ``--signals`` for a correctness check.

Usage: python bench/anchor.py STACK.npy --scales 2 --orientations 4 [--signals OUT.npy]
"""

import argparse
import json
import time
import warnings

import numpy as np
import pyrtools


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stack")
    parser.add_argument("--scales", type=int, default=2)
    parser.add_argument("--orientations", type=int, default=4)
    parser.add_argument("--signals", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    frames = np.load(args.stack, mmap_mode="r")
    warnings.simplefilter("ignore")
    build = pyrtools.pyramids.SteerablePyramidFreq

    def pyramid(frame):
        return build(np.asarray(frame, dtype=np.float64), height=args.scales,
                     order=args.orientations - 1, is_complex=True).pyr_coeffs

    reference = pyramid(frames[0])
    signals = np.zeros((args.scales, args.orientations, len(frames)))
    for t in range(len(frames)):
        coeffs = pyramid(frames[t])
        for s in range(args.scales):
            for k in range(args.orientations):
                band = coeffs[(s, k)]
                amp = np.abs(band)
                dphi = np.mod(np.pi + np.angle(band) - np.angle(reference[(s, k)]),
                              2 * np.pi) - np.pi
                signals[s, k, t] = np.mean(dphi * amp**2) / np.sum(amp)
    if args.signals:
        np.save(args.signals, signals)
    print(json.dumps({"seconds": time.perf_counter() - started, "frames": len(frames)}))


if __name__ == "__main__":
    main()
