"""The ICD pipeline's sweep trains one teacher for every seed; the report names the paired verdicts."""

from __future__ import annotations

from benchmarks.icd import report
from ssl_kd.config import load_pipeline
from ssl_kd.sweep.grid import seed_overrides

from conftest import REPO


def test_every_seed_distils_the_teacher_of_the_pipeline_s_seed() -> None:
    pipeline = load_pipeline(REPO / "pipelines" / "icd_digits_detection.yaml")
    overrides = seed_overrides(pipeline, 3)
    assert overrides == ("student_alone.engine.seed=3", "fpn_mimic.engine.seed=3", "icd.engine.seed=3")


def test_report_labels_the_shared_teacher_and_pairs_icd_with_the_baselines() -> None:
    def row(value: float) -> dict[str, float]:
        return {"test_map": value, "test_ap50": value, "test_ap75": value}

    results = {
        seed: {"teacher": row(0.09), "student_alone": row(0.04), "fpn_mimic": row(0.03 + d), "icd": row(0.05 + d)}
        for seed, d in ((0, 0.0), (1, 0.002), (2, 0.004))
    }
    text = report(results, {}, [0, 1, 2], "ssl-kd sweep pipelines/icd_digits_detection.yaml --seeds 0 1 2")
    assert "| teacher (one run, distilled by every seed) | 0.090 ± 0.000 |" in text
    assert "ICD minus the student alone: +0.012 mAP, more than two standard deviations" in text
    assert "ICD minus FPN feature imitation, mAP, paired by seed: +0.020 ± 0.000 (+0.020, +0.020, +0.020)." in text
