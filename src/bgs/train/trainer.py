"""The trainer: one step samples a batch of triplets, embeds the batch's unique stimuli once
and computes every loss term from those embeddings.

Reproducibility: epoch ``e`` draws its triplet order from ``numpy.random.default_rng([seed,
e])`` and reseeds torch with ``(seed, e)``, and the state at the end of every epoch is
checkpointed, so ``--resume`` after a crash repeats the interrupted epoch exactly and a CPU
run reaches the same final metrics as an uninterrupted one.

Distributed: under ``torchrun`` every process embeds its share of the batch's unique
stimuli, the embeddings are all-gathered with autograd and every process computes the same
full-batch loss; DistributedDataParallel then averages the gradients, which equals the
single-process gradient of the same global batch.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bgs.data.tables import INCOMPLETE
from bgs.errors import BGSError, ConfigError
from bgs.io import atomic_path, require_new_folder, write_json
from bgs.metrics import alignment as al
from bgs.objectives import Objective
from bgs.report.rundir import START_EPOCH, RunHeader, command_line
from bgs.train.checkpoint import ADAPTER, HEAD, load_checkpoint, load_state, read_meta, save_checkpoint, verify
from bgs.train.config import TrainConfig
from bgs.train.data import TrainingData, load_training_data, stimulus_files
from bgs.train.eventlog import TensorBoardLog
from bgs.train.model import BGSModel, TextEncoder, VideoEncoder
from bgs.train.progress import StepProgress


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def _build_store_once(store, ids: list, files: list):
    """Rank 0 builds the clip store while the other ranks wait, then they reuse it: two
    processes building one store would remove each other's temporary files."""
    dist = _dist()
    if dist is None:
        return store.build(ids, files, on_error="fail")
    report = store.build(ids, files, on_error="fail") if dist.get_rank() == 0 else None
    dist.barrier()
    if report is None:
        store.refresh()
        report = store.build(ids, files, on_error="fail")
    return report


def build_model(config: TrainConfig, data: TrainingData, device: str,
                log: Callable[[str], None] = print) -> BGSModel:
    """The backbone of ``model.backbone`` with its inputs, LoRA and the head."""
    from bgs.models.embed import quiet_transformers
    from bgs.models.registry import parse_model

    quiet_transformers()
    spec = parse_model(config.model.backbone)
    kind = spec.kind
    if kind.family in ("video", "image"):
        from bgs.media.decode import DecodeParams
        from bgs.media.store import ClipStore
        from bgs.models.vision import layer_names, load_vision_backbone

        if not config.data.videos:
            raise ConfigError(f"{spec} trains on videos: set data.videos")
        backbone = load_vision_backbone(spec, frames=config.model.frames or None, device=device,
                                        attention=config.model.attention,
                                        size=config.model.image_size or None)
        layer = layer_names(config.model.layer, backbone.n_layers)[0]
        backbone.drop_layers_after(layer)
        store_root = Path(config.data.store or Path(config.data.videos) / ".bgs-clip-store")
        store = ClipStore(store_root, DecodeParams(backbone.frames, backbone.size, config.data.resize))
        ids = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
        files = [Path(config.data.videos) / f for f in stimulus_files(data.stimuli, ids)]
        report = _build_store_once(store, list(ids), files)
        log(f"clip store {store.path}: {len(report.decoded)} decoded, {len(report.reused)} reused")
        encoder = VideoEncoder(backbone, store, layer)
    elif kind.family == "text":
        from bgs.models.text import load_text_backbone

        if config.model.cache_frozen_prefix:
            raise ConfigError("model.cache_frozen_prefix is for image backbones, not text ones")

        if not config.data.captions:
            raise ConfigError(f"{spec} trains on captions: set data.captions")
        captions = data.stimuli.with_captions(config.data.captions).caption_lists()
        missing = [i for i in data.stimuli.ids if i not in captions]
        if missing:
            raise ConfigError(f"{config.data.captions}: stimuli without captions: {missing[:10]}")
        encoder = TextEncoder(load_text_backbone(spec.source, device=device), captions,
                              config.data.caption_pool)
    else:
        raise ConfigError(f"cannot train a {kind.family} backbone ({spec})")
    model = BGSModel(encoder, kind, config.model, str(spec)).to(device)
    if config.model.cache_frozen_prefix:
        from bgs.train.prefix_cache import FrozenPrefix

        model.encoder.prefix = FrozenPrefix(model.encoder, list(ids))
        log(f"frozen prefix cached: hidden state {model.encoder.prefix.start} of {len(ids)} stimuli")
    return model


class Trainer:
    """Fits ``BGSModel`` with the configured objective; writes everything into ``run_dir``."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, resume: bool = False,
                 log: Callable[[str], None] | None = None, console=None):
        config = copy.deepcopy(config)  # the run may fill in values (the automatic batch)
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        dist = _dist()
        self.rank = dist.get_rank() if dist else 0
        self.world = dist.get_world_size() if dist else 1
        self.log = (log or print) if self.rank == 0 else (lambda *_: None)
        self.console = console  # a rich Console for the progress bar (default: stderr)
        self.device = config.run.device
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("run.device is cuda but no CUDA device is available; use cpu")
        self.history: list[dict] = []
        self.start: dict | None = None  # validation scores before training (optim.select_start)
        self._start_weights = None
        self.behavior = None  # the receiver-behavior terms, when the config has them
        self.embeddings = None  # every stimulus, from the best checkpoint, once the run ends
        self._target: tuple | None = None  # (data, its target on the device)

    # ------------------------------------------------------------------ set-up
    def _prepare_run_dir(self) -> bool:
        """Create the run directory (True when this call created it). A folder holding only
        the config.toml of a run that never finished an epoch does not block its ``--out``."""
        if self.rank != 0:
            return False
        if not self.resume and not never_started(self.run_dir):
            require_new_folder(self.run_dir, f"--resume {self.run_dir} to continue the run there, or "
                                             f"--out a new folder (runs are never overwritten)")
        created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.resume or never_started(self.run_dir):
            (self.run_dir / INCOMPLETE).write_text("no epoch of this run has finished\n")
        with atomic_path(self.run_dir / "config.toml") as tmp:
            tmp.write_text(self.config.to_toml())
        return created

    def _seed(self, epoch: int) -> np.random.Generator:
        torch.manual_seed(self.config.run.seed * 100_003 + epoch)
        return np.random.default_rng([self.config.run.seed, epoch])

    # ------------------------------------------------------------------ one step
    def _embed_batch(self, model, ids: np.ndarray, temporal: bool = False):
        """Embeddings of ``ids``; with ``temporal``, (embeddings, temporal tokens)."""
        call = (lambda x: model(x, temporal=True)) if temporal else model
        dist = _dist()
        if dist is None:
            return call(list(ids))
        import torch.distributed.nn.functional as dfn

        chunks = np.array_split(np.arange(len(ids)), self.world)
        size = max(len(c) for c in chunks)
        mine = chunks[self.rank]
        padded = np.concatenate([mine, np.repeat(mine[-1:] if len(mine) else [0], size - len(mine))])
        local = call(list(ids[padded]))
        out = [torch.cat([g[: len(c)] for g, c in zip(dfn.all_gather(x), chunks)])
               for x in (local if temporal else (local,))]
        return tuple(out) if temporal else out[0]

    def _indices_to_device(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """Several int arrays to the device in one pinned, asynchronous copy (a plain copy
        from pageable memory would make the host wait for the GPU)."""
        flat = torch.from_numpy(np.concatenate(arrays).astype(np.int64))
        if self.device.startswith("cuda"):
            flat = flat.pin_memory().to(self.device, non_blocking=True)
        return list(torch.split(flat, [len(a) for a in arrays]))

    def _target_on_device(self, data: TrainingData) -> torch.Tensor:
        """The (n_train, n_train) target, moved to the device once per run."""
        cached = self._target
        if cached is None or cached[0] is not data:
            self._target = (data, torch.tensor(data.target, dtype=torch.float32, device=self.device))
        return self._target[1]

    def _step(self, model, objective, data: TrainingData, rows: np.ndarray, epoch: int):
        """Loss of one batch. Nothing in it reads back from the device: ``parts`` are 0-d
        tensors, summed on the device and read once per epoch."""
        train = data.train
        unique = np.unique(train.triads[rows])  # sorted: searchsorted gives each row's position
        pair = train.pair[rows]
        where, anchor, positive, negative = self._indices_to_device(
            [unique] + [np.searchsorted(unique, x) for x in (pair[:, 0], pair[:, 1], train.odd_index[rows])])
        target = self._target_on_device(data)[where][:, where]
        amp = self.device.startswith("cuda") and self.config.run.amp
        behavior = self.behavior
        temporal = behavior is not None and behavior.needs_temporal
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            z = self._embed_batch(model, data.train_ids[unique], temporal=temporal)
        z, tokens = z if temporal else (z, None)
        loss, parts = objective(z.float(), anchor, positive, negative, target, epoch)
        if behavior is not None:  # receiver-behavior terms (bgs.behavior.training)
            loss, parts = behavior.add_to(loss, parts, z.float(),
                                          tokens.float() if tokens is not None else None,
                                          data.train_ids[unique], sync=False)
        return loss, parts, len(unique)

    # ------------------------------------------------------------------ evaluation
    def _alignments(self, model: BGSModel, data: TrainingData) -> tuple[dict, dict]:
        """(training, validation) RSA and odd-one-out accuracy, embedding each of their
        stimuli once."""
        ids = np.unique(np.concatenate([data.train.stimulus_ids, data.val.stimulus_ids]))
        z = model.embed(list(ids))
        out = []
        for triplets, human in ((data.train, lambda: data.train_similarity),
                                (data.val, lambda: data.val_similarity)):
            if len(triplets) == 0:
                out.append({"rsa": None, "ooo_accuracy": None})
                continue
            zs = z[np.searchsorted(ids, triplets.stimulus_ids)]
            s = zs @ zs.T
            if data.judgment == "anchor":
                from bgs.metrics.anchor import anchor_alignment

                out.append(anchor_alignment(s, triplets))
                continue
            out.append({"rsa": al.rsa(1.0 - s, human(), "spearman"),
                        "ooo_accuracy": al.ooo_accuracy(s, triplets)})
        return out[0], out[1]

    # ------------------------------------------------------------------ the run
    def run(self) -> dict:
        """Train, evaluate the best checkpoint and return the run's summary, its
        ``history`` (one record per epoch) included; ``self.embeddings`` then holds the
        embeddings of every stimulus. A run that fails before its first checkpoint leaves
        no folder behind."""
        if self.resume:  # a corrupt or foreign checkpoint fails before the model is built
            last = self.run_dir / "checkpoints" / "last"
            if load_state(last) is not None:
                verify(last, read_meta(last), (ADAPTER, HEAD))
        created = self._prepare_run_dir()
        try:
            return self._run()
        except BaseException:
            if created and never_started(self.run_dir):
                for name in ("config.toml", INCOMPLETE):
                    (self.run_dir / name).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    self.run_dir.rmdir()
            raise

    def _run(self) -> dict:
        cfg = self.config
        torch.manual_seed(cfg.run.seed)
        data = load_training_data(cfg)
        self.judgment = data.judgment
        model = self._model(data)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=cfg.optim.plateau_factor, patience=cfg.optim.plateau_patience)
        objective = Objective(cfg.objective)
        start_epoch, best, stale = self._resume(model, optimizer, scheduler)
        trained = self._distributed(model)
        steps_per_epoch = int(np.ceil(len(data.train) / cfg.optim.batch_triplets))
        if cfg.optim.max_steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, cfg.optim.max_steps_per_epoch)
        progress = StepProgress(cfg.optim.epochs, steps_per_epoch, self.console, show=self.rank == 0)
        events = TensorBoardLog(self.run_dir) if cfg.run.log == "tensorboard" and self.rank == 0 else None
        if start_epoch == 0 and cfg.optim.select_start and cfg.optim.select != "last":
            best = self._score_start(model, data)
        for epoch in progress.epochs(range(start_epoch, cfg.optim.epochs)):
            if stale >= cfg.optim.early_stopping:
                break
            t0 = time.perf_counter()
            sums, n_steps, n_clips = self._train_epoch(trained, model, objective, optimizer, params, data,
                                                       epoch, steps_per_epoch, progress)
            scored = _scored(cfg.optim, epoch)
            tr, val = self._alignments(model, data) if scored else (_NOT_SCORED, _NOT_SCORED)
            record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                      "train_loss": sums.get("loss", 0.0) / n_steps,
                      **{f"loss_{k}": v / n_steps for k, v in sums.items() if k != "loss"},
                      **_scores(tr, val),
                      "seconds": time.perf_counter() - t0, "clips_per_s": n_clips / (time.perf_counter() - t0)}
            self.history.append(record)
            if events is not None:
                events.log_epoch(record)
            score = _selection_score(val)
            if cfg.optim.select != "last":  # "last": validation judgments steer nothing
                scheduler.step(score)
            improved = score > best or cfg.optim.select == "last"
            best, stale = (score, 0) if improved else (best, stale + 1)
            scores = (f"train RSA {_num(tr['rsa'])}, val RSA {score:.3f}, val {_accuracy_text(val)}"
                      if scored else f"not scored (optim.score_every = {cfg.optim.score_every})")
            self.log(f"epoch {epoch}: loss {record['train_loss']:.4f}, {scores}{' (best)' if improved else ''}")
            self._save_epoch(model, optimizer, scheduler, epoch, score, improved, best, stale)
        if events is not None:
            events.close()
        if _dist() is not None:
            _dist().barrier()
        return self.finish(model, data)

    def _score_start(self, model: BGSModel, data: TrainingData) -> float:
        """Validation RSA of the model before training; its weights are kept in memory and
        become the best checkpoint if no epoch beats it (written with the first epoch's, so a
        run that fails in its first epoch still leaves no folder)."""
        tr, val = self._alignments(model, data)
        score = _selection_score(val)
        self.start = _scores(tr, val)
        self._start_weights = ({k: v.detach().clone() for k, v in model.adapter_state().items()},
                               {k: v.detach().clone() for k, v in model.head.state_dict().items()})
        self.log(f"before training: train RSA {_num(tr['rsa'])}, val RSA {score:.3f}, val {_accuracy_text(val)}")
        return score

    def _start_entry(self) -> dict:
        """``{"start": scores}`` when the model before training was a candidate, else nothing."""
        return {"start": self.start} if self.start is not None else {}

    def _model(self, data: TrainingData) -> BGSModel:
        """The model with its behavior heads, the batch size when automatic, compiled blocks."""
        cfg = self.config
        model = build_model(cfg, data, self.device, self.log)
        if cfg.behavior.active:
            from bgs.behavior.training import build_behavior_objective

            self.behavior = build_behavior_objective(cfg.behavior, data, model, self.log).to(self.device)
            model.add_module("behavior", self.behavior)  # its heads train (and move) with the model
        counts = model.parameter_counts()
        self.log(f"{model.backbone_ref}: {counts['trainable']:,} trainable and "
                 f"{counts['frozen']:,} frozen parameters; {data.summary()}")
        if cfg.optim.batch_triplets == 0:
            from bgs.train.autobatch import auto_batch_triplets

            cfg.optim.batch_triplets = auto_batch_triplets(model, data.train_ids, self.device,
                                                           self.device.startswith("cuda") and cfg.run.amp,
                                                           self.world, self.log)
            if self.rank == 0:  # the run's config records the batch it used
                with atomic_path(self.run_dir / "config.toml") as tmp:
                    tmp.write_text(cfg.to_toml())
        if cfg.run.compile:
            from bgs.train.compile import compile_blocks

            n = compile_blocks(model)
            self.log(f"torch.compile: {n} transformer blocks compiled (first steps are slow)")
        return model

    def _resume(self, model, optimizer, scheduler) -> tuple[int, float, int]:
        """(first epoch, best score, stale epochs): from the last checkpoint with ``resume``."""
        if not self.resume:
            return 0, -np.inf, 0
        last_dir = self.run_dir / "checkpoints" / "last"
        state = load_state(last_dir)
        if state is None:
            self.log(f"no finished epoch in {self.run_dir}: starting from the beginning")
            return 0, -np.inf, 0
        load_checkpoint(model, last_dir)
        try:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if self.behavior is not None:
                self.behavior.load_state_dict(state["behavior"])
            self.history = list(state["history"])
            self.start = state.get("start")
            start = state["epoch"] + 1, state["best"], state["stale"]
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise BGSError(f"{last_dir}: the resume state does not fit this run's model and "
                           f"optimizer ({type(exc).__name__}: {exc}). Fix: start a new run") from None
        self.log(f"resuming {self.run_dir} after epoch {state['epoch']}")
        return start

    def _distributed(self, model: BGSModel):
        """``model`` under DistributedDataParallel when running under torchrun, else itself."""
        if _dist() is None:
            return model
        from torch.nn.parallel import DistributedDataParallel

        on_cuda = self.device.startswith("cuda")
        if on_cuda:
            model.to(torch.device("cuda", torch.cuda.current_device()))
        return DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if on_cuda else None)

    def _train_epoch(self, trained, model, objective, optimizer, params, data: TrainingData, epoch: int,
                     steps_per_epoch: int, progress: StepProgress | None = None) -> tuple[dict, int, int]:
        """One epoch's steps; returns the summed loss parts, the steps taken and clips embedded."""
        cfg = self.config
        order = self._seed(epoch).permutation(len(data.train))
        model.train()
        sums: dict[str, float] = {}
        n_clips = 0
        step = 0
        for step in range(steps_per_epoch):
            rows = order[step * cfg.optim.batch_triplets:(step + 1) * cfg.optim.batch_triplets]
            if len(rows) == 0:
                break
            loss, parts, u = self._step(trained, objective, data, rows, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            optimizer.step()
            n_clips += u
            if progress is not None:
                progress.advance(parts["loss"], u)
            for k, v in parts.items():  # on the device: no sync in the step
                sums[k] = sums.get(k, 0.0) + (v.to(torch.float64) if torch.is_tensor(v) else v)
        return {k: float(v) for k, v in sums.items()}, max(1, step + 1), n_clips  # one read-back

    def _save_epoch(self, model, optimizer, scheduler, epoch: int, score: float, improved: bool,
                    best: float, stale: int) -> None:
        """The best and last checkpoints (with the optimiser state for ``--resume``) and the history."""
        if self.rank != 0:
            return
        cfg = self.config
        meta = {"epoch": epoch, "val_rsa": score if np.isfinite(score) else None, "objective": cfg.objective.to_dict()}
        if improved:
            save_checkpoint(model, self.run_dir / "checkpoints" / "best", meta)
        elif self._start_weights is not None:  # no epoch has beaten the model before training
            save_checkpoint(model, self.run_dir / "checkpoints" / "best",
                            {**meta, "epoch": START_EPOCH, "val_rsa": self.start["val_rsa"]},
                            weights=self._start_weights)
        self._start_weights = None  # written, or beaten for good
        state = {"epoch": epoch, "best": best, "stale": stale, "history": self.history, "start": self.start,
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "behavior": self.behavior.state_dict() if self.behavior is not None else None}
        save_checkpoint(model, self.run_dir / "checkpoints" / "last", meta, state)
        (self.run_dir / INCOMPLETE).unlink(missing_ok=True)  # an epoch has finished
        self._write_history()

    def _write_history(self) -> None:
        with atomic_path(self.run_dir / "metrics.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(h) + "\n" for h in self.history))
        try:
            from bgs.report.plots import plot_training_curves

            kind, _, source = self.config.model.backbone.partition(":")
            plot_training_curves(self.history, self.run_dir / "training_curves.png",  # no local paths
                                 f"{self.config.objective.name}: {kind}:{Path(source).name or source}")
        except ImportError:  # matplotlib is an optional extra
            pass

    def finish(self, model: BGSModel, data: TrainingData) -> dict:
        """Evaluate the best checkpoint (loaded strictly) on the held-out stimuli."""
        from bgs.embeddings import Embeddings
        from bgs.metrics.evaluate import evaluate_embeddings

        best_dir = self.run_dir / "checkpoints" / "best"
        summary = {"run": str(self.run_dir), "epochs": len(self.history), "best_epoch": None,
                   **data.summary(), "history": self.history, **self._start_entry()}
        if self.rank != 0:
            return summary
        if (best_dir / "checkpoint.json").exists():
            summary["best_epoch"] = read_meta(best_dir)["epoch"]
        if (best_dir / "checkpoint.json").exists():
            load_checkpoint(model, best_dir)
        every = np.concatenate([data.train_ids, data.val_ids, data.test_ids])
        emb = Embeddings.from_array(every, model.embed(list(every)), source=str(best_dir))
        emb.save(self.run_dir / "embeddings.npz")
        self.embeddings = emb
        if data.test is not None and len(data.test) and data.judgment == "anchor":
            from bgs.data.anchor import AnchorTripletSet
            from bgs.metrics.anchor import evaluate_anchor_embeddings

            result = evaluate_anchor_embeddings(emb, AnchorTripletSet.from_triplet_view(data.test),
                                                n_bootstrap=self.config.run.eval_bootstrap,
                                                n_permutations=self.config.run.eval_permutations,
                                                seed=self.config.run.seed)
            write_json(self.run_dir / "eval.json", result)
            summary["test"] = {k: result[k]["value"] for k in ("anchor_accuracy", "rsa_spearman", "rsa_pearson")}
        elif data.test is not None and len(data.test):
            result = evaluate_embeddings(emb, data.test, n_bootstrap=self.config.run.eval_bootstrap,
                                         n_permutations=self.config.run.eval_permutations,
                                         seed=self.config.run.seed)
            write_json(self.run_dir / "eval.json", result)
            summary["test"] = {k: result[k]["value"] for k in
                               ("ooo_accuracy", "two_way_accuracy_symmetric", "rsa_spearman", "rsa_pearson")}
        write_json(self.run_dir / "metrics.json", self._run_record(summary, result if "test" in summary else None))
        return summary

    def _run_record(self, summary: dict, result: dict | None) -> dict:
        """``metrics.json`` in the run-directory schema (``bgs report`` reads it as it is)."""
        name = self.config.objective.name
        header = RunHeader("train", f"Fine-tuning run {self.run_dir.name}", command_line(["bgs", "train"]),
                           self.config.to_dict())
        record = {**header.to_dict(), **{k: v for k, v in summary.items() if k != "history"},
                  "training": {name: {"run": ".", "history": self.history, "best_epoch": summary["best_epoch"],
                                      **self._start_entry()}}}
        if result is not None:
            record["models"] = {name: {"label": f"{name} (fine-tuned)", "family": "model",
                                       "stage": "fine-tuned", "metric": "cosine", "eval": result}}
        return record


_NOT_SCORED = {"rsa": None, "ooo_accuracy": None}


def _scored(optim, epoch: int) -> bool:
    """Whether the epoch's record gets training and validation scores (``optim.score_every``)."""
    return (epoch + 1) % optim.score_every == 0 or epoch == optim.epochs - 1


def _scores(tr: dict, val: dict) -> dict:
    """A history record's training and validation scores (anchor accuracies for anchor triplets)."""
    return {"train_rsa": tr["rsa"], "train_ooo_accuracy": tr["ooo_accuracy"],
            "val_rsa": val["rsa"], "val_ooo_accuracy": val["ooo_accuracy"],
            **({"train_anchor_accuracy": tr["anchor_accuracy"],
                "val_anchor_accuracy": val["anchor_accuracy"]} if "anchor_accuracy" in val else {})}


def _selection_score(val: dict) -> float:
    """The validation RSA that selects checkpoints; -inf where there is none."""
    return val["rsa"] if val["rsa"] is not None and np.isfinite(val["rsa"]) else -np.inf


def _accuracy_text(scores: dict) -> str:
    anchor = "anchor_accuracy" in scores
    name, key = ("anchor two-way", "anchor_accuracy") if anchor else ("odd-one-out", "ooo_accuracy")
    value = scores.get(key)
    return f"{name} {value:.3f}" if value is not None else f"{name} — (no validation triplets)"


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def never_started(run_dir: Path) -> bool:
    """True for a run folder of bgs train in which no epoch finished: it holds the marker
    written at its creation and at most the run's config.toml."""
    run_dir = Path(run_dir)
    return ((run_dir / INCOMPLETE).is_file()
            and all(p.name in ("config.toml", INCOMPLETE) for p in run_dir.iterdir()))


def default_run_dir(config: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{config.objective.name}"


def init_distributed() -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return True
