"""Train an ICD stage's auxiliary decoder alone on its frozen teacher, for more steps than the stage gives it, and print
its identification and localisation losses: is the decoder that chooses what ICD imitates still learning when the
student's budget ends?

The student is built but never trained or read: the decoder's task (real or fake query? where are the box's sides?)
depends on the teacher and the data only. Optimiser, learning rate schedule and gradient clipping are the stage's
``aux_optim`` and ``aux_grad_clip`` stretched over ``--steps``; the stage's teacher is read from ``RUN_DIR``.

    python -m benchmarks.icd_decoder_steps benchmarks/icd_pilot_negative.yaml icd \\
        runs/sweeps/icd_pilot_negative/runs/default/seed=10 --seed 10 --steps 1500
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config import load_pipeline
from ssl_kd.detection.icd import flatten_levels
from ssl_kd.engine.optim import build_optimizer, lr_factor
from ssl_kd.stages.base import StageContext
from ssl_kd.stages.train import build_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", type=Path, help="pipeline file holding the icd stage")
    parser.add_argument("stage", help="name of the icd stage")
    parser.add_argument("run_dir", type=Path, help="a run folder holding the stage's trained teacher")
    parser.add_argument("--seed", type=int, default=0, help="engine.seed (batch order, fake queries)")
    parser.add_argument("--steps", type=int, default=1500, help="decoder steps (the stage gives it epochs x steps)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the stage's aux_optim.lr)")
    parser.add_argument("--log-every", type=int, default=125)
    args = parser.parse_args()
    overrides = [f"engine.seed={args.seed}", "engine.progress=false"]
    cfg = next(s for s in load_pipeline(args.pipeline, overrides).stages if s.name == args.stage)
    optim = cfg.aux_optim if args.lr is None else cfg.aux_optim.model_copy(update={"lr": args.lr})
    with tempfile.TemporaryDirectory() as scratch:
        ctx = StageContext(args.run_dir, Path(scratch), "", logging.getLogger("icd_decoder_steps"))
        training = build_training(cfg, ctx)
    method, loader = training.method, training.trainer.loader
    modules = method.auxiliary_modules()[:3]  # encoder, decoder, heads: the student-side projection is not needed
    parameters = [p for module in modules for p in module.parameters()]
    optimizer = build_optimizer(((str(i), p) for i, p in enumerate(parameters)), optim)
    per_epoch = len(loader)
    step, start = 0, time.perf_counter()
    window = torch.zeros(2)
    print(f"{args.stage} of {args.pipeline}, seed {args.seed}: {args.steps} decoder steps at lr {optim.lr:g}")
    while step < args.steps:
        for batch in loader:
            inputs = batch.inputs
            teacher = frozen_forward(method.teacher_levels, inputs.images)
            queries = method.sampler(inputs.boxes, inputs.labels, method.image_size)
            decoded = method.decoder(method.encoder(queries), flatten_levels(teacher), method.positions(teacher))
            confidence, distances = method.heads(decoded.instances)
            identification = method.identification(confidence, queries.real, queries.valid)
            localisation = method.localisation(distances, queries.side_distances(), queries.real)
            for group in optimizer.param_groups:
                group["lr"] = optim.lr * lr_factor(step, args.steps, per_epoch, optim)
            optimizer.zero_grad(set_to_none=True)
            (identification + localisation).backward()
            if cfg.aux_grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, cfg.aux_grad_clip)
            optimizer.step()
            window += torch.stack([identification.detach(), localisation.detach()])
            step += 1
            if step % args.log_every == 0:
                id_mean, loc_mean = (window / args.log_every).tolist()
                print(f"step {step}: identification {id_mean:.3f}, localisation {loc_mean:.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
                window.zero_()
            if step == args.steps:
                break


if __name__ == "__main__":
    main()
