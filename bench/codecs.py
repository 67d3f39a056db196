"""What compression costs: recovered SNR after H.264 and HEVC, against the lossless frames.

Renders clips with ``vmic.synth`` (sources x amplitudes, 8-bit frames with shot noise),
recovers each from its frames as rendered (lossless) and after encoding them through PyAV
(libx264: CRF 0, 12, 18, 23, 28; libx265: CRF 18, 28; yuv420p in MP4, as phones write)
and decoding them with vmic's reader, and scores every recovery against the truth
(``vmic.metrics.snr_db``). Prints a markdown table: per encoding, the file size in bits per
pixel, the SNR on each clip and the median loss against the lossless recovery.

CRF 0 is lossless in YUV, but grey frames go through YUV 4:2:0 and back to 8-bit colour, which
rounds: its loss is that of the conversion.

    python bench/codecs.py                       # 128x128 px, 1 s at 2200 fps, 6 clips
    python bench/codecs.py --size 64 --duration 0.25 --sources tones --amplitudes 0.05
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vmic import metrics
from vmic.io.clip import open_clip
from vmic.recovery import recover
from vmic.synth import SynthConfig, synthesize

ENCODINGS = [("lossless", None, None)] + [
    (f"H.264 CRF {crf}", "libx264", crf) for crf in (0, 12, 18, 23, 28)
] + [(f"HEVC CRF {crf}", "libx265", crf) for crf in (18, 28)]
NOISE = dict(bits=8, full_well_e=10000.0, read_noise_e=5.0, shot_noise=True)


def encode(frames: np.ndarray, path: Path, codec: str, crf: int) -> int:
    """Grey frames (T, H, W) uint8 into an MP4 (yuv420p); returns the file's size in bytes."""
    options = {"crf": str(crf)}
    if codec == "libx265":
        options["x265-params"] = "log-level=none"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30, options=options)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(stream.encode(None))
    return path.stat().st_size


def run_clip(source: str, amplitude: float, *, size: int, duration_s: float, seed: int,
             folder: Path) -> dict:
    cfg = SynthConfig(duration_s=duration_s, height=size, width=size, source=source,
                      motion="global", amplitude_px=amplitude, seed=seed, **NOISE)
    clip = synthesize(cfg)
    pixels = clip.frames.size
    row = {"source": source, "amplitude_px": amplitude, "snr_db": {}, "bpp": {},
           "bound_db": clip.sidecar["crb"]["snr_db"], "seconds": {}}
    for name, codec, crf in ENCODINGS:
        started = time.perf_counter()
        if codec is None:
            audio = recover(clip.frames, fps=cfg.fps).audio
            row["bpp"][name] = 8.0
        else:
            path = folder / f"{source}_{amplitude:g}_{codec}_{crf}.mp4"
            row["bpp"][name] = 8 * encode(clip.frames, path, codec, crf) / pixels
            with open_clip(path, fps=cfg.fps) as opened:
                audio = recover(opened).audio
        row["seconds"][name] = time.perf_counter() - started
        row["snr_db"][name] = metrics.snr_db(audio, clip.truth, cfg.fps)
        print(f"  {source} {amplitude:g} px {name}: {row['snr_db'][name]:.1f} dB, "
              f"{row['bpp'][name]:.3f} bit/px", file=sys.stderr, flush=True)
    return row


def markdown(rows: list[dict]) -> str:
    clips = [f"{r['source']} {r['amplitude_px']:g} px" for r in rows]
    head = ["encoding", "bit/px (median)", *[f"SNR {c} (dB)" for c in clips],
            "loss vs lossless (dB, median)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, _, _ in ENCODINGS:
        loss = np.median([r["snr_db"]["lossless"] - r["snr_db"][name] for r in rows])
        bpp = np.median([r["bpp"][name] for r in rows])
        lines.append("| " + " | ".join([name, f"{bpp:.3f}",
                                        *[f"{r['snr_db'][name]:.1f}" for r in rows],
                                        f"{loss:.1f}"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default="tones,speech")
    parser.add_argument("--amplitudes", default="0.02,0.05,0.1", help="motion amplitudes (px)")
    parser.add_argument("--size", type=int, default=128, help="frame side (px)")
    parser.add_argument("--duration", type=float, default=1.0, help="clip length (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="PATH", help="also save rows as JSON")
    args = parser.parse_args(argv)
    missing = [c for c in ("libx264", "libx265") if c not in av.codecs_available]
    if missing:
        print(f"codecs.py: this PyAV build lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.sources.split(","):
            for amplitude in (float(a) for a in args.amplitudes.split(",")):
                rows.append(run_clip(source, amplitude, size=args.size,
                                     duration_s=args.duration, seed=args.seed,
                                     folder=Path(tmp)))
    print(f"# Codecs: {args.size}x{args.size} px, {args.duration:g} s at 2200 fps, global "
          f"motion, 8 bit with shot noise, seed {args.seed}, default recovery, SNR in "
          f"{metrics.DEFAULT_LO_HZ:g}-990 Hz ({time.perf_counter() - started:.0f} s)\n")
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
