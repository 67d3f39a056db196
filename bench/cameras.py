"""Reading a 12-bit Photron MRAW: vmic's streamed reader against pyMRAW's whole-file load.

Writes a 12-bit packed MRAW with its CIH (random frames) in a temporary folder, then, each in
a fresh process, reads every frame as float32 grey batches: ``vmic`` through
:func:`vmic.io.clip.open_clip` (one mapped window per batch, unpacked with pyMRAW's
``nb_read_uint12``) and ``pymraw`` through ``pyMRAW.load_video`` (the whole file unpacked into
memory), then the same float32 conversion batch by batch. Prints wall time, frames/s and
the peak resident memory of each process, and checks that both read the same frames.

Usage: python bench/cameras.py [--frames 1000] [--size 384] [--batch 32]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RUN = """
import resource, sys, time
import numpy as np
import pyMRAW
from vmic.io.clip import open_clip
path, reader, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
checksum = 0.0
if reader == "vmic":
    with open_clip(path) as clip:
        for _, frames in clip.iter_batches(batch):
            checksum += float(frames[:, 0, :].sum())
else:
    images, _ = pyMRAW.load_video(path)
    for i in range(0, len(images), batch):
        frames = images[i : i + batch].astype(np.float32)
        checksum += float(frames[:, 0, :].sum())
wall = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{wall:.3f} {peak_mb:.0f} {checksum:.1f}")
"""


def write_mraw12(folder: Path, n: int, size: int) -> Path:
    import pyMRAW

    rng = np.random.default_rng(0)
    cih = Path(pyMRAW.save_mraw(np.zeros((1, 2, 2), np.uint16), str(folder / "b.cih"),
                                bit_depth=16, info_dict={"Record Rate(fps)": 20000,
                                                         "Color Bit": 12, "Total Frame": n,
                                                         "Image Height": size,
                                                         "Image Width": size})[1])
    with open(folder / "b.mraw", "wb") as out:
        for _ in range(n):  # frame by frame: the writer holds one frame
            v = rng.integers(0, 4096, size * size).astype(np.uint16)
            a, b = v[0::2], v[1::2]
            out.write(np.stack([a >> 4, ((a & 15) << 4) | (b >> 8), b & 255], axis=1)
                      .astype(np.uint8).tobytes())
    return cih


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=384, help="frame side (px)")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cih = write_mraw12(Path(tmp), args.frames, args.size)
        mb = (Path(tmp) / "b.mraw").stat().st_size / 2**20
        print(f"# 12-bit MRAW: {args.frames} frames of {args.size}x{args.size} px ({mb:.0f} MB),"
              f" batches of {args.batch}\n")
        print("| reader | wall s | frames/s | peak memory (MB) |\n|---|---:|---:|---:|")
        sums = {}
        for reader in ("vmic", "pymraw", "vmic", "pymraw"):  # second round: warm page cache
            out = subprocess.run([sys.executable, "-c", RUN, str(cih), reader, str(args.batch)],
                                 capture_output=True, text=True, check=True).stdout.split()
            wall, peak, sums[reader] = float(out[0]), out[1], out[2]
            print(f"| {reader} | {wall:.2f} | {args.frames / wall:.0f} | {peak} |")
        print(f"\nsame frames: {sums['vmic'] == sums['pymraw']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
