"""Shared, tested helpers for the BERT Compression Book: every chapter imports from here.

Layers, each importing only those below it (checked by import-linter in `make test`):
`publish` → `teach` → `routes` → `methods` → `measure` → `data` → `core`.
"""

from .core.errors import BookError
from .core.models import Classifier, load_classifier, save_classifier
from .core.quiet import quiet_third_party_output
from .data.sst2 import SentimentData, calibration_sentences, fixed_subset, load_sst2
from .measure.evaluation import Evaluation, Predictions, disagreements, evaluate, predict
from .measure.latency import Latency, fixed_threads, latency_at_shape, latency_on_sentences
from .measure.profiles import PROFILES, Profile, resolve_profile
from .measure.size import MIB, model_bytes, parameter_breakdown, state_dict_bytes
from .methods.quantization import (load_quantized, module_type_counts, quantize_dynamic_int8, quantize_torchao_int8,
                                   quantized_linear_names, save_quantized)
from .routes.pipeline import quantized_copy, run_comparison
from .routes.report import (best_fp32, comparison_table, load_comparison, measured, recommend, route_table, summaries,
                            summary, write_json)
from .routes.shapes import distilbert_shaped, run_shape_comparison, shape_rows
from .routes.configs import RunSettings
from .routes.variants import VARIANTS, BuildInputs, Variant, build_variant, load_route, save_route, select_variants
from .teach.chapter import Chapter, comparison_for, glue_values, setup_chapter, shape_comparison_for

__all__ = [name for name in dir() if not name.startswith("_")]
