"""Run profiles: `full` measures everything, `smoke` a small fixed subset for tests and CI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.errors import BookError
from ..data.sst2 import SentimentData, fixed_subset

PROFILE_ENV = "BOOK_PROFILE"
# The smoke build measures the DistilBERT shape on the routes chapter 14 quotes, an FP32 route to
# compare with and a stacked route; the full build measures every route (minutes at this shape).
SMOKE_SHAPE_ROUTES = ("fp32", "int8_dynamic", "int8_dynamic_embeddings", "onnx_fp32", "distilled",
                      "distilled_int8_dynamic")


@dataclass(frozen=True)
class Profile:
    """How much to measure: examples for accuracy and the latency repeat counts."""

    name: str
    n_examples: int | None  # None: the whole split
    latency_sentences: int  # real validation sentences timed one by one (batch 1)
    repeats: int  # timed runs per synthetic input
    warmup: int
    seq_lens: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    cell_timeout_s: int  # book build: a chapter cell running longer is taken as hung (see book_build)
    calibration_sentences: int  # train sentences that calibrate static INT8
    calibration_sizes: tuple[int, ...]  # the calibration study of the static-quantization chapter
    shape_budget_s: float  # seconds per synthetic shape in the route comparison (slow shapes: fewer runs)
    sparsities: tuple[float, ...]  # the magnitude-pruning scan of the pruning chapter
    train_examples: int  # labelled train sentences that rank what to prune and recover it
    recovery_steps: int  # fine-tuning batches after structured pruning
    distill_examples: int | None  # train sentences a distilled student learns from (None: all of them)
    distill_steps: int  # training batches of each distilled student
    held_out_sentences: int  # held-out train sentences (validation-like length) where settings are chosen
    qat_steps: int  # training batches of quantization-aware training
    shape_routes: tuple[str, ...] | None  # the routes the DistilBERT-shape study measures (None: all)
    full_build_only: tuple[str, ...] = ()  # routes this profile records as skipped, with the reason

    def leaves_out(self, route: str) -> str | None:
        """Why this profile leaves `route` to the full build, or None where it builds it."""
        if route not in self.full_build_only:
            return None
        return (f"the {self.name} profile leaves this route to the full build: compiling it takes a minute "
                "or more per batch shape here (the unit tests compile it on tiny models)")


PROFILES = {
    "full": Profile("full", None, 100, 30, 5, (8, 16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16, 32), 1800, 128,
                    (8, 32, 128, 512), 1.0, (0.0, 0.3, 0.5, 0.7, 0.9), 2048, 60, None, 1500,
                    256, 400, None),
    "smoke": Profile("smoke", 48, 12, 4, 2, (16, 64, 128), (1, 8), 900, 32, (8, 32), 1.0, (0.0, 0.5, 0.9), 64, 3, 64, 3, 24, 3,
                     SMOKE_SHAPE_ROUTES, full_build_only=("torchao_int8_compiled",)),
}


def resolve_profile(explicit: "str | Profile | None" = None, environ: Mapping[str, str] | None = None) -> Profile:
    """`explicit` (a profile or its name), else `environ[$BOOK_PROFILE]` where an environment is given (the
    command line and a chapter's set-up pass theirs: nothing below them reads one), else `full`."""
    if isinstance(explicit, Profile):
        return explicit
    name = explicit or (environ or {}).get(PROFILE_ENV, "").strip() or "full"
    if name not in PROFILES:
        raise BookError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)} (also via {PROFILE_ENV}).")
    return PROFILES[name]


def profile_examples(split: SentimentData, profile: Profile, seed: int = 0) -> SentimentData:
    """The sentences a profile measures accuracy on: all of them for `full`, a fixed subset for `smoke`."""
    return fixed_subset(split, profile.n_examples, seed)


def latency_sentences(examples: SentimentData, profile: Profile, seed: int = 0) -> list[str]:
    """The real sentences timed one by one at batch 1 (a fixed sample, independent of the accuracy subset's seed)."""
    return fixed_subset(examples, profile.latency_sentences, seed + 1).sentences
