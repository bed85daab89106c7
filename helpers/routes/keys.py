"""The store's keys: what a built route and what a measurement of it depend on, hashed.

A route's build key holds its config, its parent's key, the source model's weights, the train
sentences it calibrates or trains on (and then the threads it computed with), the library versions
and the source of the code its builder, saver and loader run (`function_digest`: editing the
figures module changes no route). A measurement's key adds the sentences it measures, the profile's
timing settings, the threads and the machine (CPU model and ISA flags).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from ..core.fingerprints import (digest, function_digest, library_versions, model_digest, sentences_digest,
                                 source_digest)
from ..measure.environment import cpu_model_and_flags
from ..methods.configs import RouteConfig
from .variants import Variant


@dataclass(frozen=True)
class BuildData:
    """Fingerprints of what builds start from: the source model and the train sentences."""

    model: str
    calibration: str | None = None
    train: str | None = None
    threads: int = 1
    held_out: str | None = None

    @classmethod
    def of(cls, clf, calibration: list[str], train, threads: int, held_out=None) -> "BuildData":
        """The fingerprints of a run's source classifier, calibration sentences, labelled train sentences and
        labelled held-out train sentences."""
        return cls(model=model_digest(clf.model, clf.tokenizer),
                   calibration=sentences_digest(calibration) if calibration else None,
                   train=sentences_digest(train.sentences, train.labels) if train else None,
                   held_out=sentences_digest(held_out.sentences, held_out.labels) if held_out else None,
                   threads=threads)


def machine() -> dict:
    """The machine a measurement depends on: CPU model, ISA flags, torch's CPU capability."""
    cpu, flags = cpu_model_and_flags()
    return {"cpu": cpu, "flags": flags, "capability": torch.backends.cpu.get_cpu_capability()}


def build_key(variant: Variant, config: RouteConfig, parent_key: str | None, data: BuildData) -> str:
    """The key of `variant` built with `config` from `data` (and from its parent's build, `parent_key`)."""
    # results depend on reduction order
    computes = variant.needs_calibration or variant.needs_training or variant.needs_held_out
    return digest({
        "route": variant.name, "config": config.as_dict(), "parent": parent_key, "model": data.model,
        "calibration": data.calibration if variant.needs_calibration else None,
        "train": data.train if variant.needs_training else None,
        "held_out": data.held_out if variant.needs_held_out else None,
        "threads": data.threads if computes else None,
        "libraries": library_versions(),
        "code": function_digest([variant.build, variant.save, variant.load]),
    })


def measurement_settings(measure, modules: list[str], threads: int, **settings) -> dict:
    """What a measurement depends on besides the model: `settings` (sentence digests, profile…), the
    threads, the machine, the libraries and the code of `measure` and of the `modules` it uses."""
    return {**settings, "threads": threads, "machine": machine(), "libraries": library_versions(),
            "code": digest([source_digest(modules), inspect.getsource(measure)])}


# How `run_routes` lays out a stored measurement ({"entry", "eval", "build"}): part of every measurement's
# key, so that a measurement stored by an older layout is measured again instead of being misread.
# Raise it whenever that layout changes.
MEASUREMENT_LAYOUT = 2


def measurement_key(build: str, baseline: str | None, settings: dict) -> str:
    """The key of measuring the route built under `build` (timed beside the baseline built under `baseline`)."""
    return digest({"build": build, "baseline": baseline, "layout": MEASUREMENT_LAYOUT, **settings})
