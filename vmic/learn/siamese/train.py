"""Training of the Siamese regressor (``vmic train``).

Data: clips rendered in memory by :mod:`vmic.synth` from :func:`vmic.learn.siamese.data.draw_config`
(train and validation seeds from disjoint ranges), turned into maps once and kept in memory.

Loss: for a window of ``window`` consecutive frames of one clip, with prediction ``p`` and
truth ``y`` (px) both centred, ``1 - corr(p, y)**2``: the squared error of the best
least-squares fit ``p ~ g y`` relative to the prediction's energy. Like every metric of
:mod:`vmic.metrics`, it ignores the gain and the sign of the estimate (a video gives the
motion only up to a scale that depends on the texture, and a sign that depends on the
direction of motion).

Validation: every ``eval_every`` steps the model recovers each validation clip end to end
(:func:`vmic.learn.siamese.infer.predict_samples`
and :func:`~vmic.learn.siamese.infer.finish_audio`) and is
scored by :func:`vmic.metrics.snr_db`; the mean SNR (each clipped to [-10, 40] dB) picks the
best step, and training stops after ``patience`` evaluations without improvement.

Design selection: ``design="auto"`` trains the per-frame design (``taps=0``) and the temporal
context design (``taps>0``) on the same data and keeps the one with the better validation SNR.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from tqdm import tqdm

from vmic import metrics
from vmic.errors import VmicError
from vmic.io.atomic import atomic_path
from vmic.learn.siamese.data import draw_config, synth_clip_maps
from vmic.learn.siamese.infer import finish_audio, predict_samples
from vmic.learn.siamese.inputs import model_inputs, tile_signs
from vmic.learn.siamese.maps import MapSpec
from vmic.learn.siamese.model import SiameseRegressor, state_for_saving

__all__ = ["TrainConfig", "build_split", "train", "train_and_select", "window_loss"]

DESIGNS = ("frame", "context", "auto")


@dataclass
class TrainConfig:
    """Settings of a training run (all saved with the weights).

    Attributes
    ----------
    n_train, n_val : int
        Training and validation clips.
    duration_s : float
        Clip length (s); clips are ``size`` x ``size`` px at ``fps``.
    size : int
    fps : float
    window : int
        Frames per training window.
    batch : int
        Windows per step.
    max_steps : int
    eval_every : int
        Steps between validations.
    patience : int
        Validations without improvement before stopping.
    lr : float
        Adam learning rate.
    width : int
        Encoder channels.
    taps : int
        Temporal half-length of the ``context`` design.
    design : {"frame", "context", "auto"}
    seed : int
        Seed of the weights' initialisation and of the window sampling.
    threads : int
        torch threads during training.
    """

    n_train: int = 32
    n_val: int = 8
    duration_s: float = 0.5
    size: int = 96
    fps: float = 2200.0
    window: int = 64
    batch: int = 16
    max_steps: int = 800
    eval_every: int = 100
    patience: int = 4
    lr: float = 3e-3
    width: int = 8
    taps: int = 4
    design: str = "auto"
    seed: int = 0
    threads: int = 2


def window_loss(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean over windows of ``1 - corr(pred, truth)**2``.

    Parameters
    ----------
    pred, truth : Tensor, shape (N, L)

    Returns
    -------
    Tensor, scalar
    """
    p = pred - pred.mean(dim=1, keepdim=True)
    y = truth - truth.mean(dim=1, keepdim=True)
    num = (p * y).sum(dim=1) ** 2
    den = (p * p).sum(dim=1) * (y * y).sum(dim=1) + 1e-20
    return (1.0 - num / den).mean()


def build_split(split: str, n: int, spec: MapSpec, cfg: TrainConfig, *,
                quiet: bool = True) -> list[dict]:
    """Render ``n`` clips of a split and turn them into maps.

    Returns
    -------
    list of dict
        Per clip: ``maps`` (ClipMaps), ``truth`` float64 (T,) px, ``signs``, ``config``.
    """
    clips = []
    with tqdm(total=n, desc=f"rendering {split} clips", disable=quiet,
              file=sys.stderr, leave=False, unit="clip") as bar:
        for i in range(n):
            synth_cfg = draw_config(split, i, duration_s=cfg.duration_s, size=cfg.size,
                                    fps=cfg.fps)
            maps, truth = synth_clip_maps(synth_cfg, spec)
            signs = tile_signs(maps.phase, maps.energy_ref, maps.fps)
            clips.append({"maps": maps, "truth": truth, "signs": signs, "config": synth_cfg})
            bar.update(1)
    return clips


def _tensors(clip) -> dict:
    phase, features, features_ref, weights = model_inputs(clip["maps"], clip["signs"])
    return {"phase": torch.from_numpy(phase), "features": torch.from_numpy(features),
            "features_ref": torch.from_numpy(features_ref), "weights": torch.from_numpy(weights),
            "truth": torch.from_numpy(clip["truth"].astype(np.float32))}


def _sample_batch(data: list[dict], rng: np.random.Generator, batch: int, window: int):
    picks = rng.integers(len(data), size=batch)
    out = {k: [] for k in ("phase", "features", "features_ref", "weights", "truth")}
    for c in picks:
        d = data[c]
        t = d["phase"].shape[0]
        start = int(rng.integers(0, max(1, t - window)))
        sl = slice(start, start + window)
        out["phase"].append(d["phase"][sl])
        out["features"].append(d["features"][sl])
        out["features_ref"].append(d["features_ref"])
        out["weights"].append(d["weights"])
        out["truth"].append(d["truth"][sl])
    return {k: torch.stack(v) for k, v in out.items()}


def evaluate(model: SiameseRegressor, clips: list[dict]) -> dict:
    """Validation scores: per-clip SNR (dB) and RMSE01 of the finished audio.

    Returns
    -------
    dict
        ``snr_db`` (list), ``rmse01`` (list), ``score`` (mean SNR clipped to [-10, 40] dB),
        ``loss`` (mean of 1 - pearson**2).
    """
    model.eval()
    snrs, rmses, losses = [], [], []
    for clip in clips:
        fps = clip["maps"].fps
        audio = finish_audio(predict_samples(model, clip["maps"], signs=clip["signs"]), fps)
        s = metrics.score(audio, clip["truth"], fps)
        snrs.append(s["snr_db"])
        rmses.append(s["rmse01"])
        losses.append(1.0 - s["pearson"] ** 2)
    model.train()
    return {"snr_db": snrs, "rmse01": rmses,
            "score": float(np.mean(np.clip(snrs, -10.0, 40.0))), "loss": float(np.mean(losses))}


def train(cfg: TrainConfig, spec: MapSpec, train_clips: list[dict], val_clips: list[dict],
          taps: int, *, quiet: bool = True, log: Callable[[str], None] | None = None,
          ) -> tuple[SiameseRegressor, dict]:
    """Train one design; return the best model (by validation) and its history.

    Returns
    -------
    model : SiameseRegressor
    history : dict
        ``step``, ``train_loss``, ``val_loss``, ``val_score`` lists (one entry per
        validation), ``best_step``, ``best_score``, ``initial`` (scores of the untrained
        prior), ``best`` (scores of the best model), ``seconds``.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = SiameseRegressor(spec.channels, cfg.width, taps)
    data = [_tensors(c) for c in train_clips]
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = {"step": [], "train_loss": [], "val_loss": [], "val_score": []}
    initial = evaluate(model, val_clips)
    history["initial"] = initial
    best_score, best_step, bad = initial["score"], 0, 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best_eval = initial
    started = time.perf_counter()
    running = []
    name = "context" if taps else "frame"
    with tqdm(total=cfg.max_steps, desc=f"training ({name})", disable=quiet,
              file=sys.stderr, leave=False, unit="step") as bar:
        for step in range(1, cfg.max_steps + 1):
            batch = _sample_batch(data, rng, cfg.batch, cfg.window)
            pred = model(batch["phase"], batch["features"], batch["features_ref"],
                         batch["weights"])
            loss = window_loss(pred, batch["truth"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            running.append(float(loss.detach()))
            bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                ev = evaluate(model, val_clips)
                history["step"].append(step)
                history["train_loss"].append(float(np.mean(running)))
                history["val_loss"].append(ev["loss"])
                history["val_score"].append(ev["score"])
                running = []
                if log:
                    log(f"{name} step {step}: train loss {history['train_loss'][-1]:.4f}, "
                        f"val loss {ev['loss']:.4f}, val SNR {ev['score']:.2f} dB")
                if ev["score"] > best_score + 1e-3:
                    best_score, best_step, best_eval, bad = ev["score"], step, ev, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad += 1
                if bad >= cfg.patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    history.update(best_step=best_step, best_score=best_score, best=best_eval,
                   seconds=time.perf_counter() - started, taps=taps)
    return model, history


def plot_history(path: str | os.PathLike, histories: dict) -> None:
    """Loss curves (train and validation loss, validation SNR) of each design, as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_snr) = plt.subplots(1, 2, figsize=(10, 4))
    for name, h in histories.items():
        line = ax_loss.plot(h["step"], h["train_loss"], label=f"{name} train")[0]
        ax_loss.plot(h["step"], h["val_loss"], "--", color=line.get_color(),
                     label=f"{name} validation")
        ax_snr.plot([0] + h["step"], [h["initial"]["score"]] + h["val_score"],
                    color=line.get_color(), label=name)
        ax_snr.axvline(h["best_step"], color=line.get_color(), linestyle=":")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("1 - corr^2")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    ax_loss.set_title("loss")
    ax_snr.set_xlabel("step")
    ax_snr.set_ylabel("validation SNR (dB, mean)")
    ax_snr.legend()
    ax_snr.set_title("validation SNR (dotted: kept step)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def train_and_select(cfg: TrainConfig, out: str | os.PathLike, *, spec: MapSpec | None = None,
                     plot: str | os.PathLike | None = None, quiet: bool = True,
                     log: Callable[[str], None] | None = None) -> dict:
    """Render data, train the design(s), keep the best, save weights (and a loss plot).

    Parameters
    ----------
    cfg : TrainConfig
    out : path-like
        Weights file (written atomically with ``torch.save``).
    spec : MapSpec, optional
        Inputs; default the shipped model's: flow maps, 3 scales, 2 orientations, 16x16 tiles.
    plot : path-like, optional
        PNG of the loss curves.
    quiet : bool
    log : callable, optional
        Receives one line per validation.

    Returns
    -------
    dict
        Summary: chosen design, validation scores of each design, seconds.
    """
    if cfg.design not in DESIGNS:
        raise VmicError(f"unknown design {cfg.design!r}; choose from {', '.join(DESIGNS)}")
    spec = spec or MapSpec(scales=3, orientations=2, grid=16, inputs="flow")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cfg.threads)))
    started = time.perf_counter()
    try:
        train_clips = build_split("train", cfg.n_train, spec, cfg, quiet=quiet)
        val_clips = build_split("val", cfg.n_val, spec, cfg, quiet=quiet)
        data_s = time.perf_counter() - started
        designs = {"frame": 0, "context": cfg.taps}
        if cfg.design != "auto":
            designs = {cfg.design: designs[cfg.design]}
        results = {}
        for name, taps in designs.items():
            results[name] = train(cfg, spec, train_clips, val_clips, taps, quiet=quiet, log=log)
    finally:
        torch.set_num_threads(previous_threads)
    chosen = max(results, key=lambda k: results[k][1]["best_score"])
    model, history = results[chosen]
    summary = {
        "chosen": chosen,
        "designs": {k: {"best_step": h["best_step"], "val_snr_db_mean_clipped": h["best_score"],
                        "val_snr_db": h["best"]["snr_db"], "val_rmse01": h["best"]["rmse01"],
                        "prior_val_snr_db_mean_clipped": h["initial"]["score"],
                        "seconds": h["seconds"]} for k, (_, h) in results.items()},
        "data_seconds": data_s,
        "total_seconds": time.perf_counter() - started,
        "train_config": asdict(replace(cfg)),
    }
    state = state_for_saving(model, spec.to_dict(), {"summary_json": json.dumps(summary)})
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    if plot:
        plot_history(plot, {k: h for k, (_, h) in results.items()})
    return summary
