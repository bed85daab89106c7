"""The book's figures: one style, one colour per variant, one function per kind of chart."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import NullLocator, ScalarFormatter

from ..core.numerics import QuantParams
from ..measure.size import MIB
from ..routes.variants import VARIANTS, color, label

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
    names = list(breakdowns)
    fig, ax = plt.subplots(figsize=(8.5, 1.3 + 0.42 * len(names)))
    groups = [("embeddings", "#8c8c8c"), ("linear", "#d9742b"), ("other", "#3b6ea5")]
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
    variants = {n: v for n, v in record["routes"].items() if "skipped" not in v and (names is None or n in names)}
    fig, (ax, ratio) = plt.subplots(1, 2, figsize=(11, 4.2))
    base = {r["seq_len"]: r["median"] for r in record["routes"]["fp32"]["latency_by_seq_len"]}
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
    ax.set(xlabel="median latency, batch 1 (ms, log scale)", ylabel="accuracy (%)", title="Accuracy, latency and size")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="x", which="minor", labelsize=7.5)
    ax.margins(0.2)
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


def plot_activation_ranges(ranges: dict[str, list[dict]]):
    """The range each static-INT8 observer recorded, per observer kind: where the UINT8 grid sits.

    ranges maps an observer kind ("minmax", "histogram") to `activation_ranges` rows, in graph order.
    """
    fig, (span, step) = plt.subplots(1, 2, figsize=(11, 4.0), gridspec_kw={"width_ratios": [3, 2]})
    palette = {"minmax": "#8e44ad", "histogram": "#d9742b"}
    for offset, (kind, rows) in zip((-0.18, 0.18), ranges.items()):
        xs = [i + offset for i in range(len(rows))]
        span.vlines(xs, [r["min"] for r in rows], [r["max"] for r in rows], color=palette.get(kind), lw=2.6,
                    label=kind)
        step.plot(range(len(rows)), [r["scale"] for r in rows], "o", ms=3.5, color=palette.get(kind), label=kind)
    span.axhline(0, color="black", lw=0.6)
    span.set(xlabel="quantized activation (graph order)", ylabel="calibrated range",
             title="Activation ranges after calibration", yscale="symlog")
    step.set(xlabel="quantized activation (graph order)", ylabel="grid step s", yscale="log",
             title="The INT8 step each range implies")
    step.legend(loc="lower left")
    fig.tight_layout()
    return fig


def plot_calibration_scan(rows: list[dict], fp32_accuracy: float):
    """Static-INT8 accuracy against the number of calibration sentences, one line per observer."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    palette = {"minmax": "#8e44ad", "histogram": "#d9742b"}
    for observer in dict.fromkeys(r["observer"] for r in rows):
        mine = [r for r in rows if r["observer"] == observer]
        ax.plot([r["n_sentences"] for r in mine], [100 * r["accuracy"] for r in mine], "o-",
                color=palette.get(observer), label=f"{observer} observer")
    ax.axhline(100 * fp32_accuracy, color=COLORS["fp32"], ls="--", lw=1.2, label="FP32")
    sizes = sorted({r["n_sentences"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(xlabel="calibration sentences (train split)", ylabel="validation accuracy (%)",
           title="Static INT8: how much calibration is enough?")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_route_sizes(record: dict):
    """Stacked MiB per parameter group for every measured route of a comparison record."""
    return plot_parameter_breakdown({n: v["parameters"] for n, v in record["routes"].items() if "skipped" not in v})


def plot_operator_time(profiles: dict[str, dict]):
    """One panel per route: its top operators by self CPU time per forward pass (from `top_operators`)."""
    fig, axes = plt.subplots(1, len(profiles), figsize=(5.6 * len(profiles), 3.6), squeeze=False)
    for ax, (name, ops) in zip(axes[0], profiles.items()):
        rows = ops["top"][::-1]
        names = [r["operator"] if len(r["operator"]) <= 34 else r["operator"][:33] + "…" for r in rows]
        ax.barh(names, [r["self_ms"] for r in rows], color=color(name))
        ax.set_title(f"{label(name)}: {ops['calls_per_pass']:.0f} calls per pass", fontsize=10)
        ax.set_xlabel(f"self CPU ms per pass ({ops['seq_len']} tokens, profiled)")
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_intervals(rows: list[dict]):
    """Left: each route's accuracy with its 95% interval. Right: its change against FP32 with the paired
    bootstrap 95% interval, labelled with the exact McNemar p. rows: `report.statistics_rows`."""
    fig, (acc, delta) = plt.subplots(1, 2, figsize=(10.5, 0.42 * len(rows) + 1.6), sharey=True)
    ys = range(len(rows))[::-1]
    for y, r in zip(ys, rows):
        lo, hi = (100 * x for x in r["accuracy_ci95"])
        acc.errorbar(100 * r["accuracy"], y, xerr=[[100 * r["accuracy"] - lo], [hi - 100 * r["accuracy"]]],
                     fmt="o", color=color(r["route"]), capsize=3)
        if "delta_pts" in r:
            dlo, dhi = r["delta_ci95_pts"]
            delta.errorbar(r["delta_pts"], y, xerr=[[r["delta_pts"] - dlo], [dhi - r["delta_pts"]]], fmt="o",
                           color=color(r["route"]), capsize=3)
            delta.annotate(f"p = {r['mcnemar_p']:.2f}", (max(dhi, r["delta_pts"]), y), xytext=(6, -3),
                           textcoords="offset points", fontsize=8)
    acc.set_yticks(list(ys), [r["label"] for r in rows])
    acc.set(xlabel="accuracy (%), 95% interval", title="Accuracy")
    delta.axvline(0, color=COLORS["fp32"], ls="--", lw=1.2)
    delta.set(xlabel="change against FP32 (points), paired 95% interval", title="Change against FP32")
    delta.margins(x=0.25)
    fig.tight_layout()
    return fig


def plot_margin_shifts(shifts: dict[str, list[float]]):
    """How far each route moved every sentence's log-odds of positive from FP32's: one box per route
    (whiskers at the 1st and 99th percentiles, the rest as dots), on a symmetric log scale."""
    names = list(shifts)[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.4))
    boxes = ax.boxplot([shifts[n] for n in names], vert=False, whis=(1, 99), widths=0.55, patch_artist=True,
                       flierprops={"marker": ".", "markersize": 3, "alpha": 0.5})
    for patch, name in zip(boxes["boxes"], names):
        patch.set(facecolor=color(name) or "#999999", alpha=0.55)
    ax.set_yticks(range(1, len(names) + 1), [label(n) for n in names])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set(xlabel="log-odds of positive, route − FP32 (symmetric log scale)",
           title="How far each route moves the model's decisions")
    fig.tight_layout()
    return fig


def plot_speedup_intervals(rows: list[dict]):
    """Each route's speedup over FP32 eager: timed interleaved with FP32 (median, bootstrap 95% interval)
    and one-shot (each timed alone, minutes apart). rows: `report.statistics_rows`."""
    rows = [r for r in rows if "speedup" in r][::-1]
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(rows) + 1.4))
    for y, r in enumerate(rows):
        lo, hi = r["speedup_ci95"]
        ax.errorbar(r["speedup"], y, xerr=[[r["speedup"] - lo], [hi - r["speedup"]]], fmt="o",
                    color=color(r["route"]), capsize=3, label="interleaved, 95% interval" if y == 0 else None)
        ax.plot(r["one_shot_speedup"], y, "x", color="black", ms=7, label="one-shot" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
    ax.axvline(1, color=COLORS["fp32"], ls="--", lw=1.2)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="x", which="minor", labelsize=7.5)
    ax.set(xlabel="speedup over FP32 eager, batch 1 (log scale)", title="Speedup, with and without interleaving")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_sensitivity_vs_sqnr(sensitivity: list[dict], sqnr: list[dict]):
    """Left: each Linear layer's effect when quantized alone (mean |ΔP(positive)| on train sentences), in
    module order. Right: that effect against the layer's per-tensor weight SQNR (chapter 3's scan)."""
    effect = {r["layer"]: r["mean_abs_dp"] for r in sensitivity}
    rows = [r for r in sqnr if r["layer"] in effect]
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(11.5, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    short = [r["layer"].rsplit("layer.", 1)[-1] for r in rows]
    bars.bar(range(len(rows)), [effect[r["layer"]] for r in rows], color=COLORS["int8_dynamic"])
    bars.set_xticks(range(len(rows)), short, rotation=90, fontsize=6.5)
    bars.set(yscale="log", ylabel="mean |ΔP(positive)|", title="One layer in INT8 at a time")
    scatter.scatter([r["per_tensor_db"] for r in rows], [effect[r["layer"]] for r in rows],
                    color=COLORS["int8_dynamic"], alpha=0.75)
    scatter.set(xscale="linear", yscale="log", xlabel="per-tensor INT8 weight SQNR (dB)",
                ylabel="mean |ΔP(positive)|", title="Does low weight SQNR predict the damage?")
    fig.tight_layout()
    return fig


def plot_tradeoff(series: dict[str, list[dict]], x: str, xlabel: str, fp32: dict, title: str,
                  colors: dict[str, str] | None = None):
    """Validation accuracy (95% interval), size and latency against a knob `x`, one line per series, FP32 as a
    dashed line. Each row: `x`, plus `pipeline.measure_briefly`'s accuracy, accuracy_ci95, size_bytes, latency_ms."""
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.7))
    palette = ["#e8a33d", "#2e86ab", "#8e44ad", "#4c956c"]
    for i, (name, rows) in enumerate(series.items()):
        tint = (colors or {}).get(name, palette[i % len(palette)])
        xs, acc = [r[x] for r in rows], [100 * r["accuracy"] for r in rows]
        err = [[a - 100 * r["accuracy_ci95"][0] for a, r in zip(acc, rows)],
               [100 * r["accuracy_ci95"][1] - a for a, r in zip(acc, rows)]]
        axes[0].errorbar(xs, acc, yerr=err, fmt="o-", color=tint, capsize=3, label=name)
        axes[1].plot(xs, [r["size_bytes"] / MIB for r in rows], "o-", color=tint, label=name)
        axes[2].plot(xs, [r["latency_ms"] for r in rows], "o-", color=tint, label=name)
    ticks = sorted({r[x] for rows in series.values() for r in rows})
    for ax, value, ylabel in zip(axes, (100 * fp32["accuracy"], fp32["size_bytes"] / MIB, fp32["latency_ms"]),
                                 ("validation accuracy (%)", "size (MiB)", "median latency, batch 1 (ms)")):
        ax.axhline(value, color=COLORS["fp32"], ls="--", lw=1.2, label="FP32")
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_xticks(ticks)
    axes[0].legend(fontsize=8.5)
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_head_importance(importance):
    """Each attention head's importance (layers × heads), normalised per layer: what head pruning removes first."""
    values = importance.detach().numpy() if hasattr(importance, "detach") else importance
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(values) + 1.4))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set(xlabel="head", ylabel="layer", title="Head importance (|∂ loss / ∂ gate|, train sentences)")
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.grid(False)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: dict[str, list[float]], title: str, window: int = 10):
    """Training loss per step (a moving average over up to `window` steps, fewer for short runs), one line
    per run."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    w = max(1, min([window] + [len(losses) // 5 for losses in curves.values()]))
    for name, losses in curves.items():
        smooth = [sum(losses[i - w + 1:i + 1]) / w for i in range(w - 1, len(losses))]
        ax.plot(range(w, len(losses) + 1), smooth, "o-" if len(smooth) < 20 else "-", ms=3, label=name)
    ax.set(xlabel="step", ylabel=f"training loss (mean of {w} steps)" if w > 1 else "training loss",
           title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_accuracy_curves(curves: dict[str, list[tuple[int, float]]], reference: dict[str, float], title: str,
                         ylabel: str = "validation accuracy (%)"):
    """Accuracy (%) against training steps, one line per run (points: (step, accuracy in [0, 1])), and a
    dashed horizontal line per `reference` (name: accuracy), e.g. the teacher."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for name, points in curves.items():
        ax.plot([s for s, _ in points], [100 * a for _, a in points], "o-", ms=4, label=name)
    for name, accuracy in reference.items():
        ax.axhline(100 * accuracy, ls="--", color="0.4", lw=1)
        ax.annotate(name, (0, 100 * accuracy), textcoords="offset points", xytext=(4, 4), fontsize=9,
                    color="0.3")
    ax.set(xlabel="training step (batches of 32)", ylabel=ylabel, title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_machine_gallery(rows: list[dict]):
    """Each machine's INT8 routes against its fastest FP32 route (rows: `bench.gallery_rows`), one group
    of bars per machine, labelled by its INT8 class; the dashed line is parity with the best FP32."""
    int8 = [r for r in rows if r["precision"] == "int8"]
    machines = list(dict.fromkeys((r["int8 class"], r["cpu"], r["model"], r["measured"]) for r in int8))
    routes = list(dict.fromkeys(r["route"] for r in int8))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 + 1.5 * len(machines)), 3.9))
    width = 0.8 / max(1, len(routes))
    for i, route in enumerate(routes):
        values = {m: r["vs best FP32"] for r in int8 if r["route"] == route
                  for m in [(r["int8 class"], r["cpu"], r["model"], r["measured"])]}
        xs = [j + (i - (len(routes) - 1) / 2) * width for j, m in enumerate(machines) if m in values]
        ax.bar(xs, [values[m] for m in machines if m in values], width, label=label(route), color=color(route))
    ax.axhline(1, color="0.3", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(machines)), [f"{c}\n{cpu}\n{model}, {day}" for c, cpu, model, day in machines],
                  fontsize=8)
    ax.set_ylabel("× the machine's fastest FP32 route")
    ax.set_title("INT8 at batch 1 on real sentences, by machine", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def plot_build_time(rows: list[dict], title: str):
    """Where a build's time went (rows: `build_record.time_shares`), largest first, one bar each."""
    rows = rows[::-1]  # largest at the top
    fig, ax = plt.subplots(figsize=(7.5, max(2.5, 0.32 * len(rows) + 1.0)))
    chapter = [r["part"].startswith("chapter: ") for r in rows]
    ax.barh(range(len(rows)), [r["seconds"] for r in rows],
            color=[COLORS["int8_dynamic"] if c else COLORS["fp32"] for c in chapter])
    ax.set_yticks(range(len(rows)), [r["part"].removeprefix("chapter: ") for r in rows], fontsize=8.5)
    for i, r in enumerate(rows):
        ax.text(r["seconds"], i, f" {r['seconds']:.0f} s ({100 * r['share']:.0f}%)", va="center", fontsize=8)
    ax.set_xlabel("seconds (chapters executed on this build in orange; the build's steps in blue)")
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.18)
    fig.tight_layout()
    return fig


_GRANULARITY_COLORS = ("#b5521b", "#e8a33d", "#2e86ab", "#3d7f32")  # coarsest to finest scales


def plot_bit_sweep(rows: list[dict], fp32_accuracy: float, title: str):
    """Accuracy against weight bits, one line per granularity (rows: bits, granularity, accuracy), FP32 and
    one point below it dashed: where each way of sharing a scale falls off the cliff."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    names = list(dict.fromkeys(r["granularity"] for r in rows))
    for name, tint in zip(names, _GRANULARITY_COLORS * 2):
        mine = sorted((r for r in rows if r["granularity"] == name), key=lambda r: r["bits"])
        ax.plot([r["bits"] for r in mine], [100 * r["accuracy"] for r in mine], "o-", color=tint, label=name)
    ax.axhline(100 * fp32_accuracy, color=COLORS["fp32"], ls="--", lw=1.2, label="FP32")
    ax.axhline(100 * fp32_accuracy - 1, color=COLORS["fp32"], ls=":", lw=1, label="FP32 − 1 point")
    ax.axhline(50, color="0.6", lw=0.8)  # a coin: what a destroyed classifier scores on balanced labels
    bits = sorted({r["bits"] for r in rows})
    ax.set_xticks(bits, [str(b) for b in bits])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(xlabel="bits per weight (every Linear; activations FP32)", ylabel="validation accuracy (%)",
           title=title)
    ax.legend(fontsize=8.5)
    fig.tight_layout()
    return fig


def plot_outliers_vs_sqnr(rows: list[dict], columns: list[str], bits: int):
    """Each Linear's weight SQNR at `bits` for each granularity in `columns`, against how far its largest
    weight stands out (max |w| / RMS): shared scales suffer where one weight is far larger than the rest."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    for column, tint in zip(columns, _GRANULARITY_COLORS):
        points = [r for r in rows if column in r]
        ax.scatter([r["outlier_ratio"] for r in points], [r[column] for r in points], color=tint, alpha=0.75,
                   label=column)
    ax.set_xscale("log")
    ax.set(xlabel="largest weight over the root mean square (log scale)",
           ylabel=f"{bits}-bit weight SQNR (dB)", title=f"Every Linear layer at {bits} bits: outliers cost SQNR")
    ax.legend(fontsize=8.5)
    fig.tight_layout()
    return fig


_PRECISION_MARKERS = {"fp32": "o", "bf16": "D", "int8": "s", "int4": "v", "int3": "^"}


def plot_ladder(rows: list[dict], max_drop_pts: float, chosen: str | None = None):
    """The size ladder: each measured route's size (% of FP32, log scale) against its accuracy change, marked
    by the narrowest type of its weights; the band of routes within `max_drop_pts`, and `chosen` ringed.
    Routes that make a different model (pruned, distilled) are drawn hollow. rows: `summaries(record)`."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    rows = [r for r in rows if "skipped" not in r]
    ax.axhspan(-max_drop_pts, max(1.0, max(r["accuracy_delta_pts"] for r in rows) + 0.3), color="#3d7f32",
               alpha=0.08, lw=0, label=f"within {max_drop_pts:g} point of FP32")
    ax.axhline(0, color=COLORS["fp32"], ls="--", lw=1)
    for r in rows:
        hollow = r["name"] in VARIANTS and VARIANTS[r["name"]].changes_model
        ax.scatter(r["size_pct"], r["accuracy_delta_pts"], s=70, marker=_PRECISION_MARKERS.get(r["precision"], "o"),
                   facecolor="none" if hollow else color(r["name"]), edgecolor=color(r["name"]), lw=1.5,
                   label=f"{label(r['name'])} ({r['precision'].upper()})")
        if r["name"] == chosen:
            ax.scatter(r["size_pct"], r["accuracy_delta_pts"], s=320, facecolor="none", edgecolor="black", lw=1.2)
            ax.annotate("smallest within the band", (r["size_pct"], r["accuracy_delta_pts"]),
                        textcoords="offset points", xytext=(12, -16), fontsize=8.5)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set(xlabel="size on disk (% of FP32, log scale)", ylabel="accuracy change against FP32 (points)",
           title="The size ladder: every bit width the build measured")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, labelspacing=0.9)
    fig.tight_layout()
    return fig
