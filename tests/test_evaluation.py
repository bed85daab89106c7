import pytest

from helpers import BookError, evaluate, fixed_subset, load_classifier, load_sst2, predict
from helpers.measure.evaluation import disagreements


@pytest.fixture(scope="module")
def minilm(shared_model):
    return load_classifier(str(shared_model))


def test_fine_tuned_model_reads_sentiment(minilm):
    out = predict(minilm, ["a wonderful, moving film that I loved", "a dull, tedious and ugly mess"])
    assert out.labels == [1, 0]
    assert out.probabilities[0][1] > 0.9 and out.probabilities[1][0] > 0.9


def test_accuracy_is_the_fraction_of_correct_predictions(minilm, shared_data):
    data = fixed_subset(load_sst2(str(shared_data)), 40)
    result = evaluate(minilm, data, batch_size=16, progress=False)
    assert result.n_examples == 40 and len(result.predictions) == 40
    assert result.accuracy == sum(p == y for p, y in zip(result.predictions, data.labels)) / 40
    assert result.accuracy > 0.75  # a fine-tuned model, far above chance
    assert result.settings() == {"batch_size": 16, "padding": "longest", "max_length": 512, "order": "length"}


def test_fp32_predictions_do_not_depend_on_batching(minilm, shared_data):
    sentences = fixed_subset(load_sst2(str(shared_data)), 24).sentences
    one, many = predict(minilm, sentences, batch_size=1), predict(minilm, sentences, batch_size=8, padding="max_length")
    assert one.labels == many.labels
    assert max(abs(a[1] - b[1]) for a, b in zip(one.probabilities, many.probabilities)) < 1e-4


def test_batches_grouped_by_length_answer_in_data_order(minilm, shared_data):
    sentences = fixed_subset(load_sst2(str(shared_data)), 40).sentences
    lengths = [len(s.split()) for s in sentences]
    assert lengths != sorted(lengths)  # the data is not already in length order
    grouped, plain = predict(minilm, sentences, batch_size=8), predict(minilm, sentences, batch_size=8, order="data")
    assert grouped.labels == plain.labels
    assert max(abs(a[1] - b[1]) for a, b in zip(grouped.probabilities, plain.probabilities)) < 1e-4
    alone = [predict(minilm, [s], batch_size=1).logits[0] for s in sentences[:6]]
    assert all(abs(a[0] - b[0]) < 1e-3 for a, b in zip(alone, grouped.logits[:6]))


def test_dynamic_int8_answers_depend_on_the_batch_order(minilm, shared_data):
    from helpers import quantized_copy

    int8 = quantized_copy(minilm)
    sentences = fixed_subset(load_sst2(str(shared_data)), 64).sentences
    grouped, plain = predict(int8, sentences, batch_size=16), predict(int8, sentences, batch_size=16, order="data")
    assert max(abs(a[1] - b[1]) for a, b in zip(grouped.probabilities, plain.probabilities)) > 1e-4


def test_long_sentences_are_truncated_and_reported(tiny_bert):
    clf = load_classifier(str(tiny_bert))  # accepts 64 tokens
    long = " ".join(["remarkably"] * 30 + ["good"] * 60)
    out = predict(clf, ["short and sweet", long])
    assert out.truncated == [1] and out.max_length == 64 and len(out.labels) == 2


@pytest.mark.parametrize("bad", [[], [""], ["fine", "   "], [None]])
def test_empty_or_missing_sentences_are_refused(tiny_bert, bad):
    with pytest.raises(BookError):
        predict(load_classifier(str(tiny_bert)), bad)


def test_bad_settings_are_refused(tiny_bert):
    clf = load_classifier(str(tiny_bert))
    with pytest.raises(BookError, match="padding"):
        predict(clf, ["ok"], padding="left")
    with pytest.raises(BookError, match="batch_size"):
        predict(clf, ["ok"], batch_size=0)
    with pytest.raises(BookError, match="order"):
        predict(clf, ["ok"], order="random")


def test_disagreements():
    assert disagreements([0, 1, 1, 0], [0, 0, 1, 1]) == [1, 3]
    with pytest.raises(BookError):
        disagreements([0], [0, 1])
