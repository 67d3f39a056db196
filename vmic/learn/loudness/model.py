"""CNN-LSTM that predicts each frame's loudness (dB) from silent ordinary-rate video.

After the silent-film study ("How loud are silent films?"): frame ``i`` becomes the space-time
image ``x_i = [f(k_{i-1}), f(k_i), f(k_{i+1})]`` (grey, resized to ``size`` x ``size`` px,
scaled to [-1, 1]; the first and last frames repeat at the ends), a small CNN (trained here;
no pretrained weights) embeds it, an LSTM carries state across frames and a linear layer gives
the dB. Loss: mean squared error against the truth dB of each frame's audio chunk
(:func:`vmic.loudness.frame_loudness_db`). Two variants:

``end2end``
    CNN, LSTM and head trained together from scratch.
``frozen``
    The variant the study preferred: the CNN is first pre-trained per frame (one space-time
    image -> dB through a linear head), then frozen while the LSTM and head are trained.

Training data are clips of :mod:`vmic.synth.impacts` (train/val seeds from disjoint ranges). The
entry point is ``python -m vmic.learn.loudness.model train --out PATH`` (see
``docs/loudness.md`` for the exact command that made the shipped weights).

Weights are a flat dict of tensors plus a few numbers, saved with :func:`torch.save` and read
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vmic.errors import VmicError
from vmic.loudness import detect_impacts, match_events
from vmic.synth.impacts import ImpactParams, render_impacts, split_seeds

__all__ = [
    "DEFAULT_WEIGHTS",
    "RATES_WEIGHTS",
    "default_weights",
    "MODEL_FRAME_RATE",
    "resize_frames",
    "space_time_images",
    "LoudnessCNN",
    "CNNLSTM",
    "build_dataset",
    "train_end_to_end",
    "pretrain_cnn",
    "train_frozen",
    "predict_clips",
    "impact_scores",
    "calibrate_threshold",
    "save_weights",
    "load_weights",
    "predict_db",
]

#: Shipped weights for 30 fps clips (trained by the command in docs/loudness.md).
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "loudness_cnnlstm.pt"
#: Shipped weights for 15-30 fps clips (trained on both rates, with the rate as an input).
RATES_WEIGHTS = DEFAULT_WEIGHTS.with_name("loudness_cnnlstm.rates.pt")
#: Reference frame rate, frames/s: the 30 fps model's training rate, and the rate at which the
#: rate input ``log2(fps / 30)`` is zero.
MODEL_FRAME_RATE = 30.0


def default_weights(fps: float | None = None) -> Path:
    """Shipped weights for a clip at ``fps`` frames/s: the 30 fps model within 5 % of 30 fps
    (or when ``fps`` is None), else the 15-30 fps model (if installed)."""
    if fps is None or abs(fps / MODEL_FRAME_RATE - 1.0) <= 0.05 or not RATES_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS
    return RATES_WEIGHTS


# ---------------------------------------------------------------- inputs


def resize_frames(frames, size: int, intensity_max: float = 255.0) -> np.ndarray:
    """Grey frames resized to ``size`` x ``size`` px (area average), as uint8.

    Parameters
    ----------
    frames : array_like, shape (T, H, W)
        Grey frames in [0, ``intensity_max``] (any dtype).
    size : int
        Output side, px.
    intensity_max : float
        White level of the input (255 for 8-bit video).

    Returns
    -------
    numpy.ndarray of uint8, shape (T, size, size)
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, H, W), got shape {frames.shape}")
    scaled = np.clip(frames.astype(np.float32) * (255.0 / float(intensity_max)), 0, 255)
    out = np.empty((frames.shape[0], size, size), dtype=np.uint8)
    for i, frame in enumerate(scaled):
        out[i] = np.clip(np.rint(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)),
                         0, 255).astype(np.uint8)
    return out


def space_time_images(frames_uint8: torch.Tensor) -> torch.Tensor:
    """Space-time images ``[f(k_{i-1}), f(k_i), f(k_{i+1})]`` scaled to [-1, 1].

    Parameters
    ----------
    frames_uint8 : torch.Tensor of uint8, shape (B, T, H, W)
        Resized grey frames; the first and last frame stand in for their missing neighbours.

    Returns
    -------
    torch.Tensor of float32, shape (B, T, 3, H, W)
    """
    x = frames_uint8.float() / 127.5 - 1.0
    prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    following = torch.cat([x[:, 1:], x[:, -1:]], dim=1)
    return torch.stack([prev, x, following], dim=2)


# ---------------------------------------------------------------- models


class LoudnessCNN(nn.Module):
    """Small CNN: space-time image (N, 3, S, S) -> feature vector (N, ``features``)."""

    def __init__(self, size: int = 64, width: int = 16, features: int = 128):
        super().__init__()
        layers, channels = [], 3
        side = size
        for out_channels, kernel in ((width, 5), (2 * width, 3), (4 * width, 3), (4 * width, 3)):
            layers += [nn.Conv2d(channels, out_channels, kernel, stride=2, padding=kernel // 2),
                       nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
            channels, side = out_channels, (side + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, features),
                                nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))


class CNNLSTM(nn.Module):
    """CNN per space-time image, LSTM across frames, linear dB output.

    ``forward(x, fps)`` maps space-time images (B, T, 3, S, S) to dB (B, T) (float32, dB).
    The network works on normalised dB ``(dB - db_mean) / db_std`` (buffers, from the
    training set); ``per_frame_head`` is the linear head used while pre-training the CNN
    alone. With ``rate_input`` the frame rate enters beside the CNN features as
    ``log2(fps / 30)``: the same displacement per frame means twice the speed (+6 dB) at twice
    the rate, which the frames alone cannot tell.
    """

    def __init__(self, size: int = 64, width: int = 16, features: int = 128, hidden: int = 64,
                 rate_input: bool = False):
        super().__init__()
        extra = 1 if rate_input else 0
        self.cnn = LoudnessCNN(size, width, features)
        self.lstm = nn.LSTM(features + extra, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.per_frame_head = nn.Linear(features + extra, 1)
        self.register_buffer("db_mean", torch.tensor(0.0))
        self.register_buffer("db_std", torch.tensor(1.0))
        self.config = {"size": size, "width": width, "features": features, "hidden": hidden,
                       "rate_input": bool(rate_input)}

    def embed(self, x: torch.Tensor, fps=None) -> torch.Tensor:
        """CNN features (B, T, F) of space-time images, plus the rate feature if used."""
        b, t = x.shape[:2]
        features = self.cnn(x.reshape(b * t, *x.shape[2:])).reshape(b, t, -1)
        if not self.config["rate_input"]:
            return features
        fps = torch.as_tensor(MODEL_FRAME_RATE if fps is None else fps, dtype=features.dtype)
        rate = torch.log2(fps.reshape(-1, 1, 1) / MODEL_FRAME_RATE).expand(b, t, 1)
        return torch.cat([features, rate], dim=-1)

    def forward_normalised(self, x: torch.Tensor, fps=None) -> torch.Tensor:
        out, _ = self.lstm(self.embed(x, fps))
        return self.head(out).squeeze(-1)

    def per_frame_normalised(self, x: torch.Tensor, fps=None) -> torch.Tensor:
        return self.per_frame_head(self.embed(x, fps)).squeeze(-1)

    def forward(self, x: torch.Tensor, fps=None) -> torch.Tensor:
        """dB (B, T) of space-time images (B, T, 3, S, S) at ``fps`` (scalar or (B,), Hz)."""
        return self.forward_normalised(x, fps) * self.db_std + self.db_mean


# ---------------------------------------------------------------- data


def build_dataset(split: str, n_clips: int, size: int = 64,
                  params: ImpactParams | None = None, frame_rates=None) -> dict:
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
                     window: int = 32, lr: float = 3e-3, seed: int = 0, log=None) -> list[float]:
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
                 window: int = 32, lr: float = 3e-3, seed: int = 0, log=None) -> list[float]:
    """Pre-train the CNN per frame: one space-time image -> dB through a linear head."""
    _set_normalisation(model, data)
    model.train()
    batches = _batches(data, batch, window, np.random.default_rng(seed))
    parameters = list(model.cnn.parameters()) + list(model.per_frame_head.parameters())

    def loss_of_batch(x, fps, target):
        return torch.mean((model.per_frame_normalised(x, fps) - target) ** 2)

    return _fit(model, parameters, loss_of_batch, batches, steps, lr, log, "pretrain")


def train_frozen(model: CNNLSTM, data: dict, *, steps: int = 200, batch: int = 8,
                 window: int = 32, lr: float = 3e-3, seed: int = 1, log=None) -> list[float]:
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


@torch.no_grad()
def predict_clips(model: CNNLSTM, frames_uint8: np.ndarray, fps=None,
                  chunk: int = 8) -> np.ndarray:
    """Predicted dB of every frame of resized clips.

    Parameters
    ----------
    frames_uint8 : numpy.ndarray of uint8, shape (N, T, S, S)
    fps : float or array_like of shape (N,), optional
        Frame rate of each clip, frames/s (default 30; used by models with ``rate_input``).
    chunk : int
        Clips per forward pass.

    Returns
    -------
    numpy.ndarray of float64, shape (N, T), dB
    """
    model.eval()
    n = frames_uint8.shape[0]
    rates = np.broadcast_to(np.asarray(MODEL_FRAME_RATE if fps is None else fps,
                                       dtype=np.float32), (n,))
    out = []
    for start in range(0, n, chunk):
        x = space_time_images(torch.from_numpy(np.ascontiguousarray(
            frames_uint8[start:start + chunk])))
        out.append(model(x, torch.from_numpy(rates[start:start + chunk].copy())).double().numpy())
    return np.concatenate(out)


def impact_scores(predicted_db, truth_db, impact_frames, threshold_db: float,
                  tolerance: int = 1) -> dict[str, float]:
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


def calibrate_threshold(predicted_db, truth_db, impact_frames) -> float:
    """Detection threshold (dB) that maximises impact F1 on (validation) clips."""
    predicted_db = np.asarray(predicted_db)
    candidates = np.linspace(np.percentile(predicted_db, 50), predicted_db.max(), 60)
    f1 = [impact_scores(predicted_db, truth_db, impact_frames, c)["f1"] for c in candidates]
    best = np.flatnonzero(np.asarray(f1) >= max(f1) - 1e-9)
    return float(np.median(candidates[best]))


# ---------------------------------------------------------------- weights


def save_weights(model: CNNLSTM, path: str | Path, meta: dict) -> None:
    """Save the state dict, architecture and ``meta`` numbers (atomic; torch.save format)."""
    from vmic.io.atomic import atomic_path

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": dict(model.config),
               "meta": {k: v for k, v in meta.items() if isinstance(v, (int, float, str))}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_weights(path: str | Path | None = None) -> tuple[CNNLSTM, dict]:
    """Load a model saved by :func:`save_weights` (``weights_only=True``: no pickle code).

    Returns
    -------
    (CNNLSTM, dict)
        The model in eval mode, and its meta numbers (``threshold_db``, ``fps``, ...).
    """
    from vmic.learn.checkpoint import load_state

    path = Path(DEFAULT_WEIGHTS if path is None else path)
    payload = load_state(path, what="loudness weights")
    try:
        model = CNNLSTM(**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise VmicError(f"loudness weights {path} are not CNN-LSTM weights "
                        f"({type(exc).__name__}: {exc})") from None
    model.eval()
    return model, dict(payload.get("meta", {}))


def predict_db(frames, weights: str | Path | None = None, intensity_max: float = 255.0,
               fps: float | None = None) -> tuple[np.ndarray, dict]:
    """Predicted loudness (dB) of every frame of a grey clip.

    Parameters
    ----------
    frames : array_like, shape (T, H, W)
        Grey frames in [0, ``intensity_max``], at a frame rate the model was trained for
        (``meta["frame_rates"]``).
    weights : path, optional
        Weights file (default: :func:`default_weights` of ``fps``).
    intensity_max : float
        White level of ``frames``.
    fps : float, optional
        Frame rate of the clip, frames/s (default 30).

    Returns
    -------
    (numpy.ndarray of float64 shape (T,), dict)
        dB per frame (on the training audio's scale), and the weights' meta numbers.
    """
    model, meta = load_weights(default_weights(fps) if weights is None else weights)
    small = resize_frames(frames, model.config["size"], intensity_max)
    return predict_clips(model, small[None], fps)[0], meta


# ---------------------------------------------------------------- training entry point


def _train_main(args) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    rates = [float(r) for r in args.frame_rates.split(",")]
    train = build_dataset("train", args.train_clips, args.size, frame_rates=rates)
    val = build_dataset("val", args.val_clips, args.size, frame_rates=rates)
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
    """``python -m vmic.learn.loudness.model train --out PATH [options]``."""
    parser = argparse.ArgumentParser(prog="python -m vmic.learn.loudness.model")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on rendered impacts clips, save the better "
                                         "variant on validation")
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
    args = parser.parse_args(argv)
    return _train_main(args)


if __name__ == "__main__":
    sys.exit(main())
