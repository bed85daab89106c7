"""The seed's pipeline, for every route: load → build each variant → save it → evaluate → compare."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from ..core.fingerprints import sentences_digest
from ..core.models import Classifier, load_classifier
from ..data.sst2 import calibration_sentences, load_sst2, training_examples
from ..measure.environment import default_threads, describe_environment
from ..measure.evaluation import Evaluation, check_batching
from ..measure.latency import check_threads, fixed_threads
from ..measure.measurement import measure_variant
from ..measure.profiles import latency_sentences, profile_examples, resolve_profile
from ..measure.statistics import add_statistics
from .record import make_record, write_json
from .configs import RunSettings
from .headline import time_headline
from .keys import BuildData, build_key, measurement_key, measurement_settings
from .store import Store, made_here
from .variants import BASELINE, VARIANTS, BuildInputs, Variant, build_variant, save_route, select_variants


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


@dataclass(frozen=True)
class Measurer:
    """How a run measures each route (`measure(clf) → (entry, Evaluation or None)`) and what that depends
    on besides the model (`keys.measurement_settings`)."""

    measure: Callable
    settings: dict


def _where_and_when(made: dict) -> dict:
    return {k: made[k] for k in ("date", "cpu", "cpu_flags", "commit")}


def _provenance(model: dict, measured: dict, ran: bool) -> dict:
    """Where and when a route was built and measured, and whether this run measured it or reused it."""
    return {"built": _where_and_when(model["made"]), "measured": _where_and_when(measured["made"]),
            "this_run": "measured" if ran else "reused from the store", "key": measured["key"]}


def _eval_info(evaluation: Evaluation | None) -> dict | None:
    return None if evaluation is None else {**evaluation.settings(), "n_truncated": evaluation.n_truncated}


def run_routes(chosen: list[Variant], fp32: Classifier, run: RunSettings, inputs_for, models_dir: Path,
               measurer: Measurer | None, store: Store, data: BuildData, progress: bool = True,
               desc: str = "variants", keep_models: bool = True) -> tuple[dict, dict | None]:
    """Build, save (in `models_dir/<route>/`) and measure each chosen route in order, each from the
    store when its key is there; returns the records and the first route's evaluation settings.

    A route this machine cannot run is recorded as skipped. A stacked route starts from its parent's
    model (built once, kept while a later route needs it, else loaded from the store or built again);
    its `setup_seconds` count the parent's build too, its details hold the parent's and its own step's
    seconds. A compiled route is stored uncompiled: measuring it again means compiling it again.
    Without a `measurer`, routes are only built into the store (nothing is published or measured).
    With `keep_models=False` only measurements are stored (models of random weights, for example)."""
    records, evaluation, kept, stored, keys = {}, None, {}, {}, {}

    def build(variant, config):
        parent = None
        if variant.parent:
            parent = kept.get(variant.parent)
            if parent is None and stored.get(variant.parent, {}).get("path"):
                parent = VARIANTS[variant.parent].load(stored[variant.parent]["path"], data.threads)
            if parent is None:  # its measurement was reused and its model not kept: build it again
                p = VARIANTS[variant.parent]
                with fixed_threads(data.threads):
                    parent = build_variant(p, fp32, p.configure(run), inputs_for(p))[0]
        with fixed_threads(data.threads):
            built, details, seconds = build_variant(variant, fp32, config, inputs_for(variant), parent)
        if variant.parent:
            own = records[variant.parent]
            details = {**own.get("details", {}), **details, "parent": variant.parent,
                       "own_setup_seconds": round(seconds, 3)}
            seconds += own["setup_seconds"]
        return built, {"setup_seconds": round(seconds, 3), "details": details}

    for i, variant in enumerate(tqdm(chosen, desc=desc, disable=not progress)):
        config = variant.configure(run)
        entry = {**describe_variant(variant), "config": config.as_dict()}
        reason = variant.unavailable()
        if reason is None and variant.parent and variant.parent not in stored:
            reason = f"it starts from {variant.parent}, which was not built"
        if reason:
            records[variant.name] = {**entry, "skipped": reason}
            continue
        keys[variant.name] = key = build_key(variant, config, keys.get(variant.parent), data)
        measure_key = measurement_key(key, keys.get(BASELINE), measurer.settings) if measurer else None
        model = store.find_model(variant.name, key) if keep_models else None
        measured = (store.find_measurement(variant.name, measure_key)
                    if measurer and (model or not keep_models) else None)
        built = None
        if (keep_models and model is None) or (measurer and measured is None and (variant.compiled or not model)):
            built, info = build(variant, config)

            def save(folder, built=built, config=config, details=info["details"]):
                weights = save_route(variant, built, config, details, folder)
                return {"weights": str(weights.relative_to(folder)), "checkpoint_bytes": weights.stat().st_size}

            if keep_models:
                model = store.put_model(variant.name, key, save, info)
            else:  # saved once, for its checkpoint's size; kept in the measurement only
                model = {**info, **save(Path(models_dir) / variant.name), "made": made_here()}
        stored[variant.name] = model or {}
        later = {v.parent for v in chosen[i + 1:]}
        kept = {name: clf for name, clf in kept.items() if name in later}
        if built is not None and variant.name in later and not variant.compiled:
            kept[variant.name] = built
        if measurer is None:  # build only (a CI job that fills the store for another to measure)
            records[variant.name] = {**entry, "setup_seconds": model["setup_seconds"], "stored_at": model["path"],
                                     "provenance": {"built": _where_and_when(model["made"])}}
            continue
        ran = measured is None
        if ran:
            if built is None:
                built = variant.load(model["path"], data.threads)
            value, result = measurer.measure(built)
            model_info = {k: model.get(k) for k in ("setup_seconds", "details", "checkpoint_bytes", "made")}
            measured = store.put_measurement(variant.name, measure_key, {"entry": value, "eval": _eval_info(result),
                                                                         "build": model_info})
        model = model or measured["value"]["build"]
        evaluation = evaluation or measured["value"]["eval"]
        published, checkpoint = {}, model.get("checkpoint_bytes")
        if keep_models:
            directory = store.publish_model(model, Path(models_dir) / variant.name)
            published = {"artifact": str(directory.resolve())}
            checkpoint = (directory / model["weights"]).stat().st_size
        details = model.get("details") or {}
        records[variant.name] = {
            **entry, "setup_seconds": model["setup_seconds"], **published, "checkpoint_bytes": checkpoint,
            **({"details": details} if details else {}), **measured["value"]["entry"],
            "provenance": _provenance(model, measured, ran)}
    return records, evaluation


def run_comparison(
    model: str | None = None,
    data: str | None = None,
    profile: str | None = None,
    out: str | Path | None = "results/comparison.json",
    models_dir: str | Path = "models",
    threads: int | None = None,
    batch_size: int = 32,
    padding: str = "longest",
    seed: int = 0,
    progress: bool = True,
    variants: str | list[str] | None = None,
    order: str = "length",
    store: Store | str | Path | None = None,
    measure: bool = True,
    headline: bool = False,
) -> dict:
    """Build and measure every chosen route (default: all), save each, and write the JSON record to `out`
    (None: return it only).

    Every built route and measurement is kept in the store (`store`: a `Store`, or its folder; default
    `store/` beside `models_dir`) and reused while nothing it depends on has changed (see `keys`).
    With `measure=False` the routes are only built into the store: the record lists them, unmeasured,
    and is not written. With `headline`, the routes a first page quotes are also timed in turn against
    each other (`headline.time_headline`, the record's `headline`)."""
    prof = resolve_profile(profile)
    threads = default_threads() if threads is None else threads
    check_settings(threads, batch_size, padding, order)  # before hours of loading, not after
    chosen = select_variants(variants)
    split = load_sst2(data, "validation")
    examples = profile_examples(split, prof, seed)
    timed = latency_sentences(examples, prof, seed)
    calibration = (calibration_sentences(data, prof.calibration_sentences, seed)
                   if any(v.needs_calibration for v in chosen) else [])
    train = (training_examples(data, None if prof.distill_examples is None
                                 else max(prof.train_examples, prof.distill_examples), seed)
             if any(v.needs_training for v in chosen) else None)

    fp32 = load_classifier(model)
    models_dir = Path(models_dir)
    store = Store.given(store, Path(models_dir).parent / "store", log=tqdm.write)
    data_keys = BuildData.of(fp32, calibration, train, threads)

    def measure_one(clf):
        return measure_variant(clf, examples, prof, threads, batch_size, padding, timed, progress=False,
                               baseline=fp32, seed=seed, order=order)

    measurer = Measurer(measure_one, measurement_settings(
        measure_one, ["helpers.measure.measurement"], threads,
        examples=sentences_digest(examples.sentences, examples.labels), timed=sentences_digest(timed),
        timing={"repeats": prof.repeats, "warmup": prof.warmup, "seq_lens": list(prof.seq_lens),
                "shape_budget_s": prof.shape_budget_s},
        eval={"batch_size": batch_size, "padding": padding, "order": order}, seed=seed))

    with store.locked(), tempfile.TemporaryDirectory(prefix="book-variants-") as scratch:
        def inputs_for(variant):
            inputs = BuildInputs(calibration, threads, Path(scratch) / variant.name, train=train, examples=examples)
            inputs.scratch.mkdir(parents=True)
            return inputs

        run = RunSettings.from_profile(prof, seed)
        record_variants, evaluation = run_routes(chosen, fp32, run, inputs_for, models_dir,
                                                 measurer if measure else None, store, data_keys, progress)
        if not measure:
            return {"routes": record_variants, "store": str(store.root)}
        record = _record(fp32, split, prof, seed, examples, calibration, threads, evaluation, store,
                         record_variants)

        def ready(name: str) -> Classifier:  # a route as the headline times it: compiled ones compiled again
            variant = VARIANTS[name]
            if name == BASELINE:
                return fp32
            if not variant.compiled:
                return variant.load(Path(record_variants[name]["artifact"]), threads)
            with fixed_threads(threads):
                return build_variant(variant, fp32, variant.configure(run), inputs_for(variant))[0]

        if headline:
            record["headline"] = time_headline(record, ready, store, timed, threads)
    if out is not None:
        write_json(record, out)
    return record


def _record(fp32, split, prof, seed: int, examples, calibration: list[str], threads: int, evaluation,
            store: Store, record_variants: dict) -> dict:
    """The comparison record of a run, with its statistics against FP32 eager."""
    record = make_record(
        "comparison", record_variants,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=fp32.source,
        data=split.source,
        split=split.split,
        profile=prof.name,
        seed=seed,
        n_examples=len(examples),
        labels=examples.labels,
        calibration={"split": "train", "n_sentences": len(calibration), "seed": seed},
        environment=describe_environment(threads),
        eval=evaluation,
        store=str(store.root),
    )
    add_statistics(record, seed=seed)  # accuracy intervals; McNemar and bootstrap against FP32
    return record
