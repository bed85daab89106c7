"""Low-bit weights with INT8 activations, after training or during it: torchao's
`Int8DynamicActivationIntxWeightConfig` applied to a trained model (post-training quantization), and the
same grid learnt through quantization-aware training (`QATConfig`: the model trains through
fake-quantized weights and activations, then is converted to the real quantized tensors)."""

from __future__ import annotations

import copy as _copy
from pathlib import Path

import torch
from torch import nn

from ..core.errors import BookError
from ..core.models import Classifier, check_binary, classifier_from_folder, read_manifest, save_method
from ..data.sst2 import SentimentData
from ..measure.evaluation import evaluate
from .distillation import distillation_loss, teacher_logits
from .training import fidelity_curve, fine_tune, hard_label_loss

INTX_WEIGHTS = "intx_state_dict.pt"


def intx_base_config(config):
    """torchao's config for `config` (`methods.configs.IntxWeights` or a subclass): INT8 activations
    quantized per token at run time, weights in `config.bits` bits, symmetric, one scale per output
    channel (`group_size` None) or per group of inputs."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, PerAxis, PerGroup

    if not 1 < config.bits < 8:
        raise BookError(f"IntxWeights takes 2 to 7 bits; got {config.bits} (8 bits: use torchao_int8).")
    granularity = PerAxis(0) if config.group_size is None else PerGroup(config.group_size)
    return Int8DynamicActivationIntxWeightConfig(weight_dtype=getattr(torch, f"int{config.bits}"),
                                                 weight_granularity=granularity)


def quantize_intx(model: nn.Module, config, copy: bool = True) -> nn.Module:
    """Post-training quantization of every nn.Linear to `config`'s grid (see `intx_base_config`)."""
    from torchao.quantization import quantize_

    target = _copy.deepcopy(model) if copy else model
    quantize_(target.eval(), intx_base_config(config))
    return target


def qat_prepare(model: nn.Module, config) -> nn.Module:
    """A copy of `model` whose Linear layers fake-quantize their weights and inputs as `config`'s grid
    would, in the forward pass, while gradients flow through the rounding unchanged (straight-through)."""
    from torchao.quantization import quantize_
    from torchao.quantization.qat import QATConfig

    target = _copy.deepcopy(model)
    quantize_(target, QATConfig(intx_base_config(config), step="prepare"))
    return target


def qat_convert(model: nn.Module, config) -> nn.Module:
    """The fake-quantized model converted in place to `config`'s real quantized tensors."""
    from torchao.quantization import quantize_
    from torchao.quantization.qat import QATConfig

    quantize_(model.eval(), QATConfig(intx_base_config(config), step="convert"))
    return model


def train_qat(clf: Classifier, train: SentimentData, held_out: SentimentData, config,
              progress: bool = False) -> tuple[Classifier, dict]:
    """Quantization-aware training: fine-tune a fake-quantized copy of `clf` for `config.steps` batches of
    `train` (on the labels, or with `config.alpha` > 0 on `clf`'s own soft targets as well), measure it
    on `held_out` at `config.points` evenly spaced steps (and before the first), keep the weights of the
    point whose answers lie closest to `clf`'s there (the least mean KL divergence, the earliest where
    tied: step 0 is the post-training model), and convert them; returns the converted classifier and what
    the training chose and saw. Closeness, not held-out accuracy: `clf` was fine-tuned on every train
    sentence, the held-out slice included, so its accuracy there is near 100% and saturates."""
    if not len(held_out):
        raise BookError("Quantization-aware training chooses its step on held-out train sentences; none given.")
    loss = hard_label_loss
    if config.alpha and config.steps:  # the FP32 model teaches its fake-quantized copy (`distillation_loss`)
        loss = distillation_loss(teacher_logits(clf, train), config.temperature, config.alpha)
    reference = torch.tensor(evaluate(clf, held_out, progress=False).logits)
    prepared = clf.with_model(qat_prepare(clf.model, config))
    curve, measure = fidelity_curve(prepared, held_out, reference, config.steps, config.points)
    best = {"step": 0, "kl": curve[0][2], "state": _copy.deepcopy(prepared.model.state_dict())}

    def keep_best(step: int) -> None:
        measure(step)
        if curve[-1][0] == step and curve[-1][2] < best["kl"]:
            best.update(step=step, kl=curve[-1][2], state=_copy.deepcopy(prepared.model.state_dict()))

    losses = [] if config.steps == 0 else fine_tune(  # 0 steps: the shape study times it untrained
        prepared, train, config.steps, lr=config.lr, seed=config.seed, warmup=config.warmup, progress=progress,
        desc="quantization-aware training", loss=loss, after_step=keep_best)
    prepared.model.load_state_dict(best["state"])
    converted = prepared.with_model(qat_convert(prepared.model, config))
    chosen = next(point for point in curve if point[0] == best["step"])
    return converted, {"ptq_twin": config.ptq_twin, "chosen_step": best["step"], "chosen_by": "held_out_kl",
                       "held_out_kl": chosen[2], "held_out_accuracy": chosen[1],
                       "held_out_curve": [[s, a] for s, a, _ in curve],
                       "held_out_kl_curve": [[s, kl] for s, _, kl in curve],
                       "losses": [round(x, 5) for x in losses]}


def intx_grid(model: nn.Module) -> dict:
    """The grid of a model `quantize_intx` made: its bits, and its group size (None: one per channel)."""
    bits, blocks = set(), set()  # (group width, row width) of every low-bit weight
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if type(weight).__name__ == "IntxUnpackedToInt8Tensor":
            bits.add(int(str(weight.target_dtype).removeprefix("torch.int")))
            blocks.add((weight.block_size[-1], weight.shape[-1]))
    groups = {g for g, row in blocks if g < row}  # a group as wide as its row is that row's channel
    if len(bits) != 1 or len(groups) > 1 or any(g != row and g not in groups for g, row in blocks):
        raise BookError(f"Expected one low-bit grid over the Linear layers (quantize_intx); found {sorted(bits)} "
                        f"bits and groups {sorted(blocks)}.")
    return {"bits": bits.pop(), "group_size": groups.pop() if groups else None}


def save_intx(clf: Classifier, directory: str | Path) -> Path:
    """Config, tokenizer and the quantized state_dict (torchao's tensors: INT8 storage for the low-bit
    values, a scale per channel or group), and the grid, to rebuild the skeleton when loading."""
    grid = intx_grid(clf.model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clf.model.config.save_pretrained(directory)
    clf.tokenizer.save_pretrained(directory)
    torch.save(clf.model.state_dict(), directory / INTX_WEIGHTS)
    save_method(clf, directory, "save_intx", **grid, torch=torch.__version__)
    return directory / INTX_WEIGHTS


def load_intx(directory: str | Path) -> Classifier:
    """Load what `save_intx` wrote: rebuild the model, quantize it to the same grid, load the weights."""
    from types import SimpleNamespace

    from transformers import AutoConfig, AutoModelForSequenceClassification

    directory = Path(directory)
    manifest = read_manifest(directory)
    meta = manifest.get("method", {})
    if meta.get("saved_by") != "save_intx":
        raise BookError(f"{directory} was not saved by save_intx (its manifest names {meta.get('saved_by')!r}).")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    check_binary(config, str(directory))
    skeleton = AutoModelForSequenceClassification.from_config(config).eval()
    model = quantize_intx(skeleton, SimpleNamespace(bits=meta["bits"], group_size=meta["group_size"]), copy=False)
    state = torch.load(directory / INTX_WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True, assign=True)
    return classifier_from_folder(directory, model.eval(), manifest)
