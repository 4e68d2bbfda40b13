"""The ``ssl-kd`` command line: run, sweep, validate, list, export, extract, report, data and inspect."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ssl_kd.errors import ConfigError, SslKdError

EPILOG = """examples:
  ssl-kd run pipelines/kd_digits.yaml
  ssl-kd run pipelines/kd_digits.yaml distill.epochs=5 engine.device=cpu --run-dir runs/try
  ssl-kd run pipelines/kd_digits.yaml --from distill
  ssl-kd run pipelines/kd_digits.yaml --nproc 2        # = torchrun --nproc-per-node 2 -m ssl_kd run ...
  ssl-kd sweep pipelines/kd_digits.yaml --seeds 0 1 2 --grid distill.tau=2,4,8 --jobs 2
  ssl-kd sweep pipelines/kd_zoo_digits.yaml --seeds 0 1 2 --baseline mbv2_alone
  ssl-kd report runs/sweeps/kd_digits                    # a sweep folder: table and error-bar plots
  ssl-kd validate pipelines/kd_digits.yaml
  ssl-kd list methods
  ssl-kd export runs/kd_digits/distill --format onnx torchscript safetensors --out exported/
  ssl-kd export runs/dualde_umls/dualde --format safetensors tsv --out exported/   # a KG (KGE) stage
  ssl-kd extract runs/kd_digits/distill --data digits --split train test --out feats/
  ssl-kd report runs/kd_digits
  ssl-kd data moving-digits --out data/moving_digits
  ssl-kd inspect /ckpt/moco_v2_800ep_pretrain.pth.tar --arch resnet50   # what a weights file holds, how it maps

overrides: STAGE.key=value sets one stage, defaults.key=value the shared defaults, and a bare key.path=value every
stage that has that key (e.g. student.arch=alexnet, data.root=/data/cifar). Values are parsed as YAML.
"""

EXPORT_DESCRIPTION = """Export a finished stage's model; every file is loaded back and checked against the eager model.

image models (a stage that trained a backbone): the feature extractor of --layer as
  onnx         feature_extractor.onnx (dynamic batch; onnxruntime)
  torchscript  feature_extractor.torchscript.pt (torch.jit.load, Python or C++)
  safetensors  model.safetensors (the state_dict; rebuild with the manifest's spec)

link-prediction models (a KG stage: TransE, RotatE, ComplEx), always with the id maps entities.tsv and
relations.tsv (header id<TAB>label, then one row per id):
  safetensors  embeddings.safetensors: entity_embeddings (E, D) and relation_embeddings (R, Dr) float32,
               arch / dim / gamma / p / spec in the header metadata
  tsv          entity_embeddings.tsv and relation_embeddings.tsv: label<TAB>v1<TAB>v2 ... per id, in id order
onnx and torchscript do not apply to a KG stage (an error says so). --layer and --pool-size are ignored there.

detectors (a detection stage: RetinaNet, FCOS), whole: one (1, 3, S, S) image in [0, 1] in; boxes, scores, labels
out (score threshold and NMS inside):
  onnx         detector.onnx (opset 17; onnxruntime)
  torchscript  detector.torchscript.pt (torch.jit.load)
safetensors does not apply to a detector (an error says so). --layer and --pool-size are ignored there.
Every export writes manifest.json (what the files hold, the source model's sha256, the measured differences).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssl-kd",
        description="Knowledge-distillation pretraining of lightweight models, as stage-based pipelines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a pipeline (skips complete stages, resumes interrupted ones)")
    run.add_argument("pipeline", type=Path, help="pipeline YAML file")
    run.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    run.add_argument("--run-dir", type=Path, help="output folder (default: runs/<pipeline name>)")
    run.add_argument("--from", dest="from_stage", metavar="STAGE", help="rerun this stage and all later ones")
    run.add_argument("--dry-run", action="store_true", help="print what each stage would do, run nothing")
    run.add_argument("-q", "--quiet", action="store_true", help="only warnings and the results table")
    run.add_argument("--no-report", action="store_true", help="do not write the HTML report at the end")
    run.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="keep stage folders in this content-addressed store (DIR/<fingerprint>/), linked from the run "
        "folder, so that runs with the same stage share it (what ssl-kd sweep does)",
    )
    run.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train with N DistributedDataParallel processes on this machine (launches torchrun; "
        "data.batch_size stays the global batch)",
    )

    _add_sweep_parser(commands)

    validate = commands.add_parser(
        "validate",
        help="check a pipeline file without running it",
        description="Check a pipeline's keys, types, values and stage references. Local paths (data.root, weights) "
        "that do not exist on this machine are listed, not errors: a pipeline written for other data still "
        "validates here, and `ssl-kd run` stops on them. --require-paths makes them errors too.",
    )
    validate.add_argument("pipeline", type=Path)
    validate.add_argument("overrides", nargs="*", metavar="key.path=value")
    validate.add_argument(
        "--require-paths", action="store_true", help="fail when a data.root or weights file does not exist here"
    )

    listing = commands.add_parser(
        "list",
        help="list registered models, methods, datasets and stage kinds",
        description="List what is registered; with a method's name, that method's stage keys, defaults and meanings.",
        epilog="examples:\n  ssl-kd list methods\n  ssl-kd list methods icd",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("what", nargs="?", choices=["models", "methods", "datasets", "stages", "domains"])
    listing.add_argument("name", nargs="?", help="with 'methods': a method whose stage keys to show")
    _add_export_parsers(commands)
    _add_data_parser(commands)
    _add_inspect_parser(commands)
    return parser


SWEEP_DESCRIPTION = """Run a pipeline over a grid of overrides x seeds and tabulate mean ± sample std per grid point,
stage and headline metric. Every run is an ordinary `ssl-kd run` in SWEEP_DIR/runs/POINT/seed=S; its stage folders
live in a store keyed by fingerprint (SWEEP_DIR/store/<fingerprint>/, linked from the run), so a stage that is the
same in several runs (a teacher the grid does not touch) is computed once. Rerunning the same command continues
where it stopped. Writes SWEEP_DIR/sweep.md, sweep.csv and sweep.json; exits 1 when a run failed.

The seed is set, per run, on every stage's keys named by the pipeline's `sweep: {seed_keys: [...]}` (default
engine.seed), except on the stages of `sweep: {fixed_seed_stages: [...]}`, which keep the pipeline's own seed and
so are shared by every seed.
"""


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    """The ``sweep`` subcommand."""
    sweep = commands.add_parser(
        "sweep",
        help="run a pipeline over seeds and a grid of overrides, shared stages computed once; mean ± std table",
        description=SWEEP_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("pipeline", type=Path, help="pipeline YAML file")
    sweep.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides of every run")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="S", help="the seed axis (default: 0)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="an override key and its values (YAML-typed), e.g. distill.tau=2,4,8; repeat for more axes "
        "(every combination runs)",
    )
    sweep.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="runs in N parallel processes (default 1), each with max(1, threads // N) CPU threads (threads: "
        "OMP_NUM_THREADS if set, else the cores) and, with several GPUs, one GPU each in turn",
    )
    sweep.add_argument("--sweep-dir", type=Path, help="output folder (default: runs/sweeps/<pipeline name>)")
    sweep.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="stage store, to share stages between sweeps (default: SWEEP_DIR/store)",
    )
    sweep.add_argument(
        "--baseline",
        metavar="STAGE_OR_POINT",
        help="add paired differences per seed against this stage (same run) or grid point (same seed and stage)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="print the runs and the shared stages, run nothing")
    sweep.add_argument("--report-only", action="store_true", help="re-aggregate the finished runs, run nothing")


def _sweep(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ssl_kd.scheduler import headline_metrics
    from ssl_kd.sweep.aggregate import SWEEP_MD, aggregate, baseline_kind, write_outputs
    from ssl_kd.sweep.grid import parse_grid
    from ssl_kd.sweep.runner import execute, existing_records, plan_sweep, shared_stages, summary

    axes = [parse_grid(spec) for spec in args.grid]
    sweep = plan_sweep(args.pipeline, args.overrides, axes, args.seeds, args.sweep_dir, args.store)
    points = list(dict.fromkeys(run.point for run in sweep.runs))
    baseline_kind(args.baseline, sweep.pipeline.stage_names, points)
    if args.dry_run:
        for run in sweep.runs:
            plan = ", ".join(f"{name}: {action}" for name, action in sweep.scheduler(run).plan().items())
            print(f"{run.name}: {plan}")
        for stage, groups in shared_stages(sweep).items():
            for group in groups:
                print(f"shared: {stage} {group}")
        return 0
    if args.report_only:
        records = existing_records(sweep)
    else:
        console = Console(file=sys.stderr)
        columns = (TextColumn("sweep runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("runs", total=len(sweep.runs))

            def done(record: dict) -> None:
                progress.advance(task)
                note = "" if record["status"] == "complete" else f" (exit code {record['returncode']}, {record['log']})"
                progress.console.print(f"{record['name']}: {record['status']}{note}")

            records = execute(sweep, args.jobs, done)
    rows = aggregate(records, headline_metrics(), args.baseline)
    paths = write_outputs(sweep.sweep_dir, summary(sweep, records, args.baseline), rows)
    print(paths[SWEEP_MD].read_text())
    print(f"sweep: {', '.join(str(path) for path in paths.values())}")
    failed = [record for record in records if record["status"] == "failed"]
    for record in failed:
        print(f"FAILED {record['name']} (exit code {record['returncode']}), log {record['log']}:", file=sys.stderr)
        print(record["log_tail"], file=sys.stderr)
    return 1 if failed else 0


def _add_inspect_parser(commands: argparse._SubParsersAction) -> None:
    """The ``inspect`` subcommand: a weights file's contents, layout and (with --arch) its mapping."""
    inspect = commands.add_parser(
        "inspect",
        help="show what a weights file holds, the layout it is recognised as and how it maps onto an arch",
        description="Read a weights file (nothing in it runs) and print its top-level keys, name prefixes, tensor "
        "and parameter counts and recognised layout; with --arch, which tensors would be loaded, dropped or are "
        "missing (the check a model spec's `weights:` makes), without building anything else.",
    )
    inspect.add_argument("file", type=Path, help=".pth, .pth.tar, .pt, .ckpt or .safetensors")
    inspect.add_argument("--arch", help="map onto this arch (e.g. resnet50, timm:convnext_atto)")
    inspect.add_argument("--num-classes", type=int, default=0, help="classes of the arch's head (default 0: headless)")
    inspect.add_argument("--weights-key", help="dotted key of the state dict (overrides the detection)")
    inspect.add_argument("--strip-prefix", help="name prefix of the backbone's tensors (overrides the detection)")


def _add_export_parsers(commands: argparse._SubParsersAction) -> None:
    """The ``export``, ``extract`` and ``report`` subcommands."""
    export = commands.add_parser(
        "export",
        help="export a stage's feature extractor, a KG stage's embeddings or a detector (verified against eager)",
        description=EXPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("stage_dir", type=Path, help="a finished stage folder with model.pt, e.g. runs/x/distill")
    export.add_argument(
        "--format",
        nargs="+",
        default=None,
        dest="formats",
        help="image model: onnx torchscript safetensors; KG (KGE) model: safetensors tsv; detector: onnx torchscript "
        "(default: all that apply)",
    )
    export.add_argument("--out", type=Path, required=True, help="output folder (files + manifest.json)")
    export.add_argument("--layer", default="features", help="tap to export (default: penultimate features)")
    export.add_argument("--pool-size", type=int, default=1, help="4-D maps are average-pooled to this size")
    export.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted max abs diff vs eager")

    extract = commands.add_parser("extract", help="extract features to .npy shards (resumable)")
    extract.add_argument("stage_dir", type=Path, help="a finished stage folder with model.pt")
    extract.add_argument("--data", help="dataset registry key (default: the model's training dataset)")
    extract.add_argument("--data-root", type=Path, help="local dataset path for datasets that need one")
    extract.add_argument("--split", nargs="+", default=["train", "test"], dest="splits", help="train and/or test")
    extract.add_argument("--out", type=Path, required=True, help="shard folder")
    extract.add_argument("--layer", nargs="+", default=["features"], dest="layers", help="taps, e.g. conv1 conv5")
    extract.add_argument("--pool-size", type=int, default=1, help="4-D maps are average-pooled to this size")
    extract.add_argument("--chunk-size", type=int, default=256, help="samples per shard and per batch")

    report = commands.add_parser(
        "report",
        help="write an HTML report (curves, results, confusion, embedding; for a sweep folder: its table and "
        "one error-bar plot per metric)",
    )
    report.add_argument("run_dir", type=Path, help="a run folder (runs/kd_digits) or a sweep folder (runs/sweeps/x)")


MOVING_DIGITS_SCHEMES = ("motion", "profile")  # generator.CLASS_SCHEMES, kept here so --help imports no torch
GENERATOR_FLAGS = {  # moving-digits generator setting -> (type, help); defaults: EMBEDDED_SETTINGS[--classes]
    "classes": (
        str,
        "class scheme: 'motion' (direction of a move, rotation or zoom) or 'profile' (how a "
        "translation in a random direction unfolds, and its pace); default motion",
    ),
    "train_per_class": (int, "training clips per class"),
    "test_per_class": (int, "test clips per class"),
    "frames": (int, "frames per clip"),
    "size": (int, "canvas side in pixels"),
    "travel": (float, "translation over a whole clip, in pixels"),
    "speed_jitter": (float, "per-clip speed factor drawn from 1 +- jitter"),
    "noise": (float, "std of per-frame Gaussian pixel noise, in 0..1 units"),
    "distractors": (int, "dimmer distractor digits drifting in random directions"),
    "tilt": (float, "the digit's angle at the middle frame is uniform in +- tilt degrees"),
    "seed": (int, "random seed; the files are a function of the settings"),
}


def _add_data_parser(commands: argparse._SubParsersAction) -> None:
    """The ``data`` subcommand: generate the embedded moving-digits videos."""
    data = commands.add_parser("data", help="generate embedded datasets (moving-digits videos)")
    kinds = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    moving = kinds.add_parser(
        "moving-digits",
        help="H.264 clips of moving sklearn digits in the UCF101 layout",
        description="H.264 clips of moving sklearn digits in the UCF101 layout. Unset flags take the settings of "
        "the embedded clips of the chosen --classes (ssl_kd.data.video.generator.EMBEDDED_SETTINGS).",
    )
    moving.add_argument("--out", type=Path, required=True, help="output folder (must not exist)")
    for name, (kind, description) in GENERATOR_FLAGS.items():
        choices = MOVING_DIGITS_SCHEMES if name == "classes" else None
        moving.add_argument(f"--{name.replace('_', '-')}", type=kind, choices=choices, help=description)


def _data(args: argparse.Namespace) -> int:
    """Generate moving digits: the embedded settings of the chosen class scheme, changed by the flags given."""
    from dataclasses import replace

    from ssl_kd.data.video.generator import EMBEDDED_SETTINGS, generate_moving_digits

    settings = {name: getattr(args, name) for name in GENERATOR_FLAGS if getattr(args, name) is not None}
    base = EMBEDDED_SETTINGS[settings.get("classes", "motion")]  # argparse admits only MOVING_DIGITS_SCHEMES
    print(f"moving digits: {generate_moving_digits(args.out, replace(base, **settings))}")
    return 0


def _setup_logging(quiet: bool) -> None:
    from ssl_kd.engine import distributed

    logger = logging.getLogger("ssl_kd")
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        prefix = f"[ssl-kd rank {distributed.rank()}]" if distributed.is_distributed() else "[ssl-kd]"
        handler.setFormatter(logging.Formatter(f"{prefix} %(message)s"))
        handler.setLevel(logging.WARNING if quiet or not distributed.is_main() else logging.INFO)
        logger.addHandler(handler)


def _launch_torchrun(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Re-run this command as ``torchrun --nproc-per-node N -m ssl_kd run ...`` (without ``--nproc``)."""
    import subprocess

    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(args.nproc)]
    command += ["--standalone", "-m", "ssl_kd", *rest]
    return subprocess.call(command)


def _run(args: argparse.Namespace) -> int:
    from ssl_kd.config import load_pipeline
    from ssl_kd.engine import distributed
    from ssl_kd.scheduler import Scheduler

    if args.nproc < 1:
        raise SslKdError(f"--nproc must be at least 1, got {args.nproc}")
    if args.nproc > 1 and not args.dry_run:
        load_pipeline(args.pipeline, args.overrides)  # fail fast, in one process, on a bad pipeline
        return _launch_torchrun(args, args.argv)
    pipeline = load_pipeline(args.pipeline, args.overrides)
    run_dir = args.run_dir or Path("runs") / pipeline.name
    scheduler = Scheduler(pipeline, run_dir, args.from_stage, args.store)
    if args.dry_run:
        for name, action in scheduler.plan().items():
            print(f"{name}: {action}")
        return 0
    distributed.init_from_env()
    try:
        _setup_logging(args.quiet)
        outcomes = scheduler.run()
    except BaseException:
        distributed.abort()  # no final barrier: the other ranks may be waiting in a collective
        raise
    distributed.shutdown()
    if not args.no_report and distributed.rank_from_env() == 0:
        from ssl_kd.report import REPORT_DIR, REPORT_FILE, build_report

        existing = run_dir / REPORT_DIR / REPORT_FILE
        unchanged = existing.is_file() and all(outcome.action == "skipped" for outcome in outcomes)
        print(f"report: {existing if unchanged else build_report(run_dir)}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from ssl_kd.config import load_pipeline

    missing: list[str] | None = None if args.require_paths else []
    pipeline = load_pipeline(args.pipeline, args.overrides, missing_paths=missing)
    stages = ", ".join(f"{s.name} ({s.kind})" for s in pipeline.stages)
    print(f"{args.pipeline}: ok: pipeline {pipeline.name!r} with stages {stages}")
    if missing:
        print("paths not on this machine (give them as overrides before `ssl-kd run`, which stops on them):")
        print("\n".join(f"  {line}" for line in missing))
    return 0


def _list(args: argparse.Namespace) -> int:
    from ssl_kd import builtins
    from ssl_kd.registry import DATASETS, DOMAINS, METHODS, MODELS, STAGES

    builtins.load()
    if args.name is not None:
        if args.what != "methods":
            raise ConfigError(f"a name ({args.name!r}) follows 'methods' only: ssl-kd list methods {args.name}")
        print(method_keys(args.name, METHODS.get(args.name)))
        return 0
    registries = {"models": MODELS, "methods": METHODS, "datasets": DATASETS, "stages": STAGES, "domains": DOMAINS}
    for name, registry in registries.items():
        if args.what in (None, name):
            print(f"{name}:")
            for key, item in registry.items():
                domain = getattr(item, "domain", None) or ", ".join(getattr(item, "domains", ()))
                print(f"  {key:<22} {f'[{domain}] ' if domain else ''}{summary(getattr(item, 'build', item))}")
    return 0


def summary(item: object) -> str:
    """The first line of ``item``'s docstring ("" without one)."""
    doc = (item.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def method_keys(name: str, method: type) -> str:
    """The stage keys ``method``'s config adds to every training stage's, each with its default and description."""
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    from ssl_kd.config.schema import TrainStageConfig

    lines = [f"{name} [{', '.join(method.domains)}]: {summary(method)}", "keys:"]
    config = method.config_class
    common = set(TrainStageConfig.model_fields)
    for key, field in config.model_fields.items():
        if key in common:
            continue
        if field.default is not PydanticUndefined:
            default = repr(field.default)
        elif field.default_factory is not None:
            value = field.default_factory()
            default = repr(value.model_dump(exclude_defaults=True) if isinstance(value, BaseModel) else value)
        else:
            default = "(required)"
        shown = field.alias or key
        lines.append(f"  {shown:<24} {default:<14} {field.description or ''}".rstrip())
    lines.append(f"and every training stage's: {', '.join(sorted(common - {'kind', 'name', 'method'}))}")
    return "\n".join(lines)


def _export(args: argparse.Namespace) -> int:
    from ssl_kd import builtins

    builtins.load()  # every model family registered (a detector's model.pt names its builder); export after stages
    from ssl_kd.export import MANIFEST_FILE, export_stage

    _setup_logging(quiet=False)
    manifest = export_stage(args.stage_dir, args.out, args.formats, args.layer, args.pool_size, args.tolerance)
    for name, entry in manifest["files"].items():
        files = ", ".join(str(args.out / file) for file in entry.get("files", [entry["file"]]))
        print(f"{name}: {files} (max abs diff {entry['max_abs_diff']:.3g})")
    if "id_maps" in manifest:
        print(f"id maps: {args.out / manifest['id_maps']['entities']}, {args.out / manifest['id_maps']['relations']}")
    print(f"manifest: {args.out / MANIFEST_FILE}")
    return 0


def _extract(args: argparse.Namespace) -> int:
    from ssl_kd.evaluation.extract import extract_to_shards, stage_data
    from ssl_kd.export import load_stage

    _setup_logging(quiet=False)
    data = stage_data(load_stage(args.stage_dir), args.data, args.data_root) if args.data or args.data_root else None
    written = extract_to_shards(
        args.stage_dir, args.out, data, args.splits, args.layers, args.pool_size, args.chunk_size
    )
    done = ", ".join(f"{split}: {count} new chunk(s)" for split, count in written.items())
    print(f"features: {args.out} ({done})")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from ssl_kd import builtins
    from ssl_kd.models import build_model
    from ssl_kd.models.weights import plan_weights, read_checkpoint

    checkpoint = read_checkpoint(args.file, args.weights_key, args.strip_prefix)
    print(f"file: {checkpoint.path}")
    print(f"top-level keys: {', '.join(checkpoint.top_keys) or '(a bare state dict)'}")
    print(f"state dict: {checkpoint.key or '(top level)'}; layout: {checkpoint.layout.name}")
    print(f"tensors: {len(checkpoint.tensors)}; parameters: {checkpoint.parameter_count:,}")
    print("prefixes: " + ", ".join(f"{prefix or '(none)'} {count}" for prefix, count in checkpoint.prefixes()))
    if args.arch is None:
        return 0
    builtins.load()
    plan = plan_weights(checkpoint, build_model(args.arch, args.num_classes))
    print(f"onto {plan.arch}: {len(plan.loaded)} tensors loaded")
    for reason, names in plan.dropped.items():
        print(f"  dropped ({reason}): {len(names)}, e.g. {names[0]}")
    for name, reason in plan.reinitialised.items():
        print(f"  reinitialised: {name} ({reason})")
    if plan.untracked:
        print(f"  BatchNorm counters absent (kept at 0): {len(plan.untracked)}")
    problems = plan.problems()
    for problem in problems:
        print(f"  problem: {problem}")
    print(
        "fits: yes" if not problems else "fits: no (a model spec with these weights would stop with the problems above)"
    )
    return 0 if not problems else 1


def _report(args: argparse.Namespace) -> int:
    from ssl_kd.report import build_report
    from ssl_kd.report.sweep import build_sweep_report, is_sweep_dir

    build = build_sweep_report if is_sweep_dir(args.run_dir) else build_report
    print(f"report: {build(args.run_dir)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ssl-kd``; user errors print one line and exit with status 2."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    unknown = [arg for arg in extra if arg.startswith("-") or not hasattr(args, "overrides")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:  # overrides given after options: `run FILE --run-dir D a.b=1`
        args.overrides = [*args.overrides, *extra]
    handlers = {
        "run": _run,
        "sweep": _sweep,
        "validate": _validate,
        "list": _list,
        "export": _export,
        "extract": _extract,
        "report": _report,
        "data": _data,
        "inspect": _inspect,
    }
    try:
        return handlers[args.command](args)
    except SslKdError as err:
        print(f"ssl-kd: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ssl-kd: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
