"""``vmic demo``: recover a shipped synthetic sample, score it against its truth."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

from vmic.errors import VmicError


def register(subparsers) -> None:
    # The sample names are checked in run(): importing vmic.synth here would slow every
    # `vmic` command's start by its imports.
    parser = subparsers.add_parser(
        "demo",
        help="recover a shipped sample clip and score it against its truth",
        description="Recover a sample clip rendered by `vmic synth` (from the repository's "
                    "samples/ folder, or rendered into a temporary folder when it is absent), "
                    "score the recovered audio against the truth and print the scores with "
                    "the clip's Cramér-Rao bound.",
    )
    parser.add_argument("--sample", default=None,
                        help="which sample of samples/README.md (default speech_membrane)")
    parser.add_argument("--combine", default=None,
                        help="combination method of vmic recover (default: its default)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="also write recovered.wav and spectrogram PNGs into this folder")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def find_sample(name: str, scratch: Path, quiet: bool) -> Path:
    """The sample's clip: in the repository's samples/, else rendered into ``scratch``."""
    from vmic.synth import samples

    clip = samples.repo_samples_dir() / f"{name}.avi"
    if clip.is_file() and clip.with_suffix(".json").is_file():
        return clip
    if samples.needs_shared(name):
        shared = samples.repo_samples_dir().parent.parent / "shared"
        if not shared.is_dir():
            raise VmicError(f"sample {name!r} is not shipped here and needs ../shared to be "
                            "rendered; try the default sample")
    else:
        shared = Path("../shared")
    warnings.warn(f"samples/{name}.avi not found; rendering it into a temporary folder",
                  stacklevel=1)
    return samples.render_sample(name, scratch, shared, quiet=quiet)


def run(args: argparse.Namespace) -> int:
    from vmic import metrics
    from vmic.cli.score import json_safe, read_mono
    from vmic.recovery import DEFAULT_COMBINE, recover
    from vmic.synth.samples import DEMO_SAMPLE, SAMPLES

    args.sample = args.sample or DEMO_SAMPLE
    if args.sample not in SAMPLES:
        raise VmicError(f"unknown sample {args.sample!r}; choose from {', '.join(sorted(SAMPLES))}")
    combine = args.combine or DEFAULT_COMBINE
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None and not out_dir.is_dir():
        raise VmicError(f"--out folder does not exist: {out_dir}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vmic-demo-") as scratch:
        clip = find_sample(args.sample, Path(scratch), args.quiet)
        sidecar = json.loads(clip.with_suffix(".json").read_text())
        truth_path = clip.parent / sidecar["truth"]["file"]
        truth, rate = read_mono(truth_path)
        recovery = recover(clip, combine=combine, quiet=args.quiet)
    result = metrics.score(recovery.audio, truth, rate)
    crb = sidecar["crb"]
    result.update(sample=args.sample, combine=recovery.info.combine,
                  recover_s=recovery.info.elapsed_s, total_s=time.perf_counter() - started,
                  crb_snr_db=crb.get("snr_db"))
    if out_dir is not None:
        from vmic.io.audio import save_spectrogram, write_wav

        write_wav(out_dir / "recovered.wav", recovery.audio, rate)
        save_spectrogram(out_dir / "recovered.png", recovery.audio, rate,
                         f"recovered ({recovery.info.combine})")
        save_spectrogram(out_dir / "truth.png", truth, rate, "truth (displacement)")
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
        return 0
    params = sidecar["params"]
    print(f"sample {args.sample}: {sidecar['n_frames']} frames of {params['width']}x"
          f"{params['height']} px at {sidecar['fps']:g} fps, source {params['source']}, "
          f"motion {params['motion']}, peak {params['amplitude_px']:g} px")
    print(f"recovered with --combine {recovery.info.combine} ({recovery.info.method}) in "
          f"{recovery.info.elapsed_s:.1f} s")
    print(metrics.format_table(result))
    if crb.get("snr_db") is not None:
        print(f"Cramér-Rao bound: SNR <= {crb['snr_db']:.1f} dB "
              f"(per-frame std >= {crb['std_px']:.2e} px)")
    if out_dir is not None:
        print(f"wrote {out_dir / 'recovered.wav'}, recovered.png and truth.png")
    return 0
