"""What DistilBERT costs, without downloading it: a DistilBERT-shaped classifier with random weights.

Size and latency depend on the shape (layers, widths, vocabulary), not on the values of the weights;
accuracy does not transfer, so this record holds no accuracy.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..core.fingerprints import sentences_digest
from ..core.models import Classifier, load_classifier
from ..data.sst2 import calibration_sentences, held_out_examples, load_sst2, training_examples
from ..measure.environment import default_threads, describe_environment
from ..measure.latency import MIN_TIMED_SENTENCES, latency_on_sentences
from ..measure.profiles import Profile, latency_sentences, profile_examples, resolve_profile
from ..measure.size import MIB, model_bytes
from .configs import RunSettings
from .keys import BuildData, measurement_settings
from .pipeline import Measurer, run_routes
from .record import make_record, write_json
from .store import Store
from .variants import BuildInputs, select_variants

SHAPE_SOURCE = "distilbert-base-uncased shape (DistilBertConfig defaults), random weights"
SHAPE_SENTENCES = 100  # validation sentences timed per route (the profile's sample, cut)
SHAPE_LATENCY_BUDGET_S = 20.0  # seconds of timing per route: a slow route is timed on fewer sentences
SHAPE_TRAIN_SENTENCES = 32  # train sentences for the routes that calibrate, rank heads or train
RANDOM_WEIGHTS = "random weights: accuracy does not transfer from them"


def distilbert_shaped(tokenizer, seed: int = 0, **shape) -> Classifier:
    """DistilBERT-base's architecture (6 layers, 768 wide, 30,522-token vocabulary), 2 labels, random weights.

    `tokenizer` must use a BERT-uncased vocabulary (DistilBERT's): token ids must fit the embedding table.
    `shape` overrides DistilBertConfig fields (e.g. `n_layers=2, dim=64`: a small model for tests).
    """
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                              label2id={"NEGATIVE": 0, "POSITIVE": 1}, **shape)
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"The tokenizer has {len(tokenizer)} tokens; DistilBERT's table has {config.vocab_size}.")
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.model_input_names = ["input_ids", "attention_mask"]  # DistilBERT has no token types
    torch.manual_seed(seed)
    model = DistilBertForSequenceClassification(config).eval()
    max_length = min(config.max_position_embeddings, int(getattr(tokenizer, "model_max_length", 512)))
    return Classifier(model, tokenizer, SHAPE_SOURCE, max_length)


def _not_measured_in(profile: Profile) -> Callable[[], str]:
    def reason() -> str:
        return (f"the {profile.name} profile measures this shape on {', '.join(profile.shape_routes)} only; "
                "the full build measures every route")
    return reason


def run_shape_comparison(model: str | None = None, data: str | None = None, profile: str | None = None,
                         out: str | Path = "results/distilbert_shape.json", threads: int | None = None,
                         seed: int = 0, variants: str | list[str] | None = None, progress: bool = True,
                         store: Store | str | Path | None = None) -> dict:
    """Size, latency and setup time of every chosen route on the DistilBERT-shaped classifier.

    `model` supplies only the tokenizer (a BERT-uncased vocabulary); sentences for timing come from
    validation, calibration sentences from train, as in `run_comparison`; routes and measurements come
    from the store (`store`: a `Store` or its folder, default `store/` beside `out`'s folder) when their
    keys are there.
    """
    prof = resolve_profile(profile)
    threads = default_threads() if threads is None else threads
    chosen = [v if prof.shape_routes is None or v.name in prof.shape_routes else
              replace(v, requirements=(*v.requirements, _not_measured_in(prof)))
              for v in select_variants(variants)]
    tokenizer = load_classifier(model).tokenizer
    shaped = distilbert_shaped(tokenizer, seed)
    examples = profile_examples(load_sst2(data, "validation"), prof, seed)
    # Random weights: calibration ranges, what pruning ranks and what a student learns mean nothing here,
    # only the shapes do. So a few train sentences suffice (the routes that calibrate, rank or train need
    # some to run at all), and medians over SHAPE_SENTENCES sentences of the profile's sample are precise
    # enough for a record of sizes and latencies.
    timed = latency_sentences(examples, prof, seed)[:SHAPE_SENTENCES]
    calibration = (calibration_sentences(data, min(prof.calibration_sentences, SHAPE_TRAIN_SENTENCES), seed)
                   if any(v.needs_calibration for v in chosen) else [])
    train = (training_examples(data, SHAPE_TRAIN_SENTENCES, seed)
             if any(v.needs_training for v in chosen) else None)
    held_out = (held_out_examples(data, SHAPE_TRAIN_SENTENCES, seed)
                if any(v.needs_held_out for v in chosen) else None)

    def measure(clf):
        return {"size_bytes": model_bytes(clf.model),
                "latency": latency_on_sentences(clf, timed, threads, prof.warmup,
                                                SHAPE_LATENCY_BUDGET_S).to_dict()}, None

    measurer = Measurer(measure, measurement_settings(
        measure, ["helpers.measure.latency", "helpers.measure.size"], threads, timed=sentences_digest(timed),
        warmup=prof.warmup, budget_s=SHAPE_LATENCY_BUDGET_S))
    data_keys = BuildData.of(shaped, calibration, train, threads, held_out)
    store = Store.given(store, Path(out).resolve().parent.parent / "store")

    # Only batch 1 is timed here, so compiled routes compile for batch 1 only.
    # Nothing is trained on random weights (recovery and distillation steps stay 0).
    n_train = len(train) if train else 0
    run = RunSettings(calibration_sentences=len(calibration), train_sentences=n_train, distill_sentences=n_train,
                      held_out_sentences=len(held_out) if held_out else 0, batch_sizes=(1,), seed=seed)
    with store.locked(), tempfile.TemporaryDirectory(prefix="book-shape-") as scratch:
        def inputs_for(variant):
            (Path(scratch) / "build").mkdir(exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"{variant.name}-", dir=Path(scratch) / "build"))
            return BuildInputs(calibration, threads, folder, train=train, held_out=held_out)

        # random weights: only the measurements are worth keeping in the store
        results, _ = run_routes(chosen, shaped, run, inputs_for, Path(scratch) / "models", measurer, store,
                                data_keys, progress, "DistilBERT shape", keep_models=False)
    for entry in results.values():
        entry.pop("artifact", None)
        if "skipped" not in entry:
            entry["absent"] = {"accuracy": RANDOM_WEIGHTS, "predictions": RANDOM_WEIGHTS}
    record = make_record(
        "shape", results,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=SHAPE_SOURCE,
        tokenizer=str(model or tokenizer.name_or_path),
        n_parameters=sum(p.numel() for p in shaped.model.parameters()),
        profile=prof.name,
        seed=seed,
        latency_inputs=(f"{len(timed)} validation sentences, batch 1 (a route too slow to time them all in "
                        f"{SHAPE_LATENCY_BUDGET_S:.0f} s: the first of them within it, at least "
                        f"{MIN_TIMED_SENTENCES})"),
        environment=describe_environment(threads),
    )
    write_json(record, out)
    return record


def shape_rows(record: dict) -> list[dict]:
    """One row per route of a shape record: size and latency against FP32 eager and the fastest FP32 route."""
    routes = record["routes"]
    base = routes["fp32"]
    rows = []
    for name, v in routes.items():
        if "skipped" in v:
            rows.append({"route": name, "label": v["label"], "skipped": v["skipped"]})
            continue
        rows.append({"route": name, "label": v["label"], "size_mib": v["size_bytes"] / MIB,
                     "size_pct": 100 * v["size_bytes"] / base["size_bytes"], "latency_ms": v["latency"]["median"],
                     "timed_sentences": v["latency"]["repeats"], "speedup": v["speedup"],
                     "speedup_vs_best_fp32": v["speedup_vs_best_fp32"], "best_fp32": record["best_fp32"],
                     "setup_seconds": v["setup_seconds"]})
    return rows
