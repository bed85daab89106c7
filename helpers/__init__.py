"""Shared, tested helpers for the BERT Compression Book: every chapter imports from here."""

from .chapter import Chapter, comparison_for, glue_values, setup_chapter, shape_comparison_for
from .data import SentimentData, fixed_subset, load_sst2
from .errors import BookError
from .evaluation import Evaluation, Predictions, disagreements, evaluate, predict
from .latency import Latency, fixed_threads, latency_at_shape, latency_on_sentences
from .models import Classifier, load_classifier, load_quantized, save_classifier, save_quantized
from .pipeline import calibration_sentences, quantized_copy, run_comparison
from .profiles import PROFILES, Profile, resolve_profile
from .quiet import quiet_third_party_output
from .quantization import module_type_counts, quantize_dynamic_int8, quantize_torchao_int8, quantized_linear_names
from .report import (best_fp32, comparison_table, load_comparison, measured, recommend, route_table, summaries,
                     summary, write_json)
from .shapes import distilbert_shaped, run_shape_comparison, shape_rows
from .size import MIB, model_bytes, parameter_breakdown, state_dict_bytes
from .variants import VARIANTS, BuildInputs, Variant, build_variant, select_variants

__all__ = [name for name in dir() if not name.startswith("_")]
