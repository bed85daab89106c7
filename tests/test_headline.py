"""The headline: the contenders timed in one round-robin, ratios with paired intervals, from the store."""

from dataclasses import replace

import pytest
import torch

from helpers import BookError, load_classifier, recommend, run_comparison
from helpers.measure.round_robin import round_robin, timed_ratio
from helpers.routes.headline import headline_summary


class Recording(torch.nn.Module):
    """A BERT classifier that notes its name each time it runs."""

    def __init__(self, model, name, calls):
        super().__init__()
        self.inner, self.name, self.calls = model, name, calls

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
        self.calls.append(self.name)
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)


def test_round_robin_times_every_sentence_once_per_model_and_rotates_who_goes_first(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    calls = []
    models = {name: replace(clf, model=Recording(clf.model, name, calls)) for name in "abc"}
    sentences = ["a fine film .", "dull", "the best of the year , by far", "no"]
    times = round_robin(models, sentences, threads=1, warmup=1)
    assert {n: len(t) for n, t in times.items()} == {"a": 4, "b": 4, "c": 4}
    assert all(t > 0 for ts in times.values() for t in ts)
    timed = calls[3:]  # after one warm-up sentence through each model
    assert [timed[i * 3] for i in range(4)] == ["a", "b", "c", "a"]  # the first to run rotates
    with pytest.raises(BookError, match="at least two"):
        round_robin({"a": models["a"]}, sentences, threads=1)


def test_a_timed_ratio_is_a_ratio_of_medians_with_a_paired_interval():
    times = {"slow": [4.0, 6.0, 5.0, 5.5, 4.5], "fast": [2.0, 3.0, 2.5, 2.75, 2.25]}
    ratio = timed_ratio(times, "slow", "fast")
    assert ratio["ratio"] == pytest.approx(2.0)
    assert ratio["ci95"] == pytest.approx([2.0, 2.0])  # every sentence exactly twice as slow
    assert timed_ratio(times, "fast", "slow")["ratio"] == pytest.approx(0.5)


@pytest.fixture()
def compare(tmp_path, tiny_bert, tiny_data):
    def run():
        return run_comparison(model=str(tiny_bert), data=str(tiny_data), profile="smoke", out=None,
                              models_dir=tmp_path / "models", threads=1, progress=False,
                              variants="onnx_fp32,int8_dynamic", headline=True)
    return run


def test_the_headline_times_the_contenders_together_and_is_reused_while_they_are_unchanged(compare):
    record = compare()
    head = record["headline"]
    assert head["fp32"] == ["fp32", "onnx_fp32"]  # FP32 eager, then the FP32 routes of the same model
    left_out = recommend(record)["left_out"]
    assert set(head["compressed"]) <= {"int8_dynamic"} - set(left_out)  # only routes that keep the accuracy
    n = record["routes"]["fp32"]["latency"]["repeats"]
    assert {len(t) for t in head["times_ms"].values()} == {n}
    summary = headline_summary(record)
    assert summary["best_fp32"] in head["fp32"]
    eager = next(r for r in summary["rows"] if r["route"] == "fp32")
    assert eager["vs_fp32_eager"]["ratio"] == 1.0
    assert (summary["fastest"] is None) == (not head["compressed"])
    again = compare()["headline"]
    assert again["times_ms"] == head["times_ms"]  # from the store: nothing it depends on changed
    assert again["provenance"] == head["provenance"]
