"""KGE training and evaluation speed against pykeen: TransE and RotatE on UMLS and Kinships, side by side.

Per setting (dataset x arch x dim) and repeat, alternating the two libraries in one process:

- **ours**: a ``kge`` training stage through the real engine, assembled as ``ssl_kd/stages/train.py`` does
  (``build_training(cfg, ctx, monitor=...)``); the monitor (``engine.eval_every=1``) evaluates nothing, it only
  stamps the end of every epoch, so an epoch is timed from one epoch end to the next (its steps, data loading, loss
  syncs, ``history.json`` and checkpoint writes);
- **pykeen**: ``pykeen.training.SLCWATrainingLoop`` with ``pykeen.models.TransE`` / ``RotatE``, the ``basic``
  negative sampler (head or tail corrupted, unfiltered, as ours), ``NSSALoss`` (self-adversarial, margin = our
  gamma, temperature 1) and ``torch.optim.Adam``; a ``post_epoch`` callback stamps the epoch ends.

Both: same dim, batch 128 positives (incomplete last batch dropped), 64 negatives per positive, Adam lr 1e-3 (ours:
``adamw`` with weight decay 0, constant schedule = Adam), ``1 + epochs`` epochs, the first (warm-up) dropped.
Rate = positive triples per second of an epoch; per setting the median over the timed epochs of all repeats.
Then filtered rank-based evaluation on the test set, timed: ``ssl_kd.evaluation.ranking.evaluate_ranking`` against
``pykeen.evaluation.RankBasedEvaluator``, both on *our* trained weights (copied into the pykeen model, ids mapped by
label), so the two MRRs must agree.

Conventions checked in pykeen 1.11's source: pykeen's RotatE ``embedding_dim`` is the complex dimension (entities are
``cfloat`` of shape ``dim``, 2 * dim reals), as our ``dim``; its interaction is ``-||h * r - t||_2`` (p = 2), so ours
runs with ``p: 2``; TransE is ``-||h + r - t||_1`` in both (``scoring_fct_norm=1``, our ``p: 1``).

Run from the repository root (the full run writes ``benchmarks/results/kg_speed.md``; ``--quick``: nations, dim 8,
8 negatives, one repeat, ``kg_speed_quick.md``)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.kg_speed
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.kg_speed --quick
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.kg_speed --profile umls:rotate:512   # where the time goes
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import hardware
from ssl_kd.config import load_pipeline
from ssl_kd.evaluation.ranking import evaluate_ranking
from ssl_kd.kg.models import KGEModel
from ssl_kd.kg.triples import KGSplits, all_true_triples
from ssl_kd.stages.base import StageContext
from ssl_kd.stages.train import build_training

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
LOG = logging.getLogger("ssl_kd")
PYKEEN_DATASETS = {"umls": "UMLS", "kinships": "Kinships", "nations": "Nations"}
NORM = {"transe": 1, "rotate": 2}  # pykeen's defaults: TransE scoring_fct_norm=1, RotatE p=2


@dataclass(frozen=True)
class Settings:
    datasets: tuple[str, ...] = ("umls", "kinships")
    archs: tuple[str, ...] = ("transe", "rotate")
    dims: tuple[int, ...] = (64, 512)
    batch_size: int = 128
    negatives: int = 64
    lr: float = 1e-3
    gamma: float = 12.0
    epochs: int = 2  # timed epochs per repeat, after one warm-up epoch
    repeats: int = 3
    eval_batch_size: int = 256
    seed: int = 0
    run_dir: Path = REPO / "runs" / "kg_speed"
    out: Path = RESULTS / "kg_speed.md"


QUICK = Settings(datasets=("nations",), dims=(8,), negatives=8, epochs=1, repeats=1, out=RESULTS / "kg_speed_quick.md")


@dataclass
class Timing:
    """Timed epochs (warm-up dropped) of all repeats, positives per epoch, and the evaluation of the last repeat."""

    epoch_seconds: list[float] = field(default_factory=list)
    positives: int = 0
    eval_seconds: list[float] = field(default_factory=list)
    mrr: float = float("nan")

    @property
    def rate(self) -> float:
        return self.positives / statistics.median(self.epoch_seconds)

    @property
    def eval_time(self) -> float:
        return statistics.median(self.eval_seconds)


# --- ours ---------------------------------------------------------------------------------------------------------
def stage_raw(dataset: str, arch: str, dim: int, s: Settings) -> dict[str, Any]:
    return {
        "name": "kge",
        "kind": "train",
        "method": "kge",
        "model": {"arch": arch, "options": {"dim": dim, "gamma": s.gamma, "p": NORM[arch]}},
        "epochs": 1 + s.epochs,
        "num_negatives": s.negatives,
        "adversarial_temperature": 1.0,
        "data": {"name": dataset, "batch_size": s.batch_size, "eval_batch_size": s.eval_batch_size, "num_workers": 0},
        "optim": {"name": "adamw", "lr": s.lr, "weight_decay": 0.0, "schedule": "constant"},
        "engine": {"device": "cpu", "seed": s.seed, "progress": False, "tensorboard": False, "eval_every": 1},
    }


class EpochClock:
    """The engine's per-epoch monitor: evaluates nothing, stamps the end of every epoch."""

    def __init__(self) -> None:
        self.stamps = [time.perf_counter()]

    def __call__(self) -> dict[str, float]:
        self.stamps.append(time.perf_counter())
        return {}

    def timed(self) -> list[float]:
        """Epoch durations without the first (warm-up) epoch."""
        return [b - a for a, b in zip(self.stamps[1:-1], self.stamps[2:], strict=True)]


def train_ours(dataset: str, arch: str, dim: int, s: Settings, timing: Timing) -> tuple[KGEModel, KGSplits]:
    stage_dir = s.run_dir / f"{dataset}_{arch}_{dim}"
    shutil.rmtree(stage_dir, ignore_errors=True)  # a leftover checkpoint would be resumed
    stage_dir.mkdir(parents=True)
    path = stage_dir / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"name": "kg_speed", "stages": [stage_raw(dataset, arch, dim, s)]}))
    cfg = load_pipeline(path).stage("kge")
    clock = EpochClock()
    training = build_training(cfg, StageContext(s.run_dir, stage_dir, "kg_speed", LOG), monitor=clock)
    clock.stamps = [time.perf_counter()]
    training.trainer.fit()
    timing.epoch_seconds += clock.timed()
    sampler = training.trainer.sampler
    timing.positives = sampler.batches_per_epoch * sampler.batch_size
    return training.method.output_model(), training.data.splits


def evaluate_ours(model: KGEModel, splits: KGSplits, s: Settings, timing: Timing) -> None:
    known = all_true_triples(splits)
    start = time.perf_counter()
    result = evaluate_ranking(model, splits.test, known, splits.num_entities, batch_size=s.eval_batch_size)
    timing.eval_seconds.append(time.perf_counter() - start)
    timing.mrr = result.metrics()["mrr"]


# --- pykeen -------------------------------------------------------------------------------------------------------
def pykeen_dataset(dataset: str) -> Any:
    import pykeen.datasets

    return getattr(pykeen.datasets, PYKEEN_DATASETS[dataset])()


def pykeen_model(dataset: Any, arch: str, dim: int, s: Settings) -> Any:
    from pykeen.losses import NSSALoss
    from pykeen.models import RotatE, TransE

    loss = NSSALoss(margin=s.gamma, adversarial_temperature=1.0)
    common = {"triples_factory": dataset.training, "embedding_dim": dim, "loss": loss, "random_seed": s.seed}
    if arch == "transe":
        return TransE(scoring_fct_norm=NORM[arch], **common).to("cpu")
    return RotatE(**common).to("cpu")


def train_pykeen(dataset: Any, arch: str, dim: int, s: Settings, timing: Timing) -> Any:
    from pykeen.training import SLCWATrainingLoop
    from pykeen.training.callbacks import TrainingCallback

    stamps: list[float] = []

    class Clock(TrainingCallback):
        def post_epoch(self, epoch: int, epoch_loss: float, **kwargs: Any) -> None:
            stamps.append(time.perf_counter())

    model = pykeen_model(dataset, arch, dim, s)
    loop = SLCWATrainingLoop(
        model=model,
        triples_factory=dataset.training,
        optimizer=torch.optim.Adam(model.parameters(), lr=s.lr),
        negative_sampler="basic",
        negative_sampler_kwargs={"num_negs_per_pos": s.negatives},
    )
    loop.train(
        triples_factory=dataset.training,
        num_epochs=1 + s.epochs,
        batch_size=s.batch_size,
        use_tqdm=False,
        use_tqdm_batch=False,
        drop_last=True,
        pin_memory=False,
        callbacks=[Clock()],
    )
    timing.epoch_seconds += [b - a for a, b in itertools.pairwise(stamps)]
    timing.positives = (dataset.training.num_triples // s.batch_size) * s.batch_size
    return model


def copy_weights(ours: KGEModel, splits: KGSplits, theirs: Any, dataset: Any) -> None:
    """Put our trained tables into the pykeen model, rows permuted from our ids to pykeen's (by label)."""
    entity_rows = torch.as_tensor(
        [splits.entities.index(label) for label in dataset.training.entity_id_to_label.values()]
    )
    relation_rows = torch.as_tensor(
        [splits.relations.index(label) for label in dataset.training.relation_id_to_label.values()]
    )
    entity = ours.entity.weight.detach()[entity_rows]
    relation = ours.relation.weight.detach()[relation_rows]
    if ours.arch == "rotate":  # ours [Re..., Im...] and phases; pykeen complex (interleaved re, im) unit rotations
        re, im = entity.chunk(2, dim=-1)
        entity = torch.stack([re, im], dim=-1).reshape(len(entity), -1)
        theta = ours.phases(relation)
        relation = torch.stack([theta.cos(), theta.sin()], dim=-1).reshape(len(relation), -1)
    for representation, table in (
        (theirs.entity_representations[0], entity),
        (theirs.relation_representations[0], relation),
    ):
        weight = representation._embeddings.weight
        with torch.no_grad():
            weight.copy_(table.reshape(weight.shape))


def to_pykeen_ids(triples: torch.Tensor, splits: KGSplits, dataset: Any) -> torch.Tensor:
    entity_ids, relation_ids = dataset.training.entity_to_id, dataset.training.relation_to_id
    rows = [
        (entity_ids[splits.entities[h]], relation_ids[splits.relations[r]], entity_ids[splits.entities[t]])
        for h, r, t in triples.tolist()
    ]
    return torch.as_tensor(rows, dtype=torch.long)


def evaluate_pykeen(model: Any, dataset: Any, test: torch.Tensor, s: Settings, timing: Timing) -> None:
    from pykeen.evaluation import RankBasedEvaluator

    evaluator = RankBasedEvaluator(filtered=True)
    filters = [dataset.training.mapped_triples, dataset.validation.mapped_triples]
    start = time.perf_counter()
    result = evaluator.evaluate(
        model, test, additional_filter_triples=filters, batch_size=s.eval_batch_size, use_tqdm=False
    )
    timing.eval_seconds.append(time.perf_counter() - start)
    timing.mrr = float(result.get_metric("both.realistic.inverse_harmonic_mean_rank"))


# --- the run ------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    dataset: str
    arch: str
    dim: int
    ours: Timing
    pykeen: Timing


def run_setting(dataset: str, arch: str, dim: int, s: Settings) -> Row:
    ours, theirs = Timing(), Timing()
    data = pykeen_dataset(dataset)
    for repeat in range(s.repeats):  # alternate: ours, pykeen, ours, pykeen ...
        torch.manual_seed(s.seed + repeat)
        model, splits = train_ours(dataset, arch, dim, s, ours)
        evaluate_ours(model, splits, s, ours)
        pk_model = train_pykeen(data, arch, dim, s, theirs)
        copy_weights(model, splits, pk_model, data)
        evaluate_pykeen(pk_model, data, to_pykeen_ids(splits.test, splits, data), s, theirs)
        LOG.warning(
            "%s %s %d repeat %d: ours %.0f triples/s, pykeen %.0f triples/s; eval ours %.3f s, pykeen %.3f s",
            dataset, arch, dim, repeat + 1, ours.rate, theirs.rate, ours.eval_time, theirs.eval_time,
        )  # fmt: skip
    return Row(dataset, arch, dim, ours, theirs)


def report(rows: Sequence[Row], s: Settings, wall: float) -> str:
    import pykeen.version

    lines = [
        f"# KGE speed: ssl_kd against pykeen {pykeen.version.get_version()}",
        "",
        f"Machine: {hardware()}; torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s). "
        f"Shared CPU: compare the ratios (measured side by side, alternating), not the absolute rates.",
        "",
        f"Training: batch {s.batch_size} positives, {s.negatives} negatives per positive (head or tail, unfiltered), "
        f"self-adversarial loss (temperature 1, gamma/margin {s.gamma:g}), Adam lr {s.lr:g}; {s.repeats} repeat(s) x "
        f"{s.epochs} timed epoch(s) after 1 warm-up epoch each; median epoch. TransE p=1, RotatE p=2 (pykeen's "
        "defaults) in both. Evaluation: filtered realistic ranks of both sides of every test triple, our trained "
        "weights in both libraries (the MRR columns must agree), eval batch "
        f"{s.eval_batch_size}; median over repeats.",
        "",
        "| dataset | model | dim | ours triples/s | pykeen triples/s | train speed ours / pykeen "
        "| ours eval s | pykeen eval s | eval speed ours / pykeen | MRR ours | MRR pykeen |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.dataset} | {row.arch} | {row.dim} | {row.ours.rate:.0f} | {row.pykeen.rate:.0f} | "
            f"{row.ours.rate / row.pykeen.rate:.2f} | {row.ours.eval_time:.3f} | {row.pykeen.eval_time:.3f} | "
            f"{row.pykeen.eval_time / row.ours.eval_time:.2f} | {row.ours.mrr:.4f} | {row.pykeen.mrr:.4f} |"
        )
    lines += [
        "",
        "Speed ratios above 1: ours faster. Not exactly like for like:",
        "",
        "- pykeen's TransE L2-normalises the entity table after every optimiser step (its default entity "
        "constrainer) and its RotatE renormalises relations to unit modulus (``complex_normalize``); ours does "
        "neither (our RotatE stores phases, so |r| = 1 by construction; our TransE has no constraint, as the RotatE "
        "code's TransE).",
        "- pykeen's basic sampler picks head or tail per negative, ours per positive (all K negatives of a row on "
        "one side); the number of scored triples is the same.",
        "- Our epoch includes the engine's bookkeeping (per-step seeding, loss syncs every 10 steps, history.json and "
        "the resumable checkpoint every 50 steps); pykeen's includes its own callbacks; neither filters negatives.",
        "- Initialisation differs (ours: the RotatE code's uniform; pykeen: xavier / unit phases); it does not change "
        "the cost of a step.",
        "",
        f"Wall time of this run: {wall:.0f} s ({datetime.now(timezone.utc).isoformat(timespec='seconds')}).",
    ]
    return "\n".join(lines) + "\n"


def profile(target: str, s: Settings, steps: int = 20) -> str:
    """torch.profiler tables of ``steps`` training steps of ours and of pykeen, ``dataset:arch:dim``."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    dataset, arch, dim = target.split(":")
    s = Settings(**{**s.__dict__, "epochs": 1, "repeats": 1})
    out = []
    cfg_dir = s.run_dir / "profile"
    shutil.rmtree(cfg_dir, ignore_errors=True)
    cfg_dir.mkdir(parents=True)
    (cfg_dir / "p.yaml").write_text(yaml.safe_dump({"name": "p", "stages": [stage_raw(dataset, arch, int(dim), s)]}))
    training = build_training(
        load_pipeline(cfg_dir / "p.yaml").stage("kge"), StageContext(s.run_dir, cfg_dir, "p", LOG), monitor=dict
    )
    method = training.method
    optimizer = torch.optim.Adam(method.parameters(), lr=s.lr)
    batches = [batch.inputs for _, batch in zip(range(steps), training.trainer.loader, strict=False)]
    for _phase in ("warm", "profile"):
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in batches:
                loss = method.training_step(batch)["kge"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    out.append(f"## ours {target}: {steps} steps (method step + backward + Adam)\n")
    out.append(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))

    data = pykeen_dataset(dataset)
    model = pykeen_model(data, arch, int(dim), s)
    from pykeen.sampling import BasicNegativeSampler

    sampler = BasicNegativeSampler(mapped_triples=data.training.mapped_triples, num_negs_per_pos=s.negatives)
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    positives = [data.training.mapped_triples[i * s.batch_size : (i + 1) * s.batch_size] for i in range(steps)]
    for _phase in ("warm", "profile"):
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in positives:
                negatives, _ = sampler.sample(batch)
                pos = model.score_hrt(batch)
                neg = model.score_hrt(negatives.view(-1, 3)).view(len(batch), -1)
                loss = model.loss.process_slcwa_scores(pos, neg)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                model.post_parameter_update()
    out.append(f"\n## pykeen {target}: {steps} steps (sample + score + NSSA + backward + Adam + constrainer)\n")
    out.append(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: nations, dim 8, 8 negatives, 1 repeat, 1 timed epoch"
    )
    parser.add_argument("--out", type=Path, help="markdown report (default: benchmarks/results/kg_speed[_quick].md)")
    parser.add_argument("--run-dir", type=Path, help="stage folders (default: runs/kg_speed)")
    parser.add_argument("--profile", metavar="DATASET:ARCH:DIM", help="print torch.profiler tables instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("ssl_kd").setLevel(logging.WARNING)
    logging.getLogger("pykeen").setLevel(logging.ERROR)  # "Evaluation took ...", "Inferred unique=False ..."
    settings = QUICK if args.quick else Settings()
    overrides = {"out": args.out, "run_dir": args.run_dir}
    settings = Settings(**{**settings.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    if args.profile:
        print(profile(args.profile, settings))
        return 0
    start = time.perf_counter()
    rows = [
        run_setting(dataset, arch, dim, settings)
        for dataset in settings.datasets
        for arch in settings.archs
        for dim in settings.dims
    ]
    text = report(rows, settings, time.perf_counter() - start)
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
