"""Latency, size and environment helpers: behaviour only, never a timing threshold."""

import pytest
import torch
from torch import nn

from helpers import (
    BookError,
    fixed_threads,
    latency_at_shape,
    latency_on_sentences,
    load_classifier,
    parameter_breakdown,
    quantized_copy,
    state_dict_bytes,
)
from helpers.measure.environment import RELEVANT_FLAGS, describe_environment
from helpers.measure.latency import MIN_REPEATS, percentile, runs_within, synthetic_batch


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return load_classifier(str(tiny_bert))


def test_percentile_interpolates():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 90) == pytest.approx(4.6)
    with pytest.raises(BookError):
        percentile([], 50)


@pytest.mark.parametrize("seq_len", [2, 17, 64])
def test_synthetic_batch_has_the_exact_shape(tiny, seq_len):
    batch = synthetic_batch(tiny, 3, seq_len)
    assert batch["input_ids"].shape == (3, seq_len) and int(batch["attention_mask"].sum()) == 3 * seq_len
    assert int(batch["input_ids"][0, 0]) == tiny.tokenizer.cls_token_id


def test_synthetic_batch_refuses_lengths_the_model_cannot_take(tiny):
    with pytest.raises(BookError, match="maximum 64"):
        synthetic_batch(tiny, 1, 65)


def test_latency_records_how_it_was_measured_and_restores_threads(tiny):
    before = torch.get_num_threads()
    result = latency_at_shape(tiny, 16, batch_size=2, threads=1, repeats=5, warmup=1)
    assert torch.get_num_threads() == before
    assert (result.repeats, result.batch_size, result.seq_len, result.threads) == (5, 2, 16, 1)
    assert 0 < result.p10 <= result.median <= result.p90 and result.iqr >= 0
    real = latency_on_sentences(tiny, ["a fine film", "a long and winding road of a movie"], threads=1, warmup=1)
    assert real.repeats == 2 and real.inputs == "validation sentences" and real.batch_size == 1


def test_a_time_budget_cuts_runs_of_a_slow_shape_but_never_below_the_minimum(tiny):
    assert runs_within(None, 5.0, 30, MIN_REPEATS) == 30
    assert runs_within(2.0, 0.1, 30, MIN_REPEATS) == 20
    assert runs_within(2.0, 3.0, 30, MIN_REPEATS) == MIN_REPEATS
    assert runs_within(2.0, 3.0, 3, MIN_REPEATS) == 3  # never more runs than asked for
    squeezed = latency_at_shape(tiny, 16, threads=1, repeats=50, warmup=9, budget_s=1e-9)
    assert (squeezed.repeats, squeezed.warmup) == (MIN_REPEATS, 1)
    roomy = latency_at_shape(tiny, 16, threads=1, repeats=7, warmup=3, budget_s=60.0)
    assert (roomy.repeats, roomy.warmup) == (7, 3)


def test_a_time_budget_times_a_slow_route_on_the_first_sentences_only(tiny):
    from helpers.measure.latency import MIN_TIMED_SENTENCES

    sentences = [f"film number {i} was {'good ' * (i % 7)}" for i in range(MIN_TIMED_SENTENCES + 10)]
    squeezed = latency_on_sentences(tiny, sentences, threads=1, warmup=1, budget_s=1e-9)
    assert squeezed.repeats == MIN_TIMED_SENTENCES
    roomy = latency_on_sentences(tiny, sentences, threads=1, warmup=1, budget_s=60.0)
    assert roomy.repeats == len(sentences)


def test_fixed_threads_refuses_zero():
    with pytest.raises(BookError):
        with fixed_threads(0):
            pass


def test_size_counts_every_parameter_once_and_int8_shrinks_only_linear(tiny):
    fp32 = parameter_breakdown(tiny.model)
    assert sum(g["params"] for g in fp32.values()) == sum(p.numel() for p in tiny.model.parameters())
    assert fp32["embeddings"]["params"] == sum(m.weight.numel() for m in tiny.model.modules() if isinstance(m, nn.Embedding))
    int8_model = quantized_copy(tiny).model
    int8 = parameter_breakdown(int8_model)
    assert int8["embeddings"] == fp32["embeddings"] and int8["other"] == fp32["other"]
    assert int8["linear"]["params"] == fp32["linear"]["params"]
    n_bias = sum(m.bias.numel() for m in tiny.model.modules() if isinstance(m, nn.Linear))
    n_weight = fp32["linear"]["params"] - n_bias
    assert int8["linear"]["bytes"] == n_weight + 4 * n_bias  # 1 byte per weight, FP32 biases
    assert state_dict_bytes(int8_model) < state_dict_bytes(tiny.model)


def test_environment_records_hardware_and_versions():
    env = describe_environment(threads=3)
    assert env["threads"] == 3 and env["torch"] == torch.__version__
    assert env["quantized_engine"] == torch.backends.quantized.engine
    assert set(env["cpu_flags"]) <= set(RELEVANT_FLAGS) and env["cpu"]


def test_environment_takes_the_flags_from_cpuid_and_agrees_with_torch():
    from helpers.measure.environment import cpuid_flags, int8_class

    env = describe_environment(threads=1)
    if cpuid_flags() is None:
        pytest.skip("not an x86 CPU: the flags come from /proc/cpuinfo")
    assert ("avx512_vnni" in env["cpu_flags"]) == torch.cpu._is_vnni_supported()
    assert ("amx_tile" in env["cpu_flags"]) == torch.cpu._is_amx_tile_supported()
    assert ("avx512f" in env["cpu_flags"]) == torch.cpu._is_avx512_supported()
    assert int8_class(env["cpu_flags"]) != "no INT8 dot product" or "avx2" not in env["cpu_flags"]
    assert (env["emulated"] is None) == (not env["cpu"].endswith("(emulated)"))


def test_environment_names_the_commit_of_the_books_sources(tmp_path):
    import subprocess

    from conftest import REPO
    from helpers.measure.environment import source_commit

    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the tests do not run from a git checkout")
    commit = describe_environment(threads=1)["commit"]
    assert head.stdout.startswith(commit.removesuffix("-dirty")) and len(commit.removesuffix("-dirty")) == 12
    assert source_commit(tmp_path) is None  # not a checkout: unknown, never a wrong commit


def test_interleaved_speedup_pairs_every_sentence_and_brackets_its_median(tiny):
    from helpers.measure.latency import interleaved_speedup

    sentences = ["a fine film", "a long and winding road of a movie", "flat", "good acting"] * 5
    result = interleaved_speedup(tiny, quantized_copy(tiny), sentences, threads=1, warmup=2, n_resamples=500)
    lo, hi = result["speedup_ci95"]
    assert lo <= result["speedup"] <= hi and lo > 0
    assert result["speedup"] == pytest.approx(result["baseline_median_ms"] / result["variant_median_ms"])
    assert result["n_sentences"] == 20 and result["threads"] == 1
    with pytest.raises(BookError, match="No sentences"):
        interleaved_speedup(tiny, tiny, [], threads=1)
