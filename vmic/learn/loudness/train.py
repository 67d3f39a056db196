"""Training and evaluation of the loudness CNN-LSTM (:mod:`vmic.learn.loudness.model`).

Data are clips of :mod:`vmic.synth.impacts`, rendered in memory (:func:`build_dataset`; train,
validation and test seeds from disjoint ranges). Both variants are trained
(:func:`train_end_to_end`; :func:`pretrain_cnn` then :func:`train_frozen`), each gets the
detection threshold that maximises impact F1 on the validation clips
(:func:`calibrate_threshold`), and the better one on validation is saved.

Entry point: ``python -m vmic.learn.loudness.train --out PATH [options]`` (see
``docs/loudness.md`` for the exact command that made the shipped weights).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from vmic.learn.loudness.model import (
    CNNLSTM,
    MODEL_FRAME_RATE,
    predict_clips,
    resize_frames,
    save_weights,
    space_time_images,
)
from vmic.loudness import detect_impacts, match_events
from vmic.synth.impacts import ImpactParams, render_impacts, split_seeds

__all__ = [
    "build_dataset",
    "train_end_to_end",
    "pretrain_cnn",
    "train_frozen",
    "impact_scores",
    "calibrate_threshold",
    "main",
]


# ---------------------------------------------------------------- data


def build_dataset(split: str, n_clips: int, *, size: int = 64,
                  params: ImpactParams | None = None,
                  frame_rates: Sequence[float] | None = None) -> dict:
    """Render ``n_clips`` impacts clips of a split and resize their frames for the model.

    Parameters
    ----------
    frame_rates : sequence of float, optional
        Clip ``j`` is rendered at ``frame_rates[j % len(frame_rates)]`` frames/s (default:
        the rate of ``params``).

    Returns
    -------
    dict
        ``frames``: uint8 (N, T, size, size); ``db``: float32 (N, T) truth dB;
        ``fps``: float32 (N,) frame rates; ``impact_frames``: list of N int64 arrays;
        ``seeds``: list of int.
    """
    import dataclasses

    params = ImpactParams() if params is None else params
    rates = [params.fps] if frame_rates is None else [float(r) for r in frame_rates]
    seeds = split_seeds(split, n_clips)
    frames, dbs, impacts = [], [], []
    for j, seed in enumerate(seeds):
        clip = render_impacts(seed, dataclasses.replace(params, fps=rates[j % len(rates)]))
        frames.append(resize_frames(clip.frames, size))
        dbs.append(clip.db.astype(np.float32))
        impacts.append(clip.impact_frames)
    fps = np.array([rates[j % len(rates)] for j in range(len(seeds))], dtype=np.float32)
    return {"frames": np.stack(frames), "db": np.stack(dbs), "fps": fps,
            "impact_frames": impacts, "seeds": seeds}


def _batches(data: dict, batch: int, window: int, rng: np.random.Generator):
    """Endless random (frames uint8 (B, W, S, S), dB (B, W), fps (B,)) training windows."""
    n, t = data["db"].shape
    window = min(window, t)
    while True:
        clips = rng.integers(0, n, size=batch)
        starts = rng.integers(0, t - window + 1, size=batch)
        frames = np.stack([data["frames"][c, s:s + window] for c, s in zip(clips, starts,
                                                                            strict=True)])
        db = np.stack([data["db"][c, s:s + window] for c, s in zip(clips, starts, strict=True)])
        fps = data["fps"][clips] if "fps" in data else np.full(batch, MODEL_FRAME_RATE)
        yield torch.from_numpy(frames), torch.from_numpy(db), torch.as_tensor(fps)


def _set_normalisation(model: CNNLSTM, data: dict) -> None:
    model.db_mean.fill_(float(data["db"].mean()))
    model.db_std.fill_(float(data["db"].std() + 1e-6))


def _fit(model, parameters, loss_of_batch, batches, steps: int, lr: float, log, name: str):
    optimiser = torch.optim.Adam(parameters, lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps,
                                                   pct_start=0.15)
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        frames, db, fps = next(batches)
        loss = loss_of_batch(space_time_images(frames), fps,
                             (db - model.db_mean) / model.db_std)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if log and (step % 50 == 0 or step == steps - 1):
            log(f"{name} step {step + 1}/{steps} loss {np.mean(losses[-50:]):.4f} "
                f"({time.perf_counter() - start:.0f} s)")
    return losses


def train_end_to_end(model: CNNLSTM, data: dict, *, steps: int = 300, batch: int = 8,
                     window: int = 32, lr: float = 3e-3, seed: int = 0,
                     log: Callable[[str], None] | None = None) -> list[float]:
    """Train CNN, LSTM and head together (MSE on normalised dB); returns per-step losses."""
    _set_normalisation(model, data)
    model.train()
    batches = _batches(data, batch, window, np.random.default_rng(seed))
    parameters = [p for name, p in model.named_parameters()
                  if not name.startswith("per_frame_head")]

    def loss_of_batch(x, fps, target):
        return torch.mean((model.forward_normalised(x, fps) - target) ** 2)

    return _fit(model, parameters, loss_of_batch, batches, steps, lr, log, "end2end")


def pretrain_cnn(model: CNNLSTM, data: dict, *, steps: int = 300, batch: int = 8,
                 window: int = 32, lr: float = 3e-3, seed: int = 0,
                 log: Callable[[str], None] | None = None) -> list[float]:
    """Pre-train the CNN per frame: one space-time image -> dB through a linear head."""
    _set_normalisation(model, data)
    model.train()
    batches = _batches(data, batch, window, np.random.default_rng(seed))
    parameters = list(model.cnn.parameters()) + list(model.per_frame_head.parameters())

    def loss_of_batch(x, fps, target):
        return torch.mean((model.per_frame_normalised(x, fps) - target) ** 2)

    return _fit(model, parameters, loss_of_batch, batches, steps, lr, log, "pretrain")


def train_frozen(model: CNNLSTM, data: dict, *, steps: int = 200, batch: int = 8,
                 window: int = 32, lr: float = 3e-3, seed: int = 1,
                 log: Callable[[str], None] | None = None) -> list[float]:
    """Freeze the (pre-trained) CNN, including its BatchNorm statistics; train LSTM and head."""
    for p in model.cnn.parameters():
        p.requires_grad_(False)
    model.train()
    model.cnn.eval()
    batches = _batches(data, batch, window, np.random.default_rng(seed))
    parameters = list(model.lstm.parameters()) + list(model.head.parameters())

    def loss_of_batch(x, fps, target):
        return torch.mean((model.forward_normalised(x, fps) - target) ** 2)

    try:
        return _fit(model, parameters, loss_of_batch, batches, steps, lr, log, "frozen")
    finally:
        for p in model.cnn.parameters():
            p.requires_grad_(True)


# ---------------------------------------------------------------- evaluation


def impact_scores(predicted_db: np.ndarray, truth_db: np.ndarray,
                  impact_frames: Sequence[np.ndarray], threshold_db: float,
                  *, tolerance: int = 1) -> dict[str, float]:
    """Impact-frame F1 and dB errors over clips.

    Parameters
    ----------
    predicted_db, truth_db : array_like, shape (N, T)
        dB per frame.
    impact_frames : sequence of N int arrays
        True impact frames of each clip.
    threshold_db : float
        Detection threshold for :func:`vmic.loudness.detect_impacts`, dB.
    tolerance : int
        Frames of slack for a detected impact to count.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (pooled over clips), ``mae_impact_db`` (|pred - truth|
        at true impact frames, dB), ``mae_matched_db`` (at matched detections, predicted
        frame's dB vs the true frame's dB), ``mae_all_db`` (all frames), ``n_impacts``.
    """
    hits = n_pred = n_true = 0
    errors_at_impacts, errors_matched = [], []
    for pred, truth, impacts in zip(predicted_db, truth_db, impact_frames, strict=True):
        detected = detect_impacts(pred, threshold_db)
        pairs = match_events(detected, impacts, tolerance)
        hits += len(pairs)
        n_pred += detected.size
        n_true += len(impacts)
        errors_at_impacts.extend(np.abs(np.asarray(pred)[impacts] - np.asarray(truth)[impacts]))
        errors_matched.extend(abs(pred[p] - truth[t]) for p, t in pairs)
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "mae_impact_db": float(np.mean(errors_at_impacts)) if errors_at_impacts else float("nan"),
        "mae_matched_db": float(np.mean(errors_matched)) if errors_matched else float("nan"),
        "mae_all_db": float(np.mean(np.abs(np.asarray(predicted_db) - np.asarray(truth_db)))),
        "n_impacts": n_true,
    }


def calibrate_threshold(predicted_db: np.ndarray, truth_db: np.ndarray,
                        impact_frames: Sequence[np.ndarray]) -> float:
    """Detection threshold (dB) that maximises impact F1 on (validation) clips.

    ``predicted_db`` and ``truth_db`` are dB per frame (N, T); ``impact_frames`` holds each
    clip's true impact frames (int arrays), as :func:`impact_scores`.
    """
    predicted_db = np.asarray(predicted_db)
    candidates = np.linspace(np.percentile(predicted_db, 50), predicted_db.max(), 60)
    f1 = [impact_scores(predicted_db, truth_db, impact_frames, c)["f1"] for c in candidates]
    best = np.flatnonzero(np.asarray(f1) >= max(f1) - 1e-9)
    return float(np.median(candidates[best]))


# ---------------------------------------------------------------- training entry point


def run_training(args: argparse.Namespace) -> int:
    """Train the variants that :func:`main`'s parsed ``args`` ask for and save the better one
    on validation (and, with ``--save-all``, the others); returns the exit status, 0."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    rates = [float(r) for r in args.frame_rates.split(",")]
    train = build_dataset("train", args.train_clips, size=args.size, frame_rates=rates)
    val = build_dataset("val", args.val_clips, size=args.size, frame_rates=rates)
    log(f"rendered {args.train_clips} train + {args.val_clips} val clips "
        f"({time.perf_counter() - t0:.0f} s)")
    results = {}
    variants = ["end2end", "frozen"] if args.variant == "both" else [args.variant]
    models = {}
    for variant in variants:
        torch.manual_seed(args.seed)
        model = CNNLSTM(size=args.size, width=args.width, rate_input=len(rates) > 1)
        t1 = time.perf_counter()
        if variant == "end2end":
            train_end_to_end(model, train, steps=args.steps, batch=args.batch,
                             window=args.window, lr=args.lr, seed=args.seed, log=log)
        else:
            pretrain_cnn(model, train, steps=args.steps, batch=args.batch, window=args.window,
                         lr=args.lr, seed=args.seed, log=log)
            train_frozen(model, train, steps=args.lstm_steps, batch=args.batch,
                         window=args.window, lr=args.lr, seed=args.seed + 1, log=log)
        train_s = time.perf_counter() - t1
        predicted = predict_clips(model, val["frames"], val["fps"])
        threshold = calibrate_threshold(predicted, val["db"], val["impact_frames"])
        scores = impact_scores(predicted, val["db"], val["impact_frames"], threshold)
        scores.update(threshold_db=threshold, train_s=train_s)
        results[variant] = scores
        models[variant] = model
        log(f"{variant}: val " + json.dumps({k: round(v, 3) for k, v in scores.items()}))
    best = min(results, key=lambda v: (-results[v]["f1"], results[v]["mae_impact_db"]))
    meta = {"variant": best, "frame_rates": args.frame_rates, "size": args.size,
            "threshold_db": results[best]["threshold_db"],
            "val_f1": results[best]["f1"], "val_mae_impact_db": results[best]["mae_impact_db"],
            "train_clips": args.train_clips, "steps": args.steps, "seed": args.seed,
            "train_mean_db": float(train["db"].mean()),
            "train_mean_impact_db": float(np.mean(np.concatenate(
                [db[i] for db, i in zip(train["db"], train["impact_frames"], strict=True)])))}
    save_weights(models[best], args.out, meta)
    if args.save_all:
        out = Path(args.out)
        for variant, model in models.items():
            if variant == best:
                continue  # already at OUT
            scores = results[variant]
            save_weights(model, out.with_name(f"{out.stem}.{variant}{out.suffix}"),
                         {**meta, "variant": variant, "threshold_db": scores["threshold_db"],
                          "val_f1": scores["f1"], "val_mae_impact_db": scores["mae_impact_db"]})
    if args.report:
        from vmic.io.atomic import atomic_path

        with atomic_path(args.report) as tmp:
            tmp.write_text(json.dumps({"chosen": best, "val": results}, indent=1))
    log(f"chose {best}; wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m vmic.learn.loudness.train --out PATH [options]``."""
    train = argparse.ArgumentParser(prog="python -m vmic.learn.loudness.train",
                                    description="train on rendered impacts clips, save the "
                                                "better variant on validation")
    train.add_argument("--out", required=True, help="weights file to write (.pt)")
    train.add_argument("--variant", choices=["end2end", "frozen", "both"], default="both")
    train.add_argument("--train-clips", type=int, default=300)
    train.add_argument("--val-clips", type=int, default=40)
    train.add_argument("--size", type=int, default=64, help="model input side, px")
    train.add_argument("--frame-rates", default="30,15",
                       help="frame rates of the training clips, frames/s, comma-separated "
                            "(alternating); more than one adds the rate as a model input")
    train.add_argument("--width", type=int, default=16, help="channels of the first conv")
    train.add_argument("--steps", type=int, default=1000,
                       help="steps of end-to-end training and of CNN pre-training")
    train.add_argument("--lstm-steps", type=int, default=400,
                       help="steps of LSTM training on the frozen CNN")
    train.add_argument("--batch", type=int, default=8)
    train.add_argument("--window", type=int, default=32, help="frames per training window")
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.add_argument("--report", default=None, help="also write validation scores (JSON)")
    train.add_argument("--save-all", action="store_true",
                       help="also save the variant(s) not chosen as OUT_STEM.VARIANT.pt")
    return run_training(train.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
