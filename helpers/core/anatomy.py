"""What the book knows about a model's architecture, in one place.

- Where a BERT or DistilBERT classifier keeps its encoder layers, each layer's attention projections
  and heads, and its feed-forward Linear layers: chapters and methods ask here instead of naming a
  module path of one architecture. Any other architecture is refused with a clear error.
- Which of the tokenizer's outputs a model takes: one rule for every route (eager, compiled,
  exported, ONNX), so that a BERT tokenizer's `token_type_ids` never reach a DistilBERT model.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from .errors import BookError


@dataclass(frozen=True)
class Anatomy:
    """Where an architecture keeps its parts (attribute paths, relative to a layer where they repeat)."""

    layers: str  # the nn.ModuleList of encoder layers, relative to the classifier
    projections: tuple[str, str, str, str]  # query, key, value and output projections of the attention
    feed_forward: tuple[str, str]  # the feed-forward block's two Linears: widen, then narrow back
    head_count: str  # the attention module's attribute holding its number of heads
    config_heads: str  # the config field holding the number of heads per layer
    config_layers: str  # the config field holding the number of encoder layers


ANATOMIES = {
    "bert": Anatomy("bert.encoder.layer",
                    ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"),
                    ("intermediate.dense", "output.dense"), "num_attention_heads", "num_attention_heads",
                    "num_hidden_layers"),
    "distilbert": Anatomy("distilbert.transformer.layer",
                          ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"),
                          ("ffn.lin1", "ffn.lin2"), "n_heads", "n_heads", "n_layers"),
}


def architecture(model: nn.Module) -> str | None:
    """The model's `config.model_type` (e.g. "bert", "distilbert"), or None when it has no config."""
    return getattr(getattr(model, "config", None), "model_type", None)


def anatomy(model: nn.Module) -> Anatomy:
    """The layout of a known architecture (BERT, DistilBERT); any other is refused."""
    kind = architecture(model)
    if kind not in ANATOMIES:
        raise BookError(f"This needs the layout of the model's layers, which the book knows for "
                        f"{sorted(ANATOMIES)} models only; this one is {kind!r}.")
    return ANATOMIES[kind]


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's layers, first to last."""
    return model.get_submodule(anatomy(model).layers)


def attention(model: nn.Module, layer: nn.Module) -> nn.Module:
    """The self-attention module of one encoder layer (the one that holds the heads)."""
    return layer.get_submodule(anatomy(model).projections[0].rsplit(".", 1)[0])


def heads_per_layer(model: nn.Module) -> list[int]:
    """How many attention heads each encoder layer has (after any pruning)."""
    return [getattr(attention(model, layer), anatomy(model).head_count) for layer in encoder_layers(model)]


def feed_forward_linears(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every feed-forward Linear, layer by layer, the widening one first."""
    parts = anatomy(model)
    return [(f"{parts.layers}.{i}.{path}", layer.get_submodule(path))
            for i, layer in enumerate(encoder_layers(model)) for path in parts.feed_forward]


# --- inputs --------------------------------------------------------------------------------------

def _declared_inputs(model) -> list[str]:
    """The inputs a model names: exported graphs and ONNX sessions list them (`input_names`); a
    transformers model names them in its forward's signature (`**kwargs` accepts, but does not use)."""
    declared = getattr(model, "input_names", None)
    if declared is not None:
        return list(declared)
    forward = getattr(model, "_orig_mod", model).forward  # a compiled model: the model it wraps
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [n for n, p in inspect.signature(forward).parameters.items() if p.kind in kinds]


def model_input_names(model, tokenizer) -> list[str]:
    """The tokenizer's outputs that the model takes, in the tokenizer's order: the book's one rule."""
    declared = _declared_inputs(model)
    names = [n for n in tokenizer.model_input_names if n in declared]
    if "input_ids" not in names:
        raise BookError(f"The model takes {declared} and the tokenizer gives {tokenizer.model_input_names}: "
                        "they share no input_ids, so this tokenizer cannot feed this model.")
    return names


def model_inputs(model, tokenizer, sentences, **options) -> dict:
    """`tokenizer(sentences, **options)` as PyTorch tensors, keeping only the inputs the model takes."""
    batch = tokenizer(sentences, return_tensors="pt", **options)
    return {n: batch[n] for n in model_input_names(model, tokenizer)}
