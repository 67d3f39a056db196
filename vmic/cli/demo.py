"""``vmic demo``: recover a shipped synthetic sample, score it against its truth.

The scores are those of :func:`vmic.metrics.score`. All of them, the log-spectral distance
and the per-frame loudness error included, are computed on one aligned pair: the same
scoring band, the same lag and the same least-squares gain and sign as the SNR. Aligning
them separately would make each metric describe a different signal; they are kept on the
SNR's alignment and labelled instead. The table's first line states that alignment, and each
label says which way is better (an LSD of 0 dB means identical spectra). The LSD and the
loudness error weigh quiet frequency bins and quiet frames as much as loud ones, so a
recovery whose noise floor stands well above a quiet truth shows a large LSD next to a good
SNR: they answer different questions, not the same one twice.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

from vmic.cli.common import check_writable_folder, json_safe
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
                        help="combination method, as in vmic recover (default: the same as there)")
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
    return render_sample(name, scratch, shared, quiet=quiet)


def render_sample(name: str, out_dir: str | Path, shared: str | Path = "../shared", *,
                  quiet: bool = True) -> Path:
    """Render sample ``name`` into ``out_dir`` as ``vmic synth`` does; returns the clip path."""
    from vmic.cli import build_parser
    from vmic.cli.synth import command_line, config_from_args
    from vmic.synth import render
    from vmic.synth.samples import sample_args

    argv = ["synth", *sample_args(name, out_dir, shared=shared)]
    if quiet:
        argv.append("--quiet")
    args = build_parser().parse_args(argv)
    render(args.out, args.truth, config_from_args(args), quiet=args.quiet,
           command=command_line(args.out, args.truth, args))
    return Path(args.out)


def _write_outputs(out_dir: Path, recovery, truth, sr: float) -> None:
    # All three files are renamed into place only once all are complete.
    import contextlib

    from vmic.io.atomic import atomic_path
    from vmic.io.audio import save_spectrogram, write_wav

    with contextlib.ExitStack() as stack:
        write_wav(stack.enter_context(atomic_path(out_dir / "recovered.wav")), recovery.audio, sr)
        save_spectrogram(stack.enter_context(atomic_path(out_dir / "recovered.png")),
                         recovery.audio, sr, title=f"recovered ({recovery.info.method})")
        save_spectrogram(stack.enter_context(atomic_path(out_dir / "truth.png")), truth, sr,
                         title="truth (displacement)")


def run(args: argparse.Namespace) -> int:
    from vmic import metrics
    from vmic.io.audio import read_wav
    from vmic.recovery import DEFAULT_COMBINE, recover
    from vmic.synth.samples import DEMO_SAMPLE, SAMPLES

    args.sample = args.sample or DEMO_SAMPLE
    if args.sample not in SAMPLES:
        raise VmicError(f"unknown sample {args.sample!r}; choose from {', '.join(sorted(SAMPLES))}")
    combine = args.combine or DEFAULT_COMBINE
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        check_writable_folder(out_dir, "--out")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vmic-demo-") as scratch:
        clip = find_sample(args.sample, Path(scratch), args.quiet)
        sidecar = json.loads(clip.with_suffix(".json").read_text())
        truth_path = clip.parent / sidecar["truth"]["file"]
        truth, rate = read_wav(truth_path, mix_channels=False)
        recovery = recover(clip, combine=combine, quiet=args.quiet)
    result = metrics.score(recovery.audio, truth, rate)
    crb = sidecar["crb"]
    result.update(sample=args.sample, combine=recovery.info.combine,
                  recover_s=recovery.info.elapsed_s, total_s=time.perf_counter() - started,
                  crb_snr_db=crb.get("snr_db"))
    if out_dir is not None:
        _write_outputs(out_dir, recovery, truth, rate)
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
