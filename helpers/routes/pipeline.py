"""The seed's pipeline, for every route: load → build each variant → save it → evaluate → compare."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from ..core.models import Classifier, load_classifier
from ..data.sst2 import calibration_sentences, load_sst2, training_examples
from ..measure.environment import default_threads, describe_environment
from ..measure.evaluation import Evaluation, check_batching
from ..measure.latency import check_threads, fixed_threads
from ..measure.measurement import measure_variant
from ..measure.profiles import latency_sentences, profile_examples, resolve_profile
from ..measure.statistics import add_statistics
from .report import SCHEMA_VERSION, write_json
from .configs import RunSettings
from .variants import VARIANTS, BuildInputs, Variant, build_variant, save_route, select_variants


def quantized_copy(clf: Classifier) -> Classifier:
    """The same classifier with its Linear layers dynamically quantized to INT8 (the original is untouched):
    the registry's `int8_dynamic` route."""
    variant = VARIANTS["int8_dynamic"]
    return variant.build(clf, variant.configure(RunSettings()), BuildInputs())[0]


def check_settings(threads: int, batch_size: int, padding: str, order: str = "length") -> None:
    """Refuse measurement settings that cannot work, with a message naming the setting."""
    check_threads(threads)
    check_batching(batch_size, padding, order)


def describe_variant(variant: Variant) -> dict:
    """The fields every variant's record carries, measured or skipped."""
    return {"label": variant.label, "method": variant.method, "precision": variant.precision,
            "compiled": variant.compiled, "needs_calibration": variant.needs_calibration,
            "changes_model": variant.changes_model,
            "deploys": variant.deploys, "api": variant.api}


def run_variant(variant: Variant, fp32: Classifier, run: RunSettings, inputs: BuildInputs, models_dir: Path,
                measure, parent: tuple[Classifier, dict] | None = None
                ) -> tuple[dict, Evaluation | None, Classifier | None]:
    """Build, save (in `models_dir/<route>/`) and measure one route with the config `run` gives it; a
    route this machine cannot run is recorded as skipped.

    A stacked route starts from `parent`: the model its parent route built, and that route's record.
    Its `setup_seconds` counts the parent's build too (the cost from the FP32 model), its details
    (what its build chose) the parent's (what was pruned or distilled) and its own step's seconds."""
    config = variant.configure(run)
    entry = {**describe_variant(variant), "config": config.as_dict()}
    reason = variant.unavailable()
    if reason is None and variant.parent and parent is None:
        reason = f"it starts from {variant.parent}, which was not built"
    if reason:
        return {**entry, "skipped": reason}, None, None
    with fixed_threads(inputs.threads):
        built, details, seconds = build_variant(variant, fp32, config, inputs, parent[0] if parent else None)
    if parent:
        details = {**parent[1].get("details", {}), **details, "parent": variant.parent,
                   "own_setup_seconds": round(seconds, 3)}
        seconds += parent[1]["setup_seconds"]
    directory = models_dir / variant.name
    weights = save_route(variant, built, config, details, directory)
    measured, evaluation = measure(built)
    return {**entry, "setup_seconds": round(seconds, 3), "artifact": str(directory.resolve()),
            "checkpoint_bytes": weights.stat().st_size, **({"details": details} if details else {}),
            **measured}, evaluation, built


def run_routes(chosen: list[Variant], fp32: Classifier, run: RunSettings, inputs_for, models_dir: Path, measure,
               progress: bool = True, desc: str = "variants") -> tuple[dict, Evaluation | None]:
    """`run_variant` for each chosen route in order, handing each stacked route its parent's model
    (built once, kept only while a later route needs it); returns the records and the first evaluation."""
    records, evaluation, kept = {}, None, {}
    for i, variant in enumerate(tqdm(chosen, desc=desc, disable=not progress)):
        parent = (kept[variant.parent], records[variant.parent]) if variant.parent in kept else None
        records[variant.name], result, built = run_variant(variant, fp32, run, inputs_for(variant), models_dir,
                                                           measure, parent)
        evaluation = evaluation or result
        later = {v.parent for v in chosen[i + 1:]}
        kept = {name: clf for name, clf in kept.items() if name in later}
        if built is not None and variant.name in later:
            kept[variant.name] = built
    return records, evaluation


def run_comparison(
    model: str | None = None,
    data: str | None = None,
    profile: str | None = None,
    out: str | Path = "results/comparison.json",
    models_dir: str | Path = "models",
    threads: int | None = None,
    batch_size: int = 32,
    padding: str = "longest",
    seed: int = 0,
    progress: bool = True,
    variants: str | list[str] | None = None,
    order: str = "length",
) -> dict:
    """Build and measure every chosen route (default: all), save each, and write the JSON record to `out`."""
    prof = resolve_profile(profile)
    threads = default_threads() if threads is None else threads
    check_settings(threads, batch_size, padding, order)  # before hours of loading, not after
    chosen = select_variants(variants)
    split = load_sst2(data, "validation")
    examples = profile_examples(split, prof, seed)
    timed = latency_sentences(examples, prof, seed)
    calibration = (calibration_sentences(data, prof.calibration_sentences, seed)
                   if any(v.needs_calibration for v in chosen) else [])
    train = training_examples(data, prof, seed) if any(v.needs_training for v in chosen) else None

    fp32 = load_classifier(model)
    models_dir = Path(models_dir)

    def measure(clf):
        return measure_variant(clf, examples, prof, threads, batch_size, padding, timed, progress=False,
                               baseline=fp32, seed=seed, order=order)

    with tempfile.TemporaryDirectory(prefix="book-variants-") as scratch:
        def inputs_for(variant):
            inputs = BuildInputs(calibration, threads, Path(scratch) / variant.name, train=train)
            inputs.scratch.mkdir(parents=True)
            return inputs

        record_variants, evaluation = run_routes(chosen, fp32, RunSettings.from_profile(prof, seed), inputs_for,
                                                 models_dir, measure, progress)

    record = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": fp32.source,
        "data": split.source,
        "split": split.split,
        "profile": prof.name,
        "seed": seed,
        "n_examples": len(examples),
        "labels": examples.labels,
        "calibration": {"split": "train", "n_sentences": len(calibration), "seed": seed},
        "environment": describe_environment(threads),
        "eval": {**evaluation.settings(), "n_truncated": evaluation.n_truncated},
        "variants": record_variants,
    }
    add_statistics(record, seed=seed)  # accuracy intervals; McNemar and bootstrap against FP32
    write_json(record, out)
    return record
