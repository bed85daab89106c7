"""Silence known, harmless third-party noise so chapter and CLI output shows what matters."""

from __future__ import annotations

import logging


def quiet_third_party_output() -> None:
    """Hide the weight-loading and parquet-reading progress bars and torchao's CPU-irrelevant import warnings.

    torchao tries to load CUDA-only extensions (mxfp8, cutlass) at import and logs a warning for
    each on a CPU-only machine; torch logs a deprecation notice for two torchao enums. Neither
    affects CPU results. ONNX Runtime's 4-bit quantizer logs every node it visits, and that it raises
    the graph's opset to 21 for its 4-bit types (ONNX Runtime runs the result; the tests compare its
    logits with FP32's). Deprecation warnings of torch.ao.quantization are left alone: chapter 3
    explains them.
    """
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    for name in ("torchao", "torch.utils._pytree", "onnxruntime.quantization.matmul_nbits_quantizer"):
        logging.getLogger(name).setLevel(logging.ERROR)
