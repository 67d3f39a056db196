"""``vmic synth OUT --truth TRUTH.wav``: render a synthetic high-speed clip with a known truth."""

from __future__ import annotations

import argparse
import shlex

from vmic.cli.common import (
    capture_rate,
    check_distinct,
    check_output,
    check_writable_folder,
    nonnegative_int,
    positive_float,
)
from vmic.errors import VmicError

SOURCES = ("tones", "chirp", "speech", "white", "pink", "wav")

# Longest clip rendered: about 75 min at 2200 fps, and 10 GB of 32 x 32 px float frames; a
# longer request is taken for a typing error rather than left to run out of memory.
MAX_FRAMES = 10_000_000

_DEFAULTS: dict = {}  # option defaults, filled by register(); command_line() omits them


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number: {text!r}")
    return values


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 96x96: {text!r}") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f"size must be at least 8x8: {text!r}")
    return w, h


def _mode(text: str) -> tuple[int, int]:
    try:
        m, n = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"mode must be M,N integers: {text!r}") from None
    if m < 1 or n < 1:
        raise argparse.ArgumentTypeError(f"mode numbers must be >= 1: {text!r}")
    return m, n


def _nonneg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="render a synthetic high-speed clip with a known truth",
        description="Render a high-speed clip of a textured object moved by a known source "
                    "signal, through a camera model. Writes the clip (FFV1 .avi/.mkv at 8 bit, "
                    ".npy at any depth, or a folder of PNG), the truth WAV (displacement in px "
                    "at the capture rate, float32, not normalised) and the sidecar OUT.json "
                    "(capture fps, every parameter, seed, Cramér-Rao bound). Same seed, same "
                    "bytes.",
    )
    p.add_argument("out", help="output clip: .avi/.mkv (FFV1), .npy, or a folder (PNG frames)")
    p.add_argument("--truth", default=None, metavar="WAV",
                   help="truth WAV (default: OUT's stem + _truth.wav)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fps", type=capture_rate, default=2200.0,
                   help="capture rate in frames/s (default 2200)")
    p.add_argument("--duration", type=positive_float, default=None, metavar="S",
                   help="seconds (default 1, or the whole WAV for --source wav)")
    p.add_argument("--size", type=_size, default=(96, 96), metavar="WxH",
                   help="frame size in px (default 96x96)")
    g = p.add_argument_group("source")
    g.add_argument("--source", choices=SOURCES, default=None,
                   help="tones (a chord), chirp, speech (speech-like), white, pink, or wav "
                        "(default tones, or wav when --wav is given)")
    g.add_argument("--tones", type=_floats, default=None, metavar="HZ,HZ,...",
                   help="tone frequencies (default 261.63,329.63,392)")
    g.add_argument("--chirp", type=_floats, default=None, metavar="F0,F1",
                   help="chirp start and end (Hz; default 100 to 0.4 fps)")
    g.add_argument("--wav", default=None, metavar="PATH",
                   help="audio file as source, resampled to the capture rate")
    g.add_argument("--wav-offset", type=_nonneg, default=0.0, metavar="S",
                   help="start in the audio file (s)")
    g.add_argument("--resonance", type=_floats, default=None, metavar="HZ,HZ,...",
                   help="the object's modes between sound and motion: each a 2nd-order "
                        "response peaking at HZ; the displacement is the sound filtered by "
                        "their sum")
    g.add_argument("--q", type=_floats, default=10.0, metavar="Q,Q,...",
                   help="quality factor of the modes: one for all, or one per mode (default 10)")
    g.add_argument("--resonance-gain", type=_floats, default=None, metavar="G,G,...",
                   help="gain of each mode in the sum (unitless, nonzero; default 1 each)")
    p.add_argument("--played", default=None, metavar="WAV",
                   help="also write the played sound (the source before the object, peak 1, "
                        "float32 at the capture rate): the input of vmic calibrate --played")
    g = p.add_argument_group("motion")
    g.add_argument("--motion", choices=("global", "membrane", "two_regions"), default="global",
                   help="global translation, a membrane mode (sin.sin), or two halves moving "
                        "with opposite signs")
    g.add_argument("--amplitude", type=_nonneg, default=0.05, metavar="PX",
                   help="peak displacement at the reference point (px; default 0.05)")
    g.add_argument("--direction", type=float, default=0.0, metavar="DEG",
                   help="motion direction, degrees from +x towards +y (default 0)")
    g.add_argument("--mode", type=_mode, default=(1, 1), metavar="M,N",
                   help="membrane mode numbers (default 1,1)")
    _add_drift_options(p)

    g = p.add_argument_group("scene")
    g.add_argument("--texture", choices=("noise", "print", "image"), default="noise",
                   help="object texture: multi-scale noise, print-like marks, or --image")
    g.add_argument("--image", default=None, metavar="PATH", help="image file for the texture")
    g.add_argument("--background", choices=("noise", "print", "image"), default="noise",
                   help="static background texture")
    g.add_argument("--object", choices=("disk", "rect", "full"), default="disk",
                   help="moving object's shape; full = the whole frame moves (default disk)")
    g.add_argument("--object-size", type=positive_float, default=0.7,
                   help="object size relative to the frame (default 0.7)")
    g.add_argument("--contrast", type=positive_float, default=0.35,
                   help="object texture peak deviation, fraction of full well (default 0.35)")
    g.add_argument("--background-contrast", type=_nonneg, default=0.15,
                   help="background texture peak deviation (default 0.15)")
    g = p.add_argument_group("camera")
    g.add_argument("--bits", type=int, choices=(0, 8, 10, 12, 16), default=8,
                   help="quantisation; 0 = float32 frames (default 8)")
    g.add_argument("--full-well", type=positive_float, default=10000.0, metavar="E",
                   help="electrons at full scale (default 10000)")
    g.add_argument("--read-noise", type=_nonneg, default=0.0, metavar="E",
                   help="read noise std in electrons (default 0)")
    g.add_argument("--shot-noise", action="store_true", help="Poisson shot noise")
    g.add_argument("--exposure", type=_nonneg, default=0.0, metavar="FRAC",
                   help="exposure integration over this fraction of the frame period (0-1)")
    g.add_argument("--line-delay", type=_nonneg, default=0.0, metavar="S",
                   help="rolling shutter: delay between consecutive rows (s; default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    _DEFAULTS.update(vars(p.parse_args(["OUT"])))



def _add_drift_options(p: argparse.ArgumentParser) -> None:
    # The drift group (vmic.synth.drift), apart: register() would pass 100 lines.
    g = p.add_argument_group(
        "drift", "slow camera motion, not part of the truth: the whole scene (object outline "
                 "and motion shape included) is translated on a larger canvas and cropped, so a "
                 "pan can leave the view; the sidecar holds the track per frame (px)")
    g.add_argument("--drift-kind", choices=("sine", "pan", "walk"), default="sine",
                   help="sine: --drift PX at --drift-hz; pan: --drift-speed in "
                        "--drift-direction; walk: handheld random walk of RMS speed "
                        "--drift-speed, low-passed at --drift-cutoff (default sine)")
    g.add_argument("--drift", type=_nonneg, default=0.0, metavar="PX",
                   help="sine drift: peak px on each axis, the sum of two sines at HZ and "
                        "0.37 HZ with random phases (default 0: no drift)")
    g.add_argument("--drift-hz", type=positive_float, default=0.5, metavar="HZ",
                   help="sine drift frequency (default 0.5)")
    g.add_argument("--drift-speed", type=_nonneg, default=0.0, metavar="PX_PER_S",
                   help="pan: speed; walk: RMS speed (px/s; default 0: no drift)")
    g.add_argument("--drift-direction", type=float, default=0.0, metavar="DEG",
                   help="pan direction, degrees from +x towards +y (default 0)")
    g.add_argument("--drift-cutoff", type=positive_float, default=10.0, metavar="HZ",
                   help="walk: zero-phase low-pass of the velocity, at most 20 Hz (default 10)")
    g.add_argument("--region-drift", type=_nonneg, default=0.0, metavar="PX",
                   help="two_regions: each region's own slow translation, peak px (sum of two "
                        "sines at --region-drift-hz), on top of the camera's (default 0)")
    g.add_argument("--region-drift-hz", type=positive_float, default=0.5, metavar="HZ",
                   help="region drift frequency (default 0.5)")
    g.add_argument("--region-drift-mode", choices=("opposite", "independent"),
                   default="opposite",
                   help="region B moves opposite to A, or on its own track (default opposite)")
    g.add_argument("--drift-margin", type=nonnegative_int, default=None, metavar="PX",
                   help="canvas margin (default: the drift's reach + 4 px); the same margin "
                        "with no drift renders the same scene still, for comparisons")

def config_from_args(args: argparse.Namespace):
    """Build a :class:`vmic.synth.SynthConfig` from parsed arguments."""
    from vmic.synth import SynthConfig

    source = args.source or ("wav" if args.wav else "tones")
    if source == "wav" and not args.wav:
        raise VmicError("--source wav needs --wav PATH")
    if args.texture == "image" or args.background == "image":
        if not args.image:
            raise VmicError("texture 'image' needs --image PATH")
    duration = args.duration
    if duration is None and source != "wav":
        duration = 1.0
    if duration is not None and duration * args.fps > MAX_FRAMES:
        raise VmicError(f"--duration {duration:g} s at --fps {args.fps:g} gives "
                        f"{duration * args.fps:.3g} frames; at most {MAX_FRAMES:,} are rendered")
    w, h = args.size
    cfg = SynthConfig(
        fps=args.fps, duration_s=duration, height=h, width=w, source=source, wav=args.wav,
        wav_offset_s=args.wav_offset, resonance_hz=_one_or_all(args.resonance),
        resonance_q=_one_or_all(args.q), resonance_gain=args.resonance_gain,
        motion=args.motion, amplitude_px=args.amplitude, direction_deg=args.direction,
        mode=args.mode, drift_kind=args.drift_kind, drift_px=args.drift,
        drift_hz=args.drift_hz, drift_speed_px_s=args.drift_speed,
        drift_direction_deg=args.drift_direction, drift_cutoff_hz=args.drift_cutoff,
        region_drift_px=args.region_drift, region_drift_hz=args.region_drift_hz,
        region_drift_mode=args.region_drift_mode, drift_margin_px=args.drift_margin,
        texture=args.texture,
        image=args.image, object=args.object, object_size=args.object_size,
        contrast=args.contrast, background_texture=args.background,
        background_contrast=args.background_contrast, bits=args.bits or None,
        full_well_e=args.full_well, read_noise_e=args.read_noise, shot_noise=args.shot_noise,
        exposure=args.exposure, line_delay_s=args.line_delay, seed=args.seed,
    )
    if args.tones:
        cfg.tones_hz = args.tones
    if args.chirp:
        if len(args.chirp) != 2:
            raise VmicError("--chirp needs F0,F1")
        cfg.chirp_hz = args.chirp
    return cfg


def _one_or_all(values):
    # One value stays a number, so a single mode's sidecar reads as it always has.
    if isinstance(values, tuple) and len(values) == 1:
        return values[0]
    return values


def command_line(out, truth, args: argparse.Namespace) -> str:
    """The ``vmic synth`` command that reproduces this clip (options that differ from defaults)."""
    parts = ["vmic", "synth", str(out)]
    if truth:
        parts += ["--truth", str(truth)]
    skip = {"out", "truth", "func", "command", "quiet"}
    for key, value in vars(args).items():
        if key in skip or value is None or value is False or value == _DEFAULTS.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif key == "size":
            parts += [flag, f"{value[0]}x{value[1]}"]
        elif isinstance(value, tuple):
            parts += [flag, ",".join(f"{v:g}" for v in value)]
        else:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(parts)


def check_synth_outputs(args: argparse.Namespace) -> None:
    """Refuse outputs that collide with each other or an input, or cannot be written."""
    from pathlib import Path

    from vmic.synth import sidecar_path

    out = Path(args.out)
    truth = args.truth or str(out.with_name(out.stem + "_truth.wav"))
    sidecar = str(sidecar_path(out))
    check_distinct({"OUT": args.out, "--truth": truth, "the sidecar": sidecar,
                    "--played": args.played})
    inputs = [args.wav, args.image]
    for what, path in (("--truth", truth), ("the sidecar", sidecar)):
        check_output(path, None, what, inputs)
    if args.played:
        check_output(args.played, (".wav",), "--played", inputs)
    if out.suffix:
        check_output(args.out, None, "OUT", inputs)
    else:  # a folder of PNG frames
        for source in inputs:
            if source is not None and Path(source).resolve().is_relative_to(out.resolve()):
                raise VmicError(f"OUT folder {out} holds the input {source}")
        check_writable_folder(out.parent if str(out.parent) else Path("."), "OUT")


def run(args: argparse.Namespace) -> int:
    from vmic.synth import render, sidecar_path

    check_synth_outputs(args)
    cfg = config_from_args(args)
    sidecar = render(args.out, args.truth, cfg, quiet=args.quiet,
                     command=command_line(args.out, args.truth, args), played_path=args.played)
    crb = sidecar["crb"]
    bound = ("noiseless (no bound)" if crb["snr_db"] is None else
             f"per-frame std >= {crb['std_px']:.2e} px, SNR <= {crb['snr_db']:.1f} dB "
             f"in {crb['band_hz'][0]:g}-{crb['band_hz'][1]:g} Hz")
    print(f"wrote {args.out} ({sidecar['n_frames']} frames of {cfg.width}x{cfg.height} at "
          f"{cfg.fps:g} fps), truth {sidecar['truth']['file']}, sidecar "
          f"{sidecar_path(args.out).name}; Cramér-Rao bound: {bound}")
    return 0
