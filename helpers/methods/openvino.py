"""OpenVINO: the exported ONNX graph run by Intel's CPU runtime, in FP32 or quantized to INT8 by NNCF's
post-training quantization (activation ranges calibrated on train sentences), and a compiled model that
answers like a transformers model."""

from __future__ import annotations

import importlib.util
import logging
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ..core.errors import BookError

OPENVINO_SUBDIR = "openvino"
XML = "model.xml"  # the graph; its weights lie beside it in model.bin


def openvino_missing() -> str | None:
    """Why the OpenVINO routes cannot run here (a package is missing), or None."""
    for module, package in (("openvino", "openvino"), ("nncf", "nncf")):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {package} is not installed"
    return None


def read_onnx(path: str | Path):
    """An `ov.Model` read from an ONNX file (OpenVINO converts it on reading)."""
    import openvino as ov

    return ov.Core().read_model(str(path))


@contextmanager
def quiet_nncf():
    """NNCF draws rich progress bars for every step, to the terminal or as notebook output, with no setting
    to turn them off: switch its `track` to disabled while it quantizes."""
    from nncf.common.logging import track_progress

    original = track_progress.track.__init__

    def quiet(self, *args, **kwargs):
        original(self, *args, **{**kwargs, "disable": True})

    track_progress.track.__init__ = quiet
    try:
        yield
    finally:
        track_progress.track.__init__ = original


def quantize_nncf(model, tokenizer, sentences: list[str], max_length: int):
    """NNCF post-training INT8 quantization of an `ov.Model` for a transformer: activation ranges from
    one batch-1 pass per calibration sentence (SmoothQuant and bias correction included, as
    `ModelType.TRANSFORMER` sets them)."""
    import nncf

    names = [i.get_any_name() for i in model.inputs]
    items = [{k: v for k, v in tokenizer(s, return_tensors="np", truncation=True, max_length=max_length).items()
              if k in names} for s in sentences]
    nncf.set_log_level(logging.ERROR)  # its notes would fill every log that builds the route
    with quiet_nncf():
        return nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                             subset_size=len(items))


def compress_weights_nncf(model, config):
    """NNCF's data-free weight compression of an `ov.Model` with the settings of `config`
    (`methods.configs.OpenVinoWeights`): weights in `config.mode`, grouped, activations left in FP32."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedCompressionParameters, GroupSizeFallbackMode

    nncf.set_log_level(logging.ERROR)
    fallback = AdvancedCompressionParameters(group_size_fallback_mode=GroupSizeFallbackMode(config.group_size_fallback))
    with quiet_nncf():
        return nncf.compress_weights(model, mode=nncf.CompressWeightsMode(config.mode), ratio=config.ratio,
                                     group_size=config.group_size, all_layers=config.all_layers,
                                     advanced_parameters=fallback)


def save_openvino(model, directory: str | Path) -> Path:
    """`directory/openvino/model.xml` and `.bin`, weights kept in their precision (no FP16 compression)."""
    import openvino as ov

    path = Path(directory) / OPENVINO_SUBDIR / XML
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


PRECISION_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]  # where a saved model keeps its precision


def with_inference_precision(model, precision: str):
    """`model` told to compute in `precision` ("f32" or "bf16") wherever it is compiled: OpenVINO keeps
    the hint in the model's runtime information, saved with it in the XML. The weights stay as they are
    (FP32 here); the CPU plugin converts them when it compiles."""
    if precision not in ("f32", "bf16"):
        raise BookError(f"OpenVINO inference precision must be 'f32' or 'bf16'; got {precision!r}.")
    model.set_rt_info(precision, PRECISION_KEY)
    return model


def inference_precision(model) -> str:
    """The precision `with_inference_precision` set on `model`, "f32" where none was set."""
    return model.get_rt_info(PRECISION_KEY).astype(str) if model.has_rt_info(PRECISION_KEY) else "f32"


class OvModel:
    """An OpenVINO model compiled for this CPU (`threads` threads, FP32 arithmetic unless the model carries
    another `inference_precision`) that answers like a transformers model: `model(**batch).logits`."""

    def __init__(self, model, config, threads: int):
        import openvino as ov

        self.ov_model, self.config, self.threads = model, config, threads
        self.precision = inference_precision(model)
        self.compiled = ov.Core().compile_model(model, "CPU", {
            "INFERENCE_NUM_THREADS": threads,
            # always explicit: left out, a CPU with BF16 units silently computes an FP32 model in BF16
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()
        self.input_names = [i.get_any_name() for i in model.inputs]

    def __call__(self, **batch):
        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise BookError(f"this OpenVINO model needs inputs {missing}; got {sorted(batch)}.")
        feed = {n: np.asarray(batch[n]) for n in self.input_names}
        logits = self.request.infer(feed)[self.compiled.outputs[0]]
        return SimpleNamespace(logits=torch.from_numpy(np.array(logits)))

    def eval(self):
        return self

    def size_bytes(self) -> int:
        return sum(int(c.get_byte_size()) for c in self._constants())

    def _constants(self):
        return [op for op in self.ov_model.get_ops() if op.get_type_name() == "Constant"]

    def parameter_groups(self) -> dict[str, dict[str, int]]:
        """Parameters and bytes per group, from the graph's constants and the operators that read them
        (through any Convert or FakeQuantize on the way)."""
        groups = {g: {"params": 0, "bytes": 0} for g in ("embeddings", "linear", "other")}
        for const in self._constants():
            size = int(np.prod(const.get_output_shape(0))) if const.get_output_partial_shape(0).is_static else 0
            if size <= 1:
                continue  # scalars: shapes, axes, epsilons
            readers, seen = [], [const.output(0)]
            while seen:
                for target in seen.pop().get_target_inputs():
                    node = target.get_node()
                    if node.get_type_name() in ("Convert", "FakeQuantize", "Multiply", "Subtract", "Reshape"):
                        seen.extend(node.outputs())
                    else:
                        readers.append(node.get_type_name())
            group = "embeddings" if "Gather" in readers else "linear" if "MatMul" in readers else "other"
            groups[group]["params"] += size
            groups[group]["bytes"] += int(const.get_byte_size())
        return groups


def load_openvino(directory: str | Path, config, threads: int) -> OvModel:
    """The model `save_openvino` wrote in `directory`, compiled for this CPU."""
    import openvino as ov

    path = Path(directory) / OPENVINO_SUBDIR / XML
    if not path.is_file():
        raise BookError(f"{directory} holds no OpenVINO model: no {OPENVINO_SUBDIR}/{XML}.")
    return OvModel(ov.Core().read_model(str(path)), config, threads)
