"""``vmic recover CLIP -o OUT.wav``: the classical (and learned) recovery."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np

from vmic.cli.common import (
    add_clip_options,
    check_distinct,
    check_output,
    clip_inputs,
    positive_float,
    positive_int,
)
from vmic.io.atomic import atomic_path

BATCH_SIZE = 8  # frames per batch: memory is O(batch), not O(clip)
# Below this blind SNR estimate (dB) a recovery is mostly noise: of the 266 rendered clips
# with bounds under 8 dB on five full fidelity grids (seeds 0-4), 186 estimates fell under
# it, all with a true SNR under 0 dB (the highest -3.0 dB), and every clip with a true SNR
# under -10 dB was among them.
WEAK_SIGNAL_DB = -3.0
SWITCH_INTERVAL_S = 1e-4  # the interpreter's thread switch interval while recovering (s)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recover",
        help="recover sound from a video clip",
        description="Recover sound from high-speed video through the phase of a complex "
                    "steerable pyramid. The WAV's sample rate is the capture rate.",
    )
    add_clip_options(parser)
    parser.add_argument("-o", "--output", required=True, help="output WAV file")
    parser.add_argument("--method", choices=["classical", "learned"], default="classical",
                        help="classical (pyramid phase) or learned (Siamese regressor; needs "
                             "the learn extra) (default %(default)s)")
    parser.add_argument("--model", default=None,
                        help="weights for --method learned (default: the shipped model)")
    parser.add_argument("--combine", default="auto",
                        choices=["auto", "local", "bands", "align"],
                        help="combination of band signals: local (per-tile blind rank-1 "
                             "fit), auto (local where it detects a motion signal, else "
                             "align's output), bands (per-band fit), align "
                             "(vmSoundFromVideo) (default %(default)s)")
    parser.add_argument("--scales", type=positive_int, default=None,
                        help="pyramid scales (default: 1 for align, as the original; up to 3 "
                             "for local and bands, which the coarser scales' motion "
                             "information lifts by 4-5 dB)")
    parser.add_argument("--orientations", type=positive_int, default=2,
                        help="pyramid orientations (default %(default)s)")
    parser.add_argument("--reference-average", type=positive_int, default=None, metavar="N",
                        help="frames averaged into the reference image from --reference-frame "
                             "on (default: 1 for align, as the original; 32 otherwise, which "
                             "keeps the reference's camera noise out of the motion weights)")
    parser.add_argument("--highpass", type=positive_float, default=None, metavar="HZ",
                        help="zero-phase high-pass cutoff (default 20 Hz; align keeps the "
                             "original's causal filter at 0.05 of Nyquist)")
    parser.add_argument("--bandpass", default=None, metavar="LO,HI",
                        help="keep only this band (Hz), zero-phase")
    parser.add_argument("--denoise", default="none",
                        choices=["none", "spectral-subtraction", "wiener", "gate"],
                        help="denoise the recovered audio (spectral subtraction as the "
                             "original offered, Wiener, or spectral gating) (default %(default)s)")
    parser.add_argument("--spectrogram", default=None, metavar="PNG",
                        help="also save a spectrogram picture")
    parser.add_argument("--signals", default=None, metavar="NPZ",
                        help="also save the per-band signals (S, K, T) and weights")
    parser.set_defaults(func=run)


def run(args) -> int:
    # vmic.post (and vmic.recovery) import numba, 0.3-0.4 s: the classical path imports them
    # only once the clip is open and decoding (see _recover_classical).
    inputs = [*clip_inputs(args.clip), args.model]
    check_output(args.output, (".wav",), "-o", inputs)
    if args.spectrogram:
        check_output(args.spectrogram, (".png", ".pdf", ".svg"), "--spectrogram", inputs)
    if args.signals:
        check_output(args.signals, (".npz",), "--signals", inputs)
    check_distinct({"-o": args.output, "--spectrogram": args.spectrogram,
                    "--signals": args.signals})

    from vmic.post import parse_band

    band = parse_band(args.bandpass, sr=args.fps, name="--bandpass") if args.bandpass else None
    if args.method == "learned":
        from vmic import post
        from vmic.learn import require_torch

        require_torch()
        from vmic.learn.siamese.infer import recover_learned

        result = recover_learned(
            args.clip, model_path=args.model, fps=args.fps, roi=args.roi,
            downsample=args.downsample, start=args.start, n_frames=args.frames,
            reference_frame=args.reference_frame, quiet=args.quiet,
        )
        result.audio = post.finish(result.audio, result.rate, bandpass_hz=band,
                                   denoise=args.denoise).astype(np.float32)
    else:
        result = _recover_classical(args, band)
    _warn_if_weak(result.info)
    _write_outputs(args, result)
    # The line saying what was written stays under --quiet (which silences progress only).
    n = len(result.audio)
    print(f"vmic: wrote {args.output}: {n} samples at {result.rate:g} Hz "
          f"({n / result.rate:.3f} s, combine={result.combine}, "
          f"{result.elapsed_s:.1f} s)", file=sys.stderr)
    return 0


def _write_outputs(args, result) -> None:
    # Every output is written to a temporary file first and all are renamed only once all
    # are complete, so a failing picture leaves no WAV behind (nor replaces an older one).
    from vmic.io.audio import save_spectrogram, write_wav

    with contextlib.ExitStack() as stack:
        wav = stack.enter_context(atomic_path(args.output))
        write_wav(wav, result.audio, result.rate)
        if args.spectrogram:
            picture = stack.enter_context(atomic_path(args.spectrogram))
            save_spectrogram(picture, result.audio, result.rate,
                             title=f"{Path(args.clip).name} ({result.combine})")
        if args.signals:
            signals = stack.enter_context(atomic_path(args.signals))
            with open(signals, "wb") as handle:
                np.savez(handle, band_signals=result.band_signals, rate=result.rate,
                         weights=(np.asarray([]) if result.weights is None
                                  else result.weights),
                         combine=result.combine)


def _warn_if_weak(info: dict) -> None:
    # One line on stderr when the blind test or estimate says the audio is mostly noise.
    from vmic.combine import DETECTION_Z

    scores = info.get("detection_z")
    if info.get("detected") is False and scores:
        test = f"split test z = {max(scores.values()):.1f}, under {DETECTION_Z:g}"
        if info.get("fallback"):
            print(f"vmic: warning: no motion signal detected ({test}): wrote --combine "
                  "align's output, as the original method gives it; --combine local keeps "
                  "the local estimate; try --roi on the vibrating object", file=sys.stderr)
        else:
            print(f"vmic: warning: no motion signal detected ({test}): the audio is likely "
                  "noise; try --roi on the vibrating object", file=sys.stderr)
        return
    estimates = info.get("split_snr_db")
    if estimates and max(estimates.values()) < WEAK_SIGNAL_DB:
        print(f"vmic: warning: weak motion signal (blind SNR estimate "
              f"{max(estimates.values()):.1f} dB, under {WEAK_SIGNAL_DB:g} dB): the audio may "
              "be mostly noise; try --roi on the vibrating object", file=sys.stderr)


def _recover_classical(args, band):
    with _switch_interval(SWITCH_INTERVAL_S):
        return _recover_streaming(args, band)


@contextlib.contextmanager
def _switch_interval(seconds: float):
    # Where video is decoded by a thread (no forked decoder: see vmic.forked), that thread
    # needs the GIL back after every frame, and the imports below hold it in long stretches
    # of Python. With the default 5 ms switch interval it got about one frame per interval
    # next to a busy Python thread (about 200 frames/s of 192 x 192 FFV1, against 900
    # alone); at 0.1 ms, about 760 frames/s.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _recover_streaming(args, band):
    from vmic.io.clip import open_clip

    # Open the clip and start decoding before importing the pyramid and phase modules
    # (numba): the imports and numba's first use then run on one core while the other
    # decodes (in a forked child on Linux, else in a thread, OpenCV releasing the GIL).
    clip = open_clip(args.clip, fps=args.fps, roi=args.roi, downsample=args.downsample,
                     start=args.start, n_frames=args.frames)
    batches = None
    try:
        if clip.n_frames >= 2:
            batches = clip.iter_batches(BATCH_SIZE)
        from vmic.recovery import recover

        return recover(
            clip, scales=args.scales, orientations=args.orientations,
            combine=args.combine, highpass_hz=args.highpass,
            reference_frame=args.reference_frame, bandpass_hz=band, denoise=args.denoise,
            quiet=args.quiet, batch_size=BATCH_SIZE, batches=batches,
            reference_average=args.reference_average,
        )
    finally:
        if batches is not None:
            batches.close()
        clip.close()
