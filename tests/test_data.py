import pytest

from conftest import write_parquet
from helpers import BookError, fixed_subset, load_sst2
from helpers.data.sst2 import HELD_OUT_MIN_WORDS, HELD_OUT_ROWS, held_out_examples, training_examples


def test_shared_validation_split_is_glue_sst2(shared_data):
    data = load_sst2(str(shared_data))
    assert len(data) == 872
    assert (data.labels.count(0), data.labels.count(1)) == (428, 444)
    assert data.label_names == ("negative", "positive")
    assert all(s.strip() for s in data.sentences)


def test_environment_variable_selects_local_data(monkeypatch, shared_data):
    monkeypatch.setenv("BOOK_DATA", str(shared_data))
    assert load_sst2().source == str(shared_data)


def test_fixed_subset_is_reproducible_and_ordered(shared_data):
    data = load_sst2(str(shared_data))
    a, b = fixed_subset(data, 40, seed=3), fixed_subset(data, 40, seed=3)
    assert a.sentences == b.sentences and len(a) == 40
    positions = [data.sentences.index(s) for s in a.sentences]
    assert positions == sorted(positions)
    assert fixed_subset(data, 40, seed=4).sentences != a.sentences
    assert fixed_subset(data, None) is data


def test_a_smaller_training_sample_is_the_start_of_a_larger_one(shared_data):
    small, large = training_examples(str(shared_data), 50), training_examples(str(shared_data), 400)
    assert large.sentences[:50] == small.sentences and large.labels[:50] == small.labels
    assert len(set(large.sentences)) > 350 and large.split == "train"
    assert training_examples(str(shared_data), 50, seed=1).sentences != small.sentences
    with pytest.raises(BookError, match="at least 1"):
        training_examples(str(shared_data), 0)


def test_the_held_out_slice_is_never_trained_on_and_has_validation_like_length(shared_data):
    train = training_examples(str(shared_data), None)
    held = held_out_examples(str(shared_data), 300)
    assert len(train) == 67_349 - HELD_OUT_ROWS and held.split == "train"
    assert min(len(s.split()) for s in held.sentences) >= HELD_OUT_MIN_WORDS
    seen = set(zip(train.sentences, train.labels))
    # SST-2 train repeats a few phrases; whole sentences of 12 words or more almost never recur
    assert sum((s, y) in seen for s, y in zip(held.sentences, held.labels)) <= 3
    assert held_out_examples(str(shared_data), 100).sentences == held.sentences[:100]
    with pytest.raises(BookError, match="held out"):
        training_examples(str(shared_data), 67_349)
    with pytest.raises(BookError, match="held-out train sentences of at least"):
        held_out_examples(str(shared_data), HELD_OUT_ROWS)


def _rows(sentences, labels):
    return {"sentence": sentences, "label": labels, "idx": list(range(len(sentences)))}


def test_missing_split_file_lists_what_is_there(tmp_path):
    write_parquet(tmp_path, "train", _rows(["fine"], [1]))
    with pytest.raises(BookError, match=r"validation.parquet not found.*train.parquet"):
        load_sst2(str(tmp_path))


def test_wrong_columns(tmp_path):
    write_parquet(tmp_path, "validation", {"text": ["good"], "target": [1]}, class_label=False)
    with pytest.raises(BookError, match=r"columns \['target', 'text'\]"):
        load_sst2(str(tmp_path))


@pytest.mark.parametrize("bad", [2, -1])
def test_labels_outside_zero_one(tmp_path, bad):
    write_parquet(tmp_path, "validation", {"sentence": ["good", "bad"], "label": [1, bad]}, class_label=False)
    with pytest.raises(BookError, match=r"1 labels outside \{0, 1\}"):
        load_sst2(str(tmp_path))


def test_empty_sentences(tmp_path):
    write_parquet(tmp_path, "validation", _rows(["good", "   ", "bad"], [1, 0, 0]))
    with pytest.raises(BookError, match=r"1 empty or missing sentences, at rows \[1\]"):
        load_sst2(str(tmp_path))


def test_unreadable_parquet(tmp_path):
    (tmp_path / "validation.parquet").write_text("not parquet at all")
    with pytest.raises(BookError, match="Could not read"):
        load_sst2(str(tmp_path))
