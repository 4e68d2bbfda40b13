"""ICD benchmark: teacher, student alone, student + FPN feature imitation, student + ICD, over seeds.

The runs are one sweep of ``pipelines/icd_digits_detection.yaml``: ``engine.seed`` per seed (initialisation, batch
order, augmentation, ICD's fake queries; the canvases stay the same), the teacher at the pipeline's seed and computed
once (the pipeline's ``sweep: fixed_seed_stages``), so every seed's students distil the same frozen teacher. This
script formats the markdown report: COCO box mAP@[.5:.95], AP50 and AP75 on the test canvases (mean ± sample std over
seeds, and each row's paired difference to the student alone), the parameters of teacher and student, and their
inference speed (images/s over the test images at the evaluation batch size, and one image's median latency),
measured here on the first seed's models::

    OMP_NUM_THREADS=2 .venv/bin/ssl-kd sweep pipelines/icd_digits_detection.yaml --seeds 0 1 2 --jobs 2
    .venv/bin/python -m benchmarks.icd runs/sweeps/icd_digits_detection --out benchmarks/results/icd.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std, seed_std
from benchmarks.sweep_results import complete_runs, read_sweep, run_folder
from ssl_kd.config import load_pipeline
from ssl_kd.engine.domain import Domain
from ssl_kd.models.saved import load_saved_model
from ssl_kd.registry import DATASETS, DOMAINS

ROWS = [  # (label, stage)
    ("teacher", "teacher"),
    ("student alone", "student_alone"),
    ("student + FPN feature imitation", "fpn_mimic"),
    ("student + ICD", "icd"),
]
METRICS = [("mAP", "test_map"), ("AP50", "test_ap50"), ("AP75", "test_ap75")]
SPEED_ROWS = ("teacher", "student_alone")


def test_images(pipeline_file: Path, overrides: list[str]) -> torch.Tensor:
    """The test images of the pipeline's ``student_alone`` stage, ``(N, 3, S, S)`` in [0, 1] as evaluation sees them."""
    cfg = load_pipeline(pipeline_file, overrides).stage("student_alone")
    domain: Domain = DOMAINS.get(DATASETS.get(cfg.data.name).domain)
    test = domain.load(cfg).splits.test
    return torch.stack([test.load(index) for index in range(len(test))]).float() / 255


@torch.inference_mode()
def inference_speed(stage_dir: Path, images: torch.Tensor, batch_size: int, repeats: int = 3) -> tuple[float, float]:
    """(images/s over ``images`` in batches of ``batch_size``, median batch-1 latency in ms) of a stage's detector."""
    model, _ = load_saved_model(stage_dir)
    model.eval()
    model(images[:batch_size])  # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for begin in range(0, len(images), batch_size):
            model(images[begin : begin + batch_size])
        rates.append(len(images) / (time.perf_counter() - start))
    latencies = []
    for image in images[:50]:
        start = time.perf_counter()
        model(image[None])
        latencies.append(time.perf_counter() - start)
    return statistics.median(rates), 1000 * statistics.median(latencies)


def parameters(stage_dir: Path) -> int:
    model, _ = load_saved_model(stage_dir)
    return sum(p.numel() for p in model.parameters())


def report(
    results: dict[int, dict[str, dict]], speed: dict[str, tuple[float, float, int]], seeds: list[int], command: str
) -> str:
    lines = [
        "# ICD benchmark: instance-conditional distillation on synthetic digit canvases",
        "",
        f"Machine: {hardware()}. Command: `{command}`.",
        f"Seeds {', '.join(map(str, seeds))} (`engine.seed`: initialisation, batch order, augmentation, ICD's fake",
        "queries; the canvases are the same). COCO box AP on the test canvases (pycocotools); mean ± sample std over",
        "seeds; Δ: the row minus the student alone, paired by seed (mean ± std).",
        "",
        "| row | " + " | ".join(name for name, _ in METRICS) + " | Δ mAP vs alone |",
        "| --- |" + " --- |" * (len(METRICS) + 1),
    ]
    for label, stage in ROWS:
        if any(stage not in results[s] for s in seeds):
            lines.append(f"| {label} | not run on every seed |" + " |" * len(METRICS))
            continue
        if stage == "teacher" and len({results[s][stage]["test_map"] for s in seeds}) == 1:
            label = "teacher (one run, distilled by every seed)"
        cells = [mean_std([results[s][stage][key] for s in seeds]) for _, key in METRICS]
        delta = [results[s][stage]["test_map"] - results[s]["student_alone"]["test_map"] for s in seeds]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean_std(delta, signed=True)} |")
    if len(seeds) > 1 and all("icd" in results[s] and "student_alone" in results[s] for s in seeds):
        icd = [results[s]["icd"]["test_map"] for s in seeds]
        alone = [results[s]["student_alone"]["test_map"] for s in seeds]
        gain = statistics.mean(icd) - statistics.mean(alone)
        spread = max(seed_std(icd), seed_std(alone))
        verdict = "more" if gain > 2 * spread else "not more"
        lines += ["", f"ICD minus the student alone: {gain:+.3f} mAP, {verdict} than two standard deviations of either "
                  f"row ({2 * spread:.3f})."]  # fmt: skip
    if all("icd" in results[s] and "fpn_mimic" in results[s] for s in seeds):
        delta = [results[s]["icd"]["test_map"] - results[s]["fpn_mimic"]["test_map"] for s in seeds]
        per_seed = ", ".join(f"{d:+.3f}" for d in delta)
        lines += [
            "",
            f"ICD minus FPN feature imitation, mAP, paired by seed: {mean_std(delta, signed=True)} ({per_seed}).",
        ]
    if speed:
        teacher, student = speed["teacher"], speed["student_alone"]
        lines += [
            "",
            f"Parameters: teacher {teacher[2]:,}, student {student[2]:,} ({teacher[2] / student[2]:.1f}x fewer).",
            f"Inference (seed {seeds[0]}'s models, test canvases): teacher {teacher[0]:,.0f} images/s, student "
            f"{student[0]:,.0f} ({student[0] / teacher[0]:.1f}x); batch-1 latency {teacher[1]:.1f} ms vs "
            f"{student[1]:.1f} ms ({teacher[1] / student[1]:.1f}x). Every student row is the same architecture.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of pipelines/icd_digits_detection.yaml")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    summary = read_sweep(args.sweep_dir)
    runs = complete_runs(args.sweep_dir)
    results = {seed: run["results"] for seed, run in runs.items()}
    seeds = list(results)
    first_run = runs[seeds[0]]
    first = run_folder(first_run)
    pipeline, overrides = Path(summary["pipeline"]), list(first_run["overrides"])
    speed: dict[str, tuple[float, float, int]] = {}
    if all((first / stage / "model.pt").is_file() for stage in SPEED_ROWS):
        cfg = load_pipeline(pipeline, overrides).stage("student_alone")
        images = test_images(pipeline, overrides)
        for stage in SPEED_ROWS:
            speed[stage] = (
                *inference_speed(first / stage, images, cfg.data.eval_batch_size),
                parameters(first / stage),
            )
    shown = pipeline.relative_to(Path.cwd()) if pipeline.is_relative_to(Path.cwd()) else pipeline
    command = " ".join(["ssl-kd sweep", str(shown), *summary["overrides"], "--seeds", *map(str, seeds)])
    text = report(results, speed, seeds, command)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
