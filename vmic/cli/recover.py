"""``vmic recover CLIP -o OUT.wav``: the classical (and learned) recovery."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

from vmic.cli.common import (
    add_clip_options,
    add_dask_option,
    check_distinct,
    check_output,
    clip_inputs,
    dask_client,
    finite_float,
    positive_float,
    positive_int,
)
from vmic.errors import VmicError
from vmic.io.atomic import atomic_path

BATCH_SIZE = 8  # frames per batch: memory is O(batch), not O(clip)
# Below this blind SNR estimate (dB) a recovery is mostly noise: of the 266 rendered clips
# with bounds under 8 dB on five full fidelity grids (seeds 0-4), 186 estimates fell under
# it, all with a true SNR under 0 dB (the highest -3.0 dB), and every clip with a true SNR
# under -10 dB was among them.
WEAK_SIGNAL_DB = -3.0


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
    parser.add_argument("--motion", choices=["auto", "off"], default=None,
                        help="large motion of the camera (drift, pans, shake): auto measures "
                             "it and, where it reaches 0.2 px, removes it before the pyramid "
                             "(the ROI stays fixed unless --track; the border the motion sweeps "
                             "is cropped); "
                             "off does neither (default: auto, off for align)")
    parser.add_argument("--track", action="store_true",
                        help="with --roi: the ROI follows the camera's large motion, cut from "
                             "the whole frames with that motion removed (no border lost)")
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
    parser.add_argument("--equalize", default=None, metavar="OBJECT.json",
                        help="equalise by the object's response (from vmic calibrate; same "
                             "capture rate), after the high-pass and before --denoise")
    parser.add_argument("--equalize-max-gain", type=_gain_db, default=20.0,
                        metavar="DB", help="largest boost of --equalize (default 20 dB)")
    parser.add_argument("--spectrogram", default=None, metavar="PNG",
                        help="also save a spectrogram picture")
    parser.add_argument("--signals", default=None, metavar="NPZ",
                        help="also save the per-band signals (S, K, T), the weights, the "
                             "large motion found (motion_px, T x 2; each tile's: "
                             "tile_motion_px, T x GY x GX x 2, tile_edges_y/x, regional_tiles), "
                             "the frames silenced because the scene left the view "
                             "(lost_frames) and the samples of dropped frames, filled "
                             "(filled_samples)")
    add_dask_option(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    inputs = [*clip_inputs(args.clip), args.model, args.equalize]
    check_output(args.output, (".wav",), "-o", inputs)
    if args.spectrogram:
        check_output(args.spectrogram, (".png", ".pdf", ".svg"), "--spectrogram", inputs)
    if args.signals:
        check_output(args.signals, (".npz",), "--signals", inputs)
    check_distinct({"-o": args.output, "--spectrogram": args.spectrogram,
                    "--signals": args.signals})

    if args.track and (args.roi is None or args.motion == "off"):
        raise VmicError("--track needs --roi (the region that follows the motion) and motion "
                        "that is followed (not --motion off)")
    if args.dask is not None and (args.method == "learned" or args.track):
        raise VmicError("--dask runs --method classical, without --track")
    from vmic.post import parse_band

    band = parse_band(args.bandpass, sr=args.fps, name="--bandpass") if args.bandpass else None
    equalize = None
    if args.equalize:
        from vmic.equalize import checked_response

        equalize = checked_response(args.equalize, args.fps or _clip_rate(args),
                                    args.equalize_max_gain)
    if args.method == "learned":
        from vmic import post
        from vmic.learn import require_torch

        require_torch()
        from vmic.learn.siamese.infer import recover_learned

        result = recover_learned(
            args.clip, model_path=args.model, fps=args.fps, roi=args.roi,
            downsample=args.downsample, start=args.start, n_frames=args.frames,
            reference_frame=args.reference_frame, quiet=args.quiet, segment=args.segment,
        )
        audio = result.audio
        if equalize is not None:
            audio = post.scale_peak(post.equalize(audio, result.sr, equalize,
                                                  max_gain_db=args.equalize_max_gain))
        result.audio = post.finish(audio, result.sr, bandpass_hz=band,
                                   denoise=args.denoise).astype(np.float32)
    else:
        from vmic.recovery import recover

        with dask_client(args.dask) as client:
            result = recover(
                args.clip, fps=args.fps, roi=args.roi, downsample=args.downsample,
                start=args.start, n_frames=args.frames, scales=args.scales,
                orientations=args.orientations, combine=args.combine,
                highpass_hz=args.highpass, reference_frame=args.reference_frame,
                reference_average=args.reference_average, bandpass_hz=band,
                denoise=args.denoise, motion=args.motion, track_roi=args.track,
                quiet=args.quiet, equalize=equalize,
                equalize_max_gain_db=args.equalize_max_gain, batch_size=BATCH_SIZE,
                segment=args.segment, client=client,
            )
    info = result.info
    _warn_if_weak(info)
    if info.motion_regional:
        moved = info.tile_motion_px - info.motion_px[:, None, None, :]
        print(f"vmic: parts of the scene moved apart by up to {np.abs(moved).max():.1f} px "
              f"({int(info.regional_tiles.sum())} of {info.regional_tiles.size} tiles): their "
              f"motion was removed tile by tile before recovery ({info.motion_margin_px} px "
              "border cropped)", file=sys.stderr)
    elif info.motion_compensated:
        print(f"vmic: the camera moved by up to {np.abs(info.motion_px).max():.1f} px: its "
              f"motion was removed before recovery ({info.motion_margin_px} px border "
              "cropped)", file=sys.stderr)
    _write_outputs(args, result)
    # The line saying what was written stays under --quiet (which silences progress only).
    n = len(result.audio)
    used = info.combine if info.method == info.combine else f"{info.combine} -> {info.method}"
    # Where the rate came from is said every time (header, phone tag, sidecar...).
    print(f"vmic: wrote {args.output}: {n} samples at {result.sr:g} Hz, the capture rate from "
          f"the {info.fps_source} ({n / result.sr:.3f} s, combine={used}, "
          f"{info.elapsed_s:.1f} s)", file=sys.stderr)
    return 0


def _gain_db(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a gain >= 0 dB: {text!r}")
    return value


def _clip_rate(args) -> float:
    # The capture rate, read before any work so that a calibration made at another rate is
    # refused at once (the recovery warns about a rate taken from the container itself).
    from vmic.io.clip import open_clip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.closing(open_clip(args.clip, fps=args.fps, segment=args.segment)) as clip:
            return clip.capture_fps


def _write_outputs(args, result) -> None:
    # Every output is written to a temporary file first and all are renamed only once all
    # are complete, so a failing picture leaves no WAV behind (nor replaces an older one).
    from vmic.io.audio import save_spectrogram, write_wav

    info = result.info
    with contextlib.ExitStack() as stack:
        wav = stack.enter_context(atomic_path(args.output))
        write_wav(wav, result.audio, result.sr)
        if args.spectrogram:
            picture = stack.enter_context(atomic_path(args.spectrogram))
            save_spectrogram(picture, result.audio, result.sr,
                             title=f"{Path(args.clip).name} ({info.method})")
        if args.signals:
            signals = stack.enter_context(atomic_path(args.signals))
            with open(signals, "wb") as handle:
                np.savez(handle, band_signals=result.band_signals, sr=result.sr,
                         weights=(np.asarray([]) if result.weights is None
                                  else result.weights),
                         combine=info.combine, method=info.method,
                         motion_px=(np.zeros((0, 2)) if info.motion_px is None
                                    else info.motion_px),
                         motion_compensated=info.motion_compensated,
                         lost_frames=(np.zeros(len(result.audio), bool)
                                      if info.lost_frames is None else info.lost_frames),
                         filled_samples=(np.zeros(len(result.audio), bool)
                                         if info.filled_samples is None
                                         else info.filled_samples),
                         **_tile_signals(info))


def _tile_signals(info) -> dict:
    # The tiles' motion in --signals: empty arrays where it was not measured.
    if info.tile_motion_px is None:
        return dict(tile_motion_px=np.zeros((0, 0, 0, 2)), tile_edges_y=np.zeros(0, int),
                    tile_edges_x=np.zeros(0, int), regional_tiles=np.zeros((0, 0), bool),
                    motion_regional=False)
    return dict(tile_motion_px=info.tile_motion_px, tile_edges_y=info.tile_edges_px[0],
                tile_edges_x=info.tile_edges_px[1], regional_tiles=info.regional_tiles,
                motion_regional=info.motion_regional)


def _warn_if_weak(info) -> None:
    # One line on stderr when the blind test or estimate says the audio is mostly noise.
    from vmic.combine import DETECTION_Z

    scores = info.detection_z
    if info.detected is False and scores:
        test = f"split test z = {max(scores.values()):.1f}, under {DETECTION_Z:g}"
        if info.fallback:
            print(f"vmic: warning: no motion signal detected ({test}): wrote --combine "
                  "align's output, as the original method gives it; --combine local keeps "
                  "the local estimate; try --roi on the vibrating object", file=sys.stderr)
        else:
            print(f"vmic: warning: no motion signal detected ({test}): the audio is likely "
                  "noise; try --roi on the vibrating object", file=sys.stderr)
        return
    estimates = info.split_snr_db
    if estimates and max(estimates.values()) < WEAK_SIGNAL_DB:
        print(f"vmic: warning: weak motion signal (blind SNR estimate "
              f"{max(estimates.values()):.1f} dB, under {WEAK_SIGNAL_DB:g} dB): the audio may "
              "be mostly noise; try --roi on the vibrating object", file=sys.stderr)
