"""The INT8 ceiling of this CPU: one matrix product at a model's own shapes, INT8 against FP32, through
the kernels the routes call (PyTorch's dynamic Linear, `torch._int_mm`, ONNX Runtime's MatMulInteger).

No route can beat INT8 by more than its products do: the ratio FP32 time / INT8 time of the product
itself is the ceiling the whole model's speedup is bounded by (and Amdahl's law lowers it further,
by the share of time spent outside the products).
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .latency import fixed_threads


@dataclass(frozen=True)
class KernelTiming:
    """One product (M tokens × K inputs → N outputs) through one kernel pair: median µs of each."""

    kernel: str
    m: int
    k: int
    n: int
    fp32_us: float
    int8_us: float

    @property
    def ceiling(self) -> float:
        return self.fp32_us / self.int8_us

    def to_dict(self) -> dict:
        return asdict(self) | {"ceiling": self.ceiling}


def linear_shapes(config) -> list[tuple[int, int]]:
    """The distinct (in, out) shapes of a BERT-family encoder layer's Linear layers: Q, K, V and the
    attention output (hidden → hidden), the feed-forward up (hidden → intermediate) and down."""
    hidden = config.hidden_size
    intermediate = getattr(config, "intermediate_size", None) or config.hidden_dim  # DistilBERT: hidden_dim
    return [(hidden, hidden), (hidden, intermediate), (intermediate, hidden)]


MIN_REPEATS = 20  # a time budget never cuts a kernel's timing below this many runs


def _median_us(fn, repeats: int, warmup: int = 10, budget_s: float = 1.0) -> float:
    """Median µs of `repeats` runs after `warmup`, stopping early once `budget_s` is spent (after at
    least MIN_REPEATS runs): a slow fallback kernel (`torch._int_mm` without VNNI) gets fewer runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if len(times) >= MIN_REPEATS and sum(times) > budget_s:
            break
    return float(np.median(times) * 1e6)


def _torch_dynamic_linear(m: int, k: int, n: int, repeats: int) -> KernelTiming:
    """`nn.Linear` against the layer `quantize_dynamic` makes of it (fbgemm or oneDNN, per batch scales)."""
    torch.manual_seed(0)
    linear = nn.Linear(k, n).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice
        quantized = torch.ao.quantization.quantize_dynamic(nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8)
    x = torch.randn(m, k)
    with torch.inference_mode():
        return KernelTiming("torch dynamic Linear", m, k, n, _median_us(lambda: linear(x), repeats),
                            _median_us(lambda: quantized(x), repeats))


def _torch_int_mm(m: int, k: int, n: int, repeats: int) -> KernelTiming:
    """`torch.matmul` in FP32 against `torch._int_mm` (INT8 × INT8 → INT32), the product torchao calls."""
    torch.manual_seed(0)
    a, b = torch.randn(m, k), torch.randn(k, n)
    ai = torch.randint(-128, 128, (m, k), dtype=torch.int8)
    bi = torch.randint(-128, 128, (k, n), dtype=torch.int8)
    with torch.inference_mode():
        return KernelTiming("torch._int_mm", m, k, n, _median_us(lambda: a @ b, repeats),
                            _median_us(lambda: torch._int_mm(ai, bi), repeats))


def _ort_session(graph, threads: int):
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _ort_matmul_integer(m: int, k: int, n: int, repeats: int, threads: int) -> KernelTiming:
    """ONNX Runtime's FP32 `MatMul` against `MatMulInteger` (UINT8 activations × INT8 weights → INT32),
    the product its dynamic quantization writes into the graph."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def graph(op, x_type, y_type, w):
        return helper.make_graph([helper.make_node(op, ["x", "w"], ["y"])], op,
                                 [helper.make_tensor_value_info("x", x_type, [m, k])],
                                 [helper.make_tensor_value_info("y", y_type, [m, n])],
                                 [numpy_helper.from_array(w, "w")])

    fp32 = _ort_session(graph("MatMul", TensorProto.FLOAT, TensorProto.FLOAT,
                              rng.standard_normal((k, n), dtype=np.float32)), threads)
    int8 = _ort_session(graph("MatMulInteger", TensorProto.UINT8, TensorProto.INT32,
                              rng.integers(-128, 128, (k, n), dtype=np.int8)), threads)
    x = rng.standard_normal((m, k), dtype=np.float32)
    xu = rng.integers(0, 256, (m, k), dtype=np.uint8)
    return KernelTiming("ONNX Runtime MatMulInteger", m, k, n, _median_us(lambda: fp32.run(None, {"x": x}), repeats),
                        _median_us(lambda: int8.run(None, {"x": xu}), repeats))


def kernel_ceilings(shapes: list[tuple[int, int]], tokens: int, threads: int, repeats: int = 500) -> list[KernelTiming]:
    """Each kernel pair at each (in, out) shape for `tokens` rows (a sentence's length at batch 1), with
    `threads` threads; ONNX Runtime's pair only where it is installed."""
    timings = []
    ort = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    with fixed_threads(threads):
        for k, n in shapes:
            timings.append(_torch_dynamic_linear(tokens, k, n, repeats))
            timings.append(_torch_int_mm(tokens, k, n, repeats))
            if ort:
                timings.append(_ort_matmul_integer(tokens, k, n, repeats, threads))
    return timings
