"""Loading and validating GLUE SST-2 (local parquet files or the hub)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BookError
from ..core.sources import Source, hub_failure, hub_is_reachable, resolve_data

SPLITS = ("train", "validation")
LABELS = (0, 1)


@dataclass(frozen=True)
class SentimentData:
    """Sentences with 0/1 labels, plus where they came from."""

    sentences: list[str]
    labels: list[int]
    label_names: tuple[str, ...]
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.sentences)

    def subset(self, indices: list[int]) -> "SentimentData":
        """The examples at `indices`, in that order."""
        return SentimentData(
            [self.sentences[i] for i in indices],
            [self.labels[i] for i in indices],
            self.label_names,
            self.source,
            self.split,
        )


def fixed_subset(data: SentimentData, n: int | None, seed: int = 0) -> SentimentData:
    """A reproducible sample of `n` examples kept in dataset order (all of them if n is None)."""
    if n is None or n >= len(data):
        return data
    if n <= 0:
        raise BookError(f"Asked for {n} examples; need at least 1.")
    return data.subset(sorted(random.Random(seed).sample(range(len(data)), n)))


def load_sst2(source: str | None = None, split: str = "validation") -> SentimentData:
    """Load one SST-2 split from `source` (a local directory, a hub id, or $BOOK_DATA) and validate it."""
    if split not in SPLITS:
        raise BookError(f"Unknown split {split!r}; choose one of {SPLITS}.")
    resolved = resolve_data(source)
    dataset = _load_local(resolved, split) if resolved.is_local else _load_hub(resolved, split)
    return _validated(dataset, str(resolved), split)


def _load_local(source: Source, split: str):
    import datasets

    path = Path(source.location) / f"{split}.parquet"
    if not path.is_file():
        found = sorted(p.name for p in Path(source.location).iterdir())
        raise BookError(
            f"{path} not found. A local SST-2 directory holds train.parquet and "
            f"validation.parquet; {source.location} holds {found or 'nothing'}."
        )
    try:
        return datasets.load_dataset("parquet", data_files={split: str(path)}, split=split)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise BookError(f"Could not read {path} as parquet: {err}") from err


def _load_hub(source: Source, split: str):
    import datasets

    if not hub_is_reachable():
        try:  # a copy in the local cache still works offline
            from datasets import DownloadConfig

            return datasets.load_dataset(
                source.location, "sst2", split=split, download_config=DownloadConfig(local_files_only=True)
            )
        except Exception:
            raise hub_failure("data", source, "the hub is unreachable from this machine") from None
    try:
        return datasets.load_dataset(source.location, "sst2", split=split)
    except Exception as err:
        raise hub_failure("data", source, f"{type(err).__name__}: {err}") from err


def _validated(dataset, source: str, split: str) -> SentimentData:
    columns = set(dataset.column_names)
    if not {"sentence", "label"} <= columns:
        raise BookError(
            f"{source} ({split}) has columns {sorted(columns)}; SST-2 needs `sentence` and `label`."
        )
    arrow = dataset.with_format("arrow")  # whole columns at once (row by row takes seconds on train)
    sentences, labels = arrow["sentence"].to_pylist(), arrow["label"].to_pylist()
    if len(sentences) == 0:
        raise BookError(f"{source} ({split}) has no rows.")
    bad_labels = [i for i, y in enumerate(labels) if y not in LABELS]
    if bad_labels:
        examples = sorted({labels[i] for i in bad_labels}, key=str)[:5]
        raise BookError(
            f"{source} ({split}): {len(bad_labels)} labels outside {{0, 1}} (e.g. {examples} at rows "
            f"{bad_labels[:5]}). SST-2's test split has no labels (-1) and cannot be evaluated."
        )
    empty = [i for i, s in enumerate(sentences) if not isinstance(s, str) or not s.strip()]
    if empty:
        raise BookError(f"{source} ({split}): {len(empty)} empty or missing sentences, at rows {empty[:5]}.")
    feature = dataset.features.get("label")
    names = tuple(getattr(feature, "names", None) or ("negative", "positive"))
    return SentimentData(list(sentences), [int(y) for y in labels], names, source, split)


def calibration_sentences(data: str | None, n: int, seed: int = 0) -> list[str]:
    """`n` sentences from the **train** split for calibration (choosing ranges on validation would flatter it)."""
    return fixed_subset(load_sst2(data, "train"), n, seed).sentences


# The last HELD_OUT_ROWS rows of one fixed shuffle of train (half of a smaller file) are held out: nothing trains on them, and
# settings (which layers stay FP32, how many steps, which learning rate) are chosen there, so that
# validation is measured once, afterwards. SST-2 train is mostly short phrases; validation holds whole
# sentences, so the held-out examples keep only rows of at least HELD_OUT_MIN_WORDS words (their quartiles
# are then 14, 18 and 23 words, validation's 13, 19 and 26).
HELD_OUT_ROWS = 6000
HELD_OUT_MIN_WORDS = 12


def _held_out_rows(train: SentimentData) -> int:
    return min(HELD_OUT_ROWS, len(train) // 2)


def _train_order(train: SentimentData, seed: int) -> list[int]:
    """One fixed shuffle of the train split: training takes its start, the held-out slice its end."""
    order = list(range(len(train)))
    random.Random(seed + 2).shuffle(order)
    return order


def training_examples(data: str | None, n: int | None, seed: int = 0) -> SentimentData:
    """`n` labelled **train** sentences (None: all but the held-out slice) for the routes that prune,
    fine-tune or distil (their chapters use the same): the first `n` of one fixed shuffle of the split, so a
    smaller sample is the start of a larger one (pruning ranks on the first sentences of those distillation
    trains on)."""
    train = load_sst2(data, "train")
    usable = _train_order(train, seed)[:len(train) - _held_out_rows(train)]
    n = len(usable) if n is None else n
    if n <= 0:
        raise BookError(f"Asked for {n} train sentences; need at least 1.")
    if n > len(usable):
        raise BookError(f"Asked for {n} train sentences; {source_name(train)} has {len(usable)} outside the "
                        f"{_held_out_rows(train)} held out for choosing settings.")
    return train.subset(usable[:n])


def held_out_examples(data: str | None, n: int, seed: int = 0,
                      min_words: int = HELD_OUT_MIN_WORDS) -> SentimentData:
    """`n` labelled **train** sentences of at least `min_words` words from the held-out slice (never trained
    on): where a route's settings are chosen, on sentences of validation-like length."""
    train = load_sst2(data, "train")
    held = _train_order(train, seed)[len(train) - _held_out_rows(train):]
    long_enough = [i for i in held if len(train.sentences[i].split()) >= min_words]
    if n <= 0 or n > len(long_enough):
        raise BookError(f"Asked for {n} held-out train sentences of at least {min_words} words; "
                        f"{source_name(train)} has {len(long_enough)}.")
    return train.subset(long_enough[:n])


def source_name(data: SentimentData) -> str:
    """Where `data` came from, and its split, for messages."""
    return f"{data.source} ({data.split})"
