"""The live page's files: this build's FP32 and INT8 ONNX models, their tokenizer and a manifest.

`book/live.md` runs the models in the reader's browser (ONNX Runtime Web, tokenizers.js); this
module copies what it downloads into the built book's static folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..core.models import positive_index, read_manifest
from ..core.sources import display_name
from ..methods.onnx_runtime import FILES, ONNX_SUBDIR
from ..routes.variants import VARIANTS

LIVE_VARIANTS = {"onnx_fp32": "fp32", "onnx_int8_dynamic": "int8_dynamic"}  # route → ONNX file kind
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# What ONNX Runtime Web needs in the browser (its WebAssembly build) and the tokenizer, from npm.
BROWSER_FILES = {
    "onnxruntime-web/dist": ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
    "@huggingface/tokenizers/dist": ("tokenizers.min.mjs",),
}


def install_live_files(models_dir: Path, node_modules: Path, script: Path, target: Path) -> dict | None:
    """Copy the runtime, the tokenizer, the two models and `manifest.json` into `target`.

    `models_dir` is the build's `models/` folder (each route in its own folder). Without both ONNX models
    (a machine that skipped the ONNX routes) only the runtime is copied and no manifest is written: the
    page says so. Returns the manifest, or None.
    """
    target.mkdir(parents=True, exist_ok=True)
    for folder, names in BROWSER_FILES.items():
        for name in names:
            shutil.copy2(node_modules / folder / name, target / name)
    shutil.copy2(script, target / script.name)
    models = {route: models_dir / route / ONNX_SUBDIR / FILES[kind] for route, kind in LIVE_VARIANTS.items()}
    onnx_dir = models_dir / "onnx_fp32"  # the tokenizer and config, as every route saved them
    if not all(path.is_file() for path in models.values()):
        return None
    model_dir = target / "model"
    (model_dir / "onnx").mkdir(parents=True, exist_ok=True)
    for name in (*TOKENIZER_FILES, "config.json"):
        shutil.copy2(onnx_dir / name, model_dir / name)
    config = json.loads((onnx_dir / "config.json").read_text())
    meta = read_manifest(onnx_dir)
    variants = []
    for route, path in models.items():
        shutil.copy2(path, model_dir / "onnx" / path.name)
        variants.append({"name": route, "label": VARIANTS[route].label, "file": f"model/onnx/{path.name}",
                         "bytes": path.stat().st_size})
    manifest = {
        "model": display_name(meta["source"]) if meta.get("source") else "this build's model",
        "max_length": int(meta["max_length"]),
        "label_names": [config["id2label"][str(i)] for i in range(len(config["id2label"]))],
        "positive_index": positive_index(config["id2label"]),
        "tokenizer": "model/tokenizer.json",
        "tokenizer_config": "model/tokenizer_config.json",
        "variants": variants,
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
