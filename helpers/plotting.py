"""The book's figures: one style, one colour per variant, one function per kind of chart."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator, ScalarFormatter
import torch

from .numerics import QuantParams
from .size import MIB
from .variants import VARIANTS, color, label

COLORS = {name: v.color for name, v in VARIANTS.items()}


def use_book_style() -> None:
    """A quiet, readable matplotlib style shared by every chapter."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 150, "figure.figsize": (7.5, 4.0), "font.size": 10.5,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
        "axes.titleweight": "bold", "axes.titlesize": 11.5, "legend.frameon": False,
    })


def plot_quantization_grid(x: torch.Tensor, qp: QuantParams, title: str = ""):
    """Left: the values of a tensor and the range the integer grid covers. Right: x → x̂ staircase."""
    values = x.detach().flatten().float()
    scale, zp = float(qp.scale), int(qp.zero_point)
    lo, hi = scale * (qp.qmin - zp), scale * (qp.qmax - zp)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.hist(values.numpy(), bins=120, color=COLORS["fp32"], alpha=0.85)
    for edge in (lo, hi):
        left.axvline(edge, color=COLORS["int8_dynamic"], ls="--", lw=1.2)
    left.set(title=title or "Weights and the INT8 range", xlabel="weight value", ylabel="count", yscale="log")
    left.axvline(0, color="black", lw=0.6)
    span = 12 * scale  # a dozen grid steps around zero, so the steps are visible
    xs = torch.linspace(-span / 2, span / 2, 600)
    q = torch.clamp(torch.round(xs / scale) + zp, qp.qmin, qp.qmax)
    right.plot(xs, xs, color="grey", lw=0.8, label="x (FP32)")
    right.step(xs, (q - zp) * scale, where="mid", color=COLORS["int8_dynamic"], label="x̂ = s·(q − z)")
    right.set(title=f"Zoom near 0: steps of s = {scale:.2e}", xlabel="x", ylabel="x̂")
    right.legend()
    fig.tight_layout()
    return fig


def plot_error_histogram(errors: dict[str, torch.Tensor], scale: float | None = None):
    """Histograms of x − x̂ for several quantization schemes, with ±s/2 marked."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for name, err in errors.items():
        ax.hist(err.flatten().numpy(), bins=150, histtype="step", lw=1.5, label=name)
    if scale:
        for edge in (-scale / 2, scale / 2):
            ax.axvline(edge, color="black", ls=":", lw=1)
    ax.set(title="Rounding error x − x̂", xlabel="error", ylabel="count", yscale="log")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_parameter_breakdown(breakdowns: dict[str, dict]):
    """Stacked bars of MiB per group (embeddings, Linear, other) for each variant."""
    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    groups = [("embeddings", "#8c8c8c"), ("linear", "#d9742b"), ("other", "#3b6ea5")]
    names = list(breakdowns)
    for row, name in enumerate(names):
        left = 0.0
        for group, color in groups:
            mib = breakdowns[name][group]["bytes"] / MIB
            ax.barh(row, mib, left=left, color=color, label=group if row == 0 else None)
            if mib > 3:
                ax.text(left + mib / 2, row, f"{mib:.1f}", ha="center", va="center", color="white", fontsize=9)
            left += mib
    ax.set_yticks(range(len(names)), [label(n) for n in names])
    ax.invert_yaxis()
    ax.set(xlabel="MiB of parameters", title="Where the bytes live")
    ax.legend(loc="lower right", ncols=3)
    fig.tight_layout()
    return fig


def plot_latency_vs_seq_len(record: dict, names: list[str] | None = None):
    """Median latency (p10–p90 band) against sequence length at batch 1, and each route's speedup over FP32 eager."""
    variants = {n: v for n, v in record["variants"].items() if "skipped" not in v and (names is None or n in names)}
    fig, (ax, ratio) = plt.subplots(1, 2, figsize=(11, 4.2))
    base = {r["seq_len"]: r["median"] for r in record["variants"]["fp32"]["latency_by_seq_len"]}
    for name, variant in variants.items():
        rows = variant["latency_by_seq_len"]
        lens = [r["seq_len"] for r in rows]
        ax.plot(lens, [r["median"] for r in rows], "o-", ms=3.5, color=color(name), label=label(name))
        ax.fill_between(lens, [r["p10"] for r in rows], [r["p90"] for r in rows], color=color(name), alpha=0.15)
        if name != "fp32":
            ratio.plot(lens, [base[r["seq_len"]] / r["median"] for r in rows], "o-", ms=3.5, color=color(name))
    ax.set(yscale="log", ylabel="latency (ms)", title="Latency at batch 1")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ratio.axhline(1, color="grey", lw=0.8)
    ratio.set(ylabel="FP32 eager / variant (median)", title="Speedup over FP32 eager", ylim=(0, None))
    for axis in (ax, ratio):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted(base), [str(n) for n in sorted(base)])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xlabel("sequence length (tokens)")
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncols=3, fontsize=8.5)
    fig.tight_layout(rect=(0, 0.06 + 0.045 * ((len(variants) - 1) // 3), 1, 1))
    return fig


def bubble_chart(rows: list[dict]):
    """Accuracy against latency; bubble area ∝ size (NLP with Transformers, ch. 8). rows: name, latency_ms, accuracy, size_bytes."""
    rows = [r for r in rows if "skipped" not in r]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for row in rows:
        mib = row["size_bytes"] / MIB
        ax.scatter(row["latency_ms"], 100 * row["accuracy"], s=8 * mib, alpha=0.6, color=color(row["name"]),
                   edgecolor="black", label=f"{label(row['name'])} ({mib:.0f} MiB)")
    ax.set(xlabel="median latency, batch 1 (ms)", ylabel="accuracy (%)", title="Accuracy, latency and size")
    ax.margins(0.25)
    legend = ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), labelspacing=1.2, fontsize=8.5)
    for handle in legend.legend_handles:
        handle.set_sizes([60])
    fig.tight_layout()
    return fig


def plot_series(series: dict[str, tuple[list, list]], xlabel: str, ylabel: str, title: str, logx: bool = False):
    """A line per variant: series maps variant → (x values, y values)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, "o-", color=color(name), label=label(name))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log", base=2)
    ticks = sorted({x for xs, _ in series.values() for x in xs})
    if all(float(t).is_integer() for t in ticks):  # label exactly the measured settings
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.legend()
    fig.tight_layout()
    return fig


def plot_layer_sqnr(rows: list[dict]):
    """INT8 weight SQNR of every Linear layer, per-tensor and per-channel (a sensitivity scan)."""
    fig, ax = plt.subplots(figsize=(10, 4.6))
    positions = range(len(rows))
    ax.plot(positions, [r["per_tensor_db"] for r in rows], "o", color=COLORS["int8_dynamic"], label="per-tensor")
    ax.plot(positions, [r["per_channel_db"] for r in rows], "s", color=COLORS["torchao_int8_compiled"], label="per-channel")
    short = [r["layer"].rsplit("layer.", 1)[-1] for r in rows]  # "bert.encoder.layer.0.output.dense" → "0.output.dense"
    ax.set_xticks(list(positions), short, rotation=90, fontsize=6.5)
    ax.set(ylabel="SQNR (dB)", title="INT8 weight SQNR of every Linear layer (higher is better)")
    ax.legend()
    fig.tight_layout()
    return fig
