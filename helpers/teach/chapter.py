"""What every chapter does first: resolve its parameters, fix seeds and threads, quiet the noise."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.quiet import quiet_third_party_output
from ..core.sources import display_name, resolve_data, resolve_model, shown_path
from ..data.sst2 import SentimentData, calibration_sentences, held_out_examples, load_sst2, training_examples
from ..measure.environment import default_threads
from ..measure.latency import check_threads
from ..measure.profiles import Profile, latency_sentences, profile_examples, resolve_profile
from ..routes.store import Store


@dataclass(frozen=True)
class Chapter:
    """A chapter's resolved parameters."""

    model: str
    data: str
    profile: Profile
    seed: int
    output_dir: Path
    threads: int

    @property
    def comparison_path(self) -> Path:
        return self.output_dir / "comparison.json"

    @property
    def shape_path(self) -> Path:
        return self.output_dir / "distilbert_shape.json"

    @property
    def models_dir(self) -> Path:
        return self.output_dir.parent / "models"

    def examples(self) -> SentimentData:
        """The validation sentences this chapter's profile measures (all 872 for `full`)."""
        return profile_examples(load_sst2(self.data, "validation"), self.profile, self.seed)

    def latency_sentences(self) -> list[str]:
        """The real sentences the benchmark times one by one at batch 1."""
        return latency_sentences(self.examples(), self.profile, self.seed)

    def train_sentences(self, n: int) -> list[str]:
        """`n` fixed sentences from the **train** split, for calibration (never validation)."""
        return calibration_sentences(self.data, n, self.seed)

    def train_examples(self) -> SentimentData:
        """The labelled **train** sentences that rank what to prune and recover it (as the pruned routes use)."""
        return training_examples(self.data, self.profile.train_examples, self.seed)

    def distill_examples(self) -> SentimentData:
        """The labelled **train** sentences a distilled student learns from (as the `distilled` route uses)."""
        return training_examples(self.data, self.profile.distill_examples, self.seed)

    def held_out_examples(self) -> SentimentData:
        """The labelled held-out **train** sentences where routes choose their settings (never trained on)."""
        return held_out_examples(self.data, self.profile.held_out_sentences, self.seed)

    def route_config(self, name: str):
        """The settings the build's route `name` uses with this chapter's profile and seed (its config)."""
        from ..routes.configs import RunSettings
        from ..routes.variants import VARIANTS

        return VARIANTS[name].configure(RunSettings.from_profile(self.profile, self.seed))

    def shown(self, path: str | Path) -> str:
        """A path as a page shows it: relative to the folder that holds `results/` and `models/` (never
        a path of the machine that built the book)."""
        return shown_path(Path(path).resolve(), (self.output_dir.parent,))

    def describe(self) -> str:
        """What this chapter runs on, for the top of its page: the model and data by name, the profile,
        and the machine, library versions, commit and time of this run (no paths of the machine)."""
        from datetime import datetime, timezone

        from ..measure.environment import describe_environment

        env = describe_environment(self.threads)
        flags = ", ".join(env["cpu_flags"]) or "no AVX2"
        return (f"model: {display_name(self.model)}   data: {display_name(self.data)}   "
                f"profile: {self.profile.name}   seed: {self.seed}   threads: {self.threads}\n"
                f"run on {env['cpu']} ({flags}), torch {env['torch']}, "
                f"commit {env['commit'] or 'unknown (not a git checkout)'}, "
                f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


def store_from_environment(fallback: Path, log=print) -> Store:
    """The store a chapter or a command uses: `$BOOK_STORE`, else `fallback`. With `BOOK_FRESH=1` (the
    book build's `--fresh`), entries made before `$BOOK_FRESH_SINCE` (the build's start; default now)
    are ignored. The one place below the command line where these variables are read."""
    fresh = os.environ.get("BOOK_FRESH", "").lower() in ("1", "true", "yes")
    since = float(os.environ.get("BOOK_FRESH_SINCE") or time.time()) if fresh else None
    return Store.at(os.environ.get("BOOK_STORE") or fallback, since, log)


def setup_chapter(model=None, data=None, profile=None, seed: int = 0, output_dir="../results",
                  threads: int | None = None) -> Chapter:
    """Resolve a chapter's `parameters` cell (None → environment → default) and prepare the run."""
    from .plotting import use_book_style

    quiet_third_party_output()
    use_book_style()
    torch.manual_seed(seed)
    if threads is not None:
        check_threads(threads)
    output_dir = Path(output_dir).expanduser().resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    return Chapter(
        model=str(resolve_model(model)),
        data=str(resolve_data(data)),
        profile=resolve_profile(profile, os.environ),
        seed=seed,
        output_dir=output_dir,
        threads=default_threads() if threads is None else threads,
    )


def glue_values(**values) -> None:
    """Make each value available to the chapter's prose as {glue:text}`name` (myst-nb), without showing it."""
    from myst_nb import glue

    for name, value in values.items():
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()  # np.float64(0.25) → 0.25: myst-nb formats a Python number, not its repr
        glue(name, value, display=False)


def glue_route(record: dict, name: str, prefix: str) -> dict:
    """Glue what prose says of one route, under `prefix`: `_ms` (median batch-1 latency), `_speedup`
    (× FP32 eager), `_vs_best` (× the fastest FP32 route), `_best_fp32` (that route's label), `_delta`
    (accuracy change, points) and `_pct` (size, % of FP32). Returns the route's `summary`."""
    from ..routes.report import summary

    s, routes = summary(record, name), record["routes"]
    glue_values(**{f"{prefix}_{k}": v for k, v in {
        "ms": routes[name]["latency"]["median"], "speedup": s["speedup"], "vs_best": s["speedup_vs_best_fp32"],
        "best_fp32": routes[s["best_fp32"]]["label"], "delta": s["accuracy_delta_pts"], "pct": s["size_pct"],
    }.items()})
    return s


def _log_reads(kind: str, record: dict) -> None:
    """Note which stored measurements this chapter read (`$BOOK_READS`, set by the book build): the
    build re-executes the chapter when one of them changes."""
    import json
    import os

    from ..routes.report import measurement_keys

    path = os.environ.get("BOOK_READS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"kind": kind, "keys": measurement_keys(record)}) + "\n")


def comparison_for(chapter: Chapter, progress: bool = True, variants: str | list[str] | None = None) -> dict:
    """This build's comparison record for the chosen routes (default: all; with a choice, every FP32 route
    of the same model that the book has introduced by then too, the baselines of its speedups; so no page
    names a route before the chapter that introduces it): each route and
    measurement comes from the store while nothing it depends on has changed, else it is built and
    measured now. The record of all routes is also written to `comparison.json`, with its headline:
    the fastest routes timed in turn against each other (`routes.headline`)."""
    from ..routes.pipeline import run_comparison
    from ..routes.variants import VARIANTS, select_variants

    whole = variants is None or variants == "all"
    if not whole:  # with every FP32 route of the same model: speedups are also against the fastest of them
        variants = [v.name for v in select_variants(variants)]
        latest = max(VARIANTS[n].chapter for n in variants)
        variants += [n for n, v in VARIANTS.items()
                     if v.precision == "fp32" and not v.changes_model and v.chapter <= latest]
    record = run_comparison(
        model=chapter.model, data=chapter.data, profile=chapter.profile.name,
        out=chapter.comparison_path if whole else None, models_dir=chapter.models_dir, threads=chapter.threads,
        seed=chapter.seed, progress=progress, variants=variants, headline=whole,
        store=store_from_environment(chapter.output_dir.parent / "store"),
    )
    _log_reads("comparison", record)
    return record


def shape_comparison_for(chapter: Chapter, progress: bool = True) -> dict:
    """Every route's size and latency on a DistilBERT-shaped classifier (from the store where unchanged)."""
    from ..routes.shapes import run_shape_comparison

    record = run_shape_comparison(chapter.model, chapter.data, chapter.profile.name, chapter.shape_path,
                                  chapter.threads, chapter.seed, progress=progress,
                                  store=store_from_environment(chapter.output_dir.parent / "store"))
    _log_reads("shape", record)
    return record
