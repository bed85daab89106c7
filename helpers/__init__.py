"""Shared, tested helpers for the BERT Compression Book: every chapter imports from here."""

from .chapter import Chapter, comparison_for, setup_chapter
from .data import SentimentData, fixed_subset, load_sst2
from .errors import BookError
from .evaluation import Evaluation, Predictions, disagreements, evaluate, predict
from .latency import Latency, fixed_threads, latency_at_shape, latency_on_sentences
from .models import Classifier, load_classifier, load_quantized, save_classifier, save_quantized
from .pipeline import quantized_copy, run_comparison
from .profiles import PROFILES, Profile, resolve_profile
from .quiet import quiet_third_party_output
from .quantization import module_type_counts, quantize_dynamic_int8, quantize_torchao_int8, quantized_linear_names
from .report import comparison_table, load_comparison, summary, write_json
from .size import MIB, parameter_breakdown, state_dict_bytes

__all__ = [name for name in dir() if not name.startswith("_")]
