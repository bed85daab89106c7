"""The seed's pipeline, for every route, in steps: plan each route (its config and key), build it into the
store, measure it, assemble the record. Each step has one return type; `compare`, `build-routes`, `bench`
and `build-book` compose them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from ..core.fingerprints import sentences_digest
from ..core.models import Classifier, load_classifier
from ..data.sst2 import calibration_sentences, held_out_examples, load_sst2, training_examples
from ..measure.environment import default_threads, describe_environment
from ..measure.evaluation import Evaluation, check_batching
from ..measure.latency import check_threads, fixed_threads
from ..measure.measurement import measure_variant
from ..measure.profiles import Profile, latency_sentences, profile_examples, resolve_profile
from ..measure.statistics import add_statistics
from .record import make_record, write_json
from ..methods.configs import RouteConfig
from .configs import RunSettings
from .headline import time_headline
from .keys import BuildData, build_key, measurement_key, measurement_settings
from .store import Store, made_here
from .variants import (BASELINE, VARIANTS, BuildInputs, Variant, build_variant, save_route, select_variants,
                       within_profile)


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


@dataclass
class PlannedRoute:
    """A chosen route before anything is built: its config and build key, or why it cannot run here."""

    variant: Variant
    config: RouteConfig
    entry: dict  # what every record of it carries: `describe_variant` and the config
    key: str | None = None
    skipped: str | None = None


@dataclass
class BuiltRoute:
    """A route after the build step: its model's entry (the store's, with `path`; or, for a model that is
    not kept, its setup time and details), whether the store already held it, and the classifier when
    this run made one that the measuring step needs (a compiled route, compiled)."""

    plan: PlannedRoute
    model: dict | None = None
    from_store: bool = False
    clf: Classifier | None = None


def plan_routes(chosen: list[Variant], run: RunSettings, data: BuildData) -> dict[str, PlannedRoute]:
    """Step 0: each route's config and build key (a stacked route's includes its parent's), or the reason
    this machine skips it. Nothing is built or read."""
    plans: dict[str, PlannedRoute] = {}
    for variant in chosen:
        config = variant.configure(run)
        plan = PlannedRoute(variant, config, {**describe_variant(variant), "config": config.as_dict()})
        parent = plans.get(variant.parent) if variant.parent else None
        plan.skipped = variant.unavailable()
        if plan.skipped is None and variant.parent and (parent is None or parent.skipped):
            plan.skipped = f"it starts from {variant.parent}, which was not built"
        if plan.skipped is None:
            plan.key = build_key(variant, config, parent.key if parent else None, data)
        plans[variant.name] = plan
    return plans


def build_routes(plans: dict[str, PlannedRoute], fp32: Classifier, inputs_for, store: Store,
                 threads: int, needs_classifier: Callable[[PlannedRoute, bool], bool] = lambda plan, stored: False,
                 keep_models: bool = True, scratch_models: Path | None = None, progress: bool = True,
                 desc: str = "routes") -> dict[str, BuiltRoute]:
    """Step 1: every planned route's model in the store (built now where the store lacks it).

    `needs_classifier(plan, stored)` says whether the measuring step needs this run's classifier of a
    route whose model the store holds (`stored`) or that is not kept: then it is built here and handed
    on (a compiled route is stored uncompiled, so measuring it means compiling it again). With
    `keep_models=False` nothing goes into the store: a model that is built is saved once under
    `scratch_models`, for its checkpoint's size. A stacked route starts from its parent's model (kept
    while a later route needs it, else loaded from the store or built again); its `setup_seconds`
    count the parent's build too, its details hold the parent's and its own step's seconds."""
    built: dict[str, BuiltRoute] = {}
    kept: dict[str, Classifier] = {}
    names = list(plans)

    def parent_model(variant: Variant) -> tuple[Classifier, dict]:
        """The parent's classifier and its model's entry (setup time, details)."""
        parent = built[variant.parent]
        if variant.parent in kept:
            return kept[variant.parent], parent.model
        if parent.model and parent.model.get("path"):
            return VARIANTS[variant.parent].load(parent.model["path"], threads), parent.model
        return build(plans[variant.parent])  # its model was not kept: build it again

    def build(plan: PlannedRoute) -> tuple[Classifier, dict]:
        variant = plan.variant
        parent, own = parent_model(variant) if variant.parent else (None, None)
        with fixed_threads(threads):
            clf, details, seconds = build_variant(variant, fp32, plan.config, inputs_for(variant), parent)
        if variant.parent:
            details = {**own.get("details", {}), **details, "parent": variant.parent,
                       "own_setup_seconds": round(seconds, 3)}
            seconds += own["setup_seconds"]
        return clf, {"setup_seconds": round(seconds, 3), "details": details}

    for i, (name, plan) in enumerate(tqdm(plans.items(), desc=desc, disable=not progress)):
        if plan.skipped:
            built[name] = BuiltRoute(plan)
            continue
        variant = plan.variant
        model = store.find_model(name, plan.key) if keep_models else None
        route = BuiltRoute(plan, model, from_store=model is not None)
        clf, wanted = None, needs_classifier(plan, model is not None)  # asked once: it may read the store
        if (keep_models and model is None) or wanted:
            clf, info = build(plan)

            def save(folder, clf=clf, details=info["details"]):
                weights = save_route(variant, clf, plan.config, details, folder)
                return {"weights": str(weights.relative_to(folder)), "checkpoint_bytes": weights.stat().st_size}

            if keep_models and model is None:
                route.model = store.put_model(name, plan.key, save, info)
            elif not keep_models:  # saved once, for its checkpoint's size; kept in the measurement only
                route.model = {**info, **save(Path(scratch_models) / name), "made": made_here()}
            if wanted:
                route.clf = clf
        built[name] = route
        later = {plans[n].variant.parent for n in names[i + 1:]}
        kept = {n: c for n, c in kept.items() if n in later}
        if clf is not None and name in later and not variant.compiled:
            kept[name] = clf
    return built


def measure_routes(built: dict[str, BuiltRoute], measurer: Measurer, store: Store, threads: int,
                   models_dir: Path, keep_models: bool = True) -> tuple[dict, dict | None]:
    """Step 2: each built route measured (from the store while its measurement key is there), its model
    published in `models_dir/<route>/`; returns each route's record entry and the evaluation settings."""
    records, evaluation = {}, None
    baseline = built[BASELINE].plan.key if BASELINE in built else None
    for name, route in built.items():
        plan = route.plan
        if plan.skipped:
            records[name] = {**plan.entry, "skipped": plan.skipped}
            continue
        key = measurement_key(plan.key, baseline, measurer.settings)
        # a model built afresh is measured afresh; one not kept is known by its measurement alone
        measured = store.find_measurement(name, key) if route.from_store or not keep_models else None
        ran = measured is None
        if ran:
            clf = route.clf or plan.variant.load(route.model["path"], threads)
            value, result = measurer.measure(clf)
            model_info = {k: route.model.get(k) for k in ("setup_seconds", "details", "checkpoint_bytes", "made")}
            measured = store.put_measurement(name, key, {"entry": value, "eval": _eval_info(result),
                                                         "build": model_info})
        route.clf = None  # measured: let it go
        model = route.model or measured["value"]["build"]
        evaluation = evaluation or measured["value"]["eval"]
        published, checkpoint = {}, model.get("checkpoint_bytes")
        if keep_models:
            directory = store.publish_model(model, Path(models_dir) / name)
            published = {"artifact": str(directory.resolve())}
            checkpoint = (directory / model["weights"]).stat().st_size
        details = model.get("details") or {}
        records[name] = {
            **plan.entry, "setup_seconds": model["setup_seconds"], **published, "checkpoint_bytes": checkpoint,
            **({"details": details} if details else {}), **measured["value"]["entry"],
            "provenance": _provenance(model, measured, ran)}
    return records, evaluation


def run_routes(chosen: list[Variant], fp32: Classifier, run: RunSettings, inputs_for, models_dir: Path,
               measurer: Measurer, store: Store, data: BuildData, progress: bool = True,
               desc: str = "routes", keep_models: bool = True) -> tuple[dict, dict | None]:
    """Plan, build and measure each chosen route (steps 0–2), each from the store when its key is there;
    returns the record entries and the first route's evaluation settings. With `keep_models=False`
    only measurements are stored (models of random weights, for example)."""
    plans = plan_routes(chosen, run, data)
    baseline = plans[BASELINE].key if BASELINE in plans else None

    def needs_classifier(plan: PlannedRoute, stored: bool) -> bool:
        if stored and not plan.variant.compiled:
            return False  # measured from the stored model, loaded when needed
        if keep_models and not stored:
            return True  # built afresh now, so measured afresh
        key = measurement_key(plan.key, baseline, measurer.settings)
        return store.find_measurement(plan.variant.name, key) is None

    built = build_routes(plans, fp32, inputs_for, store, data.threads, needs_classifier, keep_models,
                         Path(models_dir), progress, desc)
    return measure_routes(built, measurer, store, data.threads, models_dir, keep_models)


@dataclass
class _Inputs:
    """What a comparison's routes are built from: the FP32 model, the sentences, the store, the settings."""

    prof: Profile
    chosen: list[Variant]
    split: object
    examples: object
    timed: list[str]
    calibration: list[str]
    train: object
    held_out: object
    fp32: Classifier
    store: Store
    data: BuildData
    run: RunSettings

    def inputs_for(self, scratch: Path):
        def inputs_for(variant):
            # a folder of its own each time: the headline builds a compiled route a second time
            folder = Path(tempfile.mkdtemp(prefix=f"{variant.name}-", dir=scratch))
            return BuildInputs(self.calibration, self.data.threads, folder, train=self.train,
                               examples=self.examples, held_out=self.held_out)
        return inputs_for


def _comparison_inputs(model, data, profile, threads: int, seed: int, variants, store, models_dir,
                       ort_preset: str | None = None) -> _Inputs:
    prof = resolve_profile(profile)
    chosen = within_profile(select_variants(variants), prof)
    split = load_sst2(data, "validation")
    examples = profile_examples(split, prof, seed)
    calibration = (calibration_sentences(data, prof.calibration_sentences, seed)
                   if any(v.needs_calibration for v in chosen) else [])
    train = (training_examples(data, None if prof.distill_examples is None
                                 else max(prof.train_examples, prof.distill_examples), seed)
             if any(v.needs_training for v in chosen) else None)
    held_out = (held_out_examples(data, prof.held_out_sentences, seed)
                if any(v.needs_held_out for v in chosen) else None)
    fp32 = load_classifier(model)
    store = Store.given(store, Path(models_dir).parent / "store", log=tqdm.write)
    return _Inputs(prof, chosen, split, examples, latency_sentences(examples, prof, seed), calibration, train,
                   held_out, fp32, store, BuildData.of(fp32, calibration, train, threads, held_out),
                   replace(RunSettings.from_profile(prof, seed), ort_preset=ort_preset))


def build_comparison_routes(model: str | None = None, data: str | None = None, profile: str | None = None,
                            threads: int | None = None, seed: int = 0, variants: str | list[str] | None = None,
                            store: Store | str | Path | None = None, progress: bool = True,
                            models_dir: str | Path = "models",
                            ort_preset: str | None = None) -> dict[str, BuiltRoute]:
    """Step 1 alone, with the routes configured as `run_comparison` configures them: every chosen route's
    model in the store (`store`, default `store/` beside `models_dir`), nothing measured or published.
    `build-routes` and `bench` use it; `ort_preset` builds `onnx_int8_optimized` with another instruction
    set's settings (`RunSettings.ort_preset`)."""
    threads = default_threads() if threads is None else threads
    check_threads(threads)
    given = _comparison_inputs(model, data, profile, threads, seed, variants, store, models_dir, ort_preset)
    with given.store.locked(), tempfile.TemporaryDirectory(prefix="book-variants-") as scratch:
        return build_routes(plan_routes(given.chosen, given.run, given.data), given.fp32,
                            given.inputs_for(Path(scratch)), given.store, threads, progress=progress)


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
    headline: bool = False,
) -> dict:
    """Build and measure every chosen route (default: all), save each, and write the JSON record to `out`
    (None: return it only): plan, build, measure, assemble (`plan_routes`, `build_routes`,
    `measure_routes`, `record.make_record`).

    Every built route and measurement is kept in the store (`store`: a `Store`, or its folder; default
    `store/` beside `models_dir`) and reused while nothing it depends on has changed (see `keys`).
    With `headline`, the routes a first page quotes are also timed in turn against each other
    (`headline.time_headline`, the record's `headline`)."""
    threads = default_threads() if threads is None else threads
    check_settings(threads, batch_size, padding, order)  # before hours of loading, not after
    given = _comparison_inputs(model, data, profile, threads, seed, variants, store, models_dir)
    prof, examples, timed, fp32, store = given.prof, given.examples, given.timed, given.fp32, given.store

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
        inputs_for = given.inputs_for(Path(scratch))
        record_variants, evaluation = run_routes(given.chosen, fp32, given.run, inputs_for, Path(models_dir),
                                                 measurer, store, given.data, progress)
        record = _record(fp32, given.split, prof, seed, examples, given.calibration, threads, evaluation, store,
                         record_variants)

        def ready(name: str) -> Classifier:  # a route as the headline times it: compiled ones compiled again
            variant = VARIANTS[name]
            if name == BASELINE:
                return fp32
            if not variant.compiled:
                return variant.load(Path(record_variants[name]["artifact"]), threads)
            with fixed_threads(threads):
                return build_variant(variant, fp32, variant.configure(given.run), inputs_for(variant))[0]

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
