"""The seed's pipeline in one call: load → save → quantize → save → evaluate → compare."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .data import load_sst2
from .environment import default_threads, describe_environment
from .evaluation import Evaluation, check_batching, evaluate
from .latency import check_threads, fixed_threads, latency_at_shape, latency_on_sentences
from .models import Classifier, load_classifier, save_classifier, save_quantized
from .profiles import latency_sentences, profile_examples, resolve_profile
from .quantization import known_quantization_warnings_silenced, quantize_dynamic_int8
from .report import SCHEMA_VERSION, write_json
from .size import parameter_breakdown, state_dict_bytes


def quantized_copy(clf: Classifier) -> Classifier:
    """The same classifier with its Linear layers dynamically quantized to INT8 (the original is untouched)."""
    with known_quantization_warnings_silenced():
        model = quantize_dynamic_int8(clf.model)
    return Classifier(model, clf.tokenizer, clf.source, clf.max_length)


def check_settings(threads: int, batch_size: int, padding: str) -> None:
    """Refuse measurement settings that cannot work, with a message naming the setting."""
    check_threads(threads)
    check_batching(batch_size, padding)


def measure_variant(clf: Classifier, data, profile, threads: int, batch_size: int, padding: str,
                    timed_sentences: list[str], progress: bool = True) -> tuple[dict, Evaluation]:
    """Accuracy, predictions, size and latency of one model variant."""
    with fixed_threads(threads):
        result = evaluate(clf, data, batch_size, padding, progress)
    by_len = [
        latency_at_shape(clf, n, 1, threads, profile.repeats, profile.warmup).to_dict()
        for n in profile.seq_lens
        if n <= clf.max_length
    ]
    return {
        "accuracy": result.accuracy,
        "predictions": result.predictions,
        "eval_seconds": round(result.seconds, 3),
        "size_bytes": state_dict_bytes(clf.model),
        "parameters": parameter_breakdown(clf.model),
        "latency_ms": latency_on_sentences(clf, timed_sentences, threads, profile.warmup).to_dict(),
        "latency_by_seq_len": by_len,
    }, result


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
) -> dict:
    """Run the whole FP32-vs-INT8 comparison, save both models and write the JSON record to `out`."""
    prof = resolve_profile(profile)
    threads = default_threads() if threads is None else threads
    check_settings(threads, batch_size, padding)  # before hours of loading, not after
    split = load_sst2(data, "validation")
    examples = profile_examples(split, prof, seed)
    timed = latency_sentences(examples, prof, seed)

    fp32 = load_classifier(model)
    int8 = quantized_copy(fp32)
    models_dir = Path(models_dir)
    save_classifier(fp32, models_dir / "baseline")
    with known_quantization_warnings_silenced():
        save_quantized(int8, models_dir / "quantized")

    variants, evaluation = {}, None
    for name, clf in (("fp32", fp32), ("int8_dynamic", int8)):
        variants[name], evaluation = measure_variant(
            clf, examples, prof, threads, batch_size, padding, timed, progress
        )
    variants["fp32"]["checkpoint_bytes"] = (models_dir / "baseline" / "model.safetensors").stat().st_size
    variants["int8_dynamic"]["checkpoint_bytes"] = (models_dir / "quantized" / "quantized_state_dict.pt").stat().st_size

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
        "environment": describe_environment(threads),
        "eval": {**evaluation.settings(), "n_truncated": evaluation.n_truncated},
        "variants": variants,
    }
    write_json(record, out)
    return record
