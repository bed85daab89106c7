"""How much a run may do, as `RunSettings` made from its profile: the calibration sentences, training
steps and batch sizes that the registry writes into each route's config (`methods.configs`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..measure.profiles import Profile


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How much a build may do in this run: train sentences that calibrate, rank or train a route, the
    recovery and distillation steps, the batch sizes compiled routes compile for, the seed."""

    calibration_sentences: int = 0
    train_sentences: int = 0
    recovery_steps: int = 0
    distill_sentences: int | None = 0  # None: the whole train split
    distill_steps: int = 0
    held_out_sentences: int = 0  # held-out train sentences where a route chooses its settings
    qat_steps: int = 0
    batch_sizes: tuple[int, ...] = (1, 2)
    seed: int = 0
    # ONNX Runtime's INT8 settings for another instruction set than this CPU's (`ORT_PRESETS`): None, this
    # CPU's own. Only emulation (`bench --emulate`) builds the other presets, to compare their answers.
    ort_preset: str | None = None

    @classmethod
    def from_profile(cls, profile: Profile, seed: int = 0) -> "RunSettings":
        return cls(calibration_sentences=profile.calibration_sentences, train_sentences=profile.train_examples,
                   recovery_steps=profile.recovery_steps, distill_sentences=profile.distill_examples,
                   distill_steps=profile.distill_steps, held_out_sentences=profile.held_out_sentences,
                   qat_steps=profile.qat_steps, seed=seed)
