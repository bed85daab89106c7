"""Pruning: zero the smallest weights (unstructured), or remove whole attention heads and encoder layers
(structured); `training.fine_tune` recovers what was lost, on train sentences.

Works on BERT and DistilBERT sequence classifiers; any other architecture is refused with a clear error.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..core.anatomy import anatomy, attention, encoder_layers, heads_per_layer
from ..core.errors import BookError
from ..core.models import Classifier, classifier_from_folder, read_manifest, save_method
from ..data.sst2 import SentimentData
from ..measure.evaluation import by_length
from .training import labelled_batches, mean_loss



def _head_size(model: nn.Module) -> int:
    return attention(model, encoder_layers(model)[0]).attention_head_size


# --- unstructured -------------------------------------------------------------------------------------

def encoder_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The encoder's Linear layers (attention and feed-forward): what magnitude pruning may zero."""
    prefix = anatomy(model).layers
    return [(n, m) for n, m in model.named_modules() if n.startswith(prefix) and type(m) is nn.Linear]


def linear_sparsity(model: nn.Module) -> float:
    """The fraction of encoder Linear weights that are exactly zero."""
    weights = [m.weight for _, m in encoder_linears(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


@contextmanager
def _csr_beta_notice_silenced():
    """PyTorch warns that CSR tensors are "in beta"; the pruning chapter says so once, in prose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        yield


def sparse_storage_bytes(model: nn.Module) -> int:
    """The model's bytes if every encoder Linear weight were stored as a CSR sparse matrix (values, column
    indices and row pointers, as `torch.Tensor.to_sparse_csr` keeps them) and everything else dense."""
    from ..measure.size import model_bytes

    total = model_bytes(model)
    for _, module in encoder_linears(model):
        weight = module.weight.detach()
        with _csr_beta_notice_silenced():
            csr = weight.to_sparse_csr()
        total += sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices()))
        total -= weight.numel() * weight.element_size()
    return total


def dense_vs_sparse_matmul(weight: torch.Tensor, n_tokens: int, threads: int, repeats: int = 20) -> dict:
    """Median ms of `x @ weight.T` for `n_tokens` token vectors, with the weight dense and as CSR sparse."""
    import statistics
    import time

    from ..measure.latency import fixed_threads

    x = torch.randn(n_tokens, weight.shape[1])
    with _csr_beta_notice_silenced():
        sparse = weight.detach().to_sparse_csr()
    dense = weight.detach()

    def median_ms(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)

    with fixed_threads(threads), torch.inference_mode():
        return {"dense_ms": median_ms(lambda: x @ dense.T), "sparse_ms": median_ms(lambda: (sparse @ x.T).T),
                "sparsity": float((dense == 0).float().mean())}


# --- structured: heads ----------------------------------------------------------------------------------

def head_importance(clf: Classifier, data: SentimentData, batch_size: int = 32) -> torch.Tensor:
    """Importance of every head, (layers, heads): |∂ loss / ∂ gate| summed over `data` (train sentences), where
    a gate of 1 scales each head's output (Michel et al., 2019), normalised per layer. Batches hold
    sentences of similar length (less padding)."""
    model, parts = clf.model.eval(), anatomy(clf.model)
    size = _head_size(model)
    gates = [torch.ones(n, requires_grad=True) for n in heads_per_layer(model)]
    hooks = [layer.get_submodule(parts.projections[3]).register_forward_pre_hook(
        lambda _m, args, g=gate: (args[0] * g.repeat_interleave(size),) + args[1:])
        for layer, gate in zip(encoder_layers(model), gates)]
    importance = [torch.zeros(len(g)) for g in gates]
    try:
        for batch, labels in labelled_batches(clf, data.subset(by_length(clf, data.sentences)), batch_size):
            loss = nn.functional.cross_entropy(model(**batch).logits, labels)
            grads = torch.autograd.grad(loss, gates)
            for total, grad in zip(importance, grads):
                total += grad.abs()
    finally:
        for hook in hooks:
            hook.remove()
    scores = torch.nn.utils.rnn.pad_sequence(importance, batch_first=True)
    return scores / scores.norm(dim=1, keepdim=True).clamp_min(1e-12)


def least_important_heads(importance: torch.Tensor, fraction: float) -> dict[int, list[int]]:
    """The `fraction` of heads with the lowest importance, by layer; every layer keeps at least one head."""
    if not 0 <= fraction < 1:
        raise BookError(f"fraction must be in [0, 1), got {fraction}.")
    n_layers, n_heads = importance.shape
    chosen: dict[int, list[int]] = {}
    for flat in importance.flatten().argsort().tolist():
        if sum(map(len, chosen.values())) >= round(fraction * importance.numel()):
            break
        layer, head = divmod(flat, n_heads)
        if len(chosen.get(layer, [])) < n_heads - 1:
            chosen.setdefault(layer, []).append(head)
    return {layer: sorted(heads) for layer, heads in sorted(chosen.items())}


def _narrowed(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    weight = linear.weight.detach().index_select(dim, index).clone()
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None)
    out.weight = nn.Parameter(weight)
    if linear.bias is not None:
        out.bias = nn.Parameter((linear.bias.detach().index_select(0, index) if dim == 0 else linear.bias.detach()).clone())
    return out


def _prune_heads_in_place(model: nn.Module, heads: dict[int, list[int]]) -> None:
    parts, size = anatomy(model), _head_size(model)
    layers = encoder_layers(model)
    for layer_index, drop in heads.items():
        layer = layers[int(layer_index)]
        heads = attention(model, layer)
        n = getattr(heads, parts.head_count)
        keep = [h for h in range(n) if h not in set(drop)]
        if not keep or len(set(drop)) != len(drop) or any(not 0 <= h < n for h in drop):
            raise BookError(f"Layer {layer_index} has heads 0–{n - 1}; cannot remove {drop} (keep at least one).")
        index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep])
        for path, dim in zip(parts.projections, (0, 0, 0, 1)):
            parent, name = path.rsplit(".", 1)
            setattr(layer.get_submodule(parent), name, _narrowed(layer.get_submodule(path), index, dim))
        setattr(heads, parts.head_count, len(keep))
        if hasattr(heads, "all_head_size"):
            heads.all_head_size = len(keep) * size


def without_heads(clf: Classifier, heads: dict[int, list[int]]) -> Classifier:
    """A copy with the given heads ({layer: [head, …]}) removed: their rows of the query, key and value
    projections and their columns of the output projection are cut out, so the model is smaller and faster."""
    model = copy.deepcopy(clf.model).eval()
    _prune_heads_in_place(model, heads)
    return clf.with_model(model)


# --- structured: layers ---------------------------------------------------------------------------------

def _keep_layers_in_place(model: nn.Module, keep: list[int]) -> None:
    parts, layers = anatomy(model), encoder_layers(model)
    if not keep or sorted(set(keep)) != list(keep) or not all(0 <= i < len(layers) for i in keep):
        raise BookError(f"Keep a non-empty, increasing list of layers out of 0–{len(layers) - 1}; got {keep}.")
    parent, name = parts.layers.rsplit(".", 1)
    setattr(model.get_submodule(parent), name, nn.ModuleList([layers[i] for i in keep]))
    setattr(model.config, parts.config_layers, len(keep))


def with_layers(clf: Classifier, keep: list[int]) -> Classifier:
    """A copy keeping only the encoder layers `keep` (in order); the others are removed."""
    model = copy.deepcopy(clf.model).eval()
    _keep_layers_in_place(model, keep)
    return clf.with_model(model)


def layer_drop_loss(clf: Classifier, data: SentimentData, batch_size: int = 32) -> list[dict]:
    """For each encoder layer, the loss on `data` (train sentences) with that layer removed; least harmful first."""
    n = len(encoder_layers(clf.model))
    rows = [{"layer": i, "loss": mean_loss(with_layers(clf, [j for j in range(n) if j != i]), data, batch_size)}
            for i in range(n)]
    return sorted(rows, key=lambda r: r["loss"])


# --- saving -----------------------------------------------------------------------------------------------

def save_pruned(clf: Classifier, directory: str | Path) -> Path:
    """Save a structurally pruned classifier: config (with its remaining layers), tokenizer, weights, and
    how many heads each layer kept. (`from_pretrained` would refuse the narrowed weights.)"""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clf.model.config.save_pretrained(directory)
    clf.tokenizer.save_pretrained(directory)
    save_file({k: v.contiguous() for k, v in clf.model.state_dict().items()}, directory / "model.safetensors")
    save_method(clf, directory, "save_pruned", heads_per_layer=heads_per_layer(clf.model))
    return directory


def narrow_heads(model: nn.Module, counts: list[int]) -> None:
    """Give each layer of a freshly built model `counts[i]` heads, in place: the shapes a saved pruned
    model needs before its weights can be loaded (which heads were removed is in the weights)."""
    full = heads_per_layer(model)
    if len(counts) != len(full):
        raise BookError(f"The checkpoint has {len(counts)} layers; this configuration builds {len(full)}.")
    _prune_heads_in_place(model, {i: list(range(kept, n)) for i, (n, kept) in enumerate(zip(full, counts)) if kept < n})


def load_pruned(directory: str | Path) -> Classifier:
    """Load what `save_pruned` wrote: rebuild the architecture, narrow each layer to its saved head count,
    then load the weights (strictly: any mismatch is an error, never random weights)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    directory = Path(directory)
    manifest = read_manifest(directory)
    meta = manifest.get("method", {})
    if meta.get("saved_by") != "save_pruned":
        raise BookError(f"{directory} is not a pruned checkpoint (its manifest names {meta.get('saved_by')!r}); "
                        "see save_pruned.")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    narrow_heads(model, meta["heads_per_layer"])
    model.load_state_dict(load_file(directory / "model.safetensors"), strict=True)
    return classifier_from_folder(directory, model.eval(), manifest)
