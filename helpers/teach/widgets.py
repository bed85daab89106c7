"""The playground's two instruments: FP32 vs INT8 on a sentence, and a weight-quantization explorer."""

from __future__ import annotations

import pandas as pd
import torch

from ..core.models import Classifier
from ..core.numerics import fake_quantize, quantization_error
from ..measure.evaluation import predict
from ..measure.latency import latency_on_sentences


def compare_on_sentence(variants: dict[str, Classifier], sentence: str, threads: int, runs: int = 10) -> pd.DataFrame:
    """Label, P(positive), median latency over `runs` and truncation, one row per model."""
    rows = {}
    for name, clf in variants.items():
        out = predict(clf, [sentence])
        timing = latency_on_sentences(clf, [sentence] * runs, threads, warmup=2)
        rows[name] = {"label": clf.label_names[out.labels[0]], "P(positive)": round(out.probabilities[0][clf.positive_index], 4),
                      "median ms": round(timing.median, 2), "truncated": bool(out.truncated)}
    return pd.DataFrame(rows).T


def sentence_playground(variants: dict[str, Classifier], threads: int, sentence: str):
    """A text box whose sentence is classified by every model in `variants` as you type.

    The result is an HTML widget rather than an Output widget: its value is plain widget state,
    which the static book shows as saved and which needs no output capture while executing.
    """
    import ipywidgets as widgets

    box = widgets.Textarea(value=sentence, description="Sentence", layout=widgets.Layout(width="90%"))
    result = widgets.HTML()

    def update(change=None):
        text = box.value
        result.value = compare_on_sentence(variants, text, threads).to_html() if text.strip() else "<p>Type a sentence.</p>"

    box.observe(update, names="value")
    update()
    return widgets.VBox([box, result])


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (and closed, so notebooks do not draw it twice)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def quantization_playground(weight: torch.Tensor, bits: int = 4):
    """Sliders for bit width, symmetric and per-channel, redrawing the grid figure and its SQNR."""
    import ipywidgets as widgets

    from .plotting import plot_quantization_grid

    bits_slider = widgets.IntSlider(value=bits, min=2, max=8, description="bits")
    symmetric = widgets.Checkbox(value=True, description="symmetric")
    per_channel = widgets.Checkbox(value=False, description="per-channel")
    image = widgets.Image(format="png", layout=widgets.Layout(width="100%"))

    def update(change=None):
        w_hat, _ = fake_quantize(weight, bits_slider.value, symmetric.value, per_channel.value)
        err = quantization_error(weight, w_hat)
        row = weight[0] if per_channel.value else weight  # per-channel: show the first row's own grid
        _, shown = fake_quantize(row, bits_slider.value, symmetric.value)
        title = f"{bits_slider.value}-bit: SQNR {err['sqnr_db']:.1f} dB, max error {err['max_abs']:.2e}"
        image.value = figure_png(plot_quantization_grid(row, shown, title=title))

    for control in (bits_slider, symmetric, per_channel):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([bits_slider, symmetric, per_channel]), image])
