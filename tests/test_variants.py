"""The route registry: every route builds, saves and reloads to the same logits; skipped routes are recorded."""

import json

import pytest
import torch
from torch._dynamo.utils import counters

from helpers import (BookError, BuildInputs, SentimentData, VARIANTS, build_variant, load_classifier,
                     parameter_breakdown, select_variants)
from helpers.core.models import uncompiled
from helpers.routes.configs import RunSettings
from helpers.routes.keys import BuildData
from helpers.routes.pipeline import Measurer, run_routes
from helpers.routes.store import Store
from helpers.routes.variants import ROUTE_FILE, load_route, save_route
from helpers.measure.size import model_bytes
from helpers.routes.variants import Variant

SENTENCES = ["a gripping, beautifully acted drama", "flat and lifeless", "it is a movie , and it has a plot ."]
CALIBRATION = ["a fine film", "an utterly tedious and overlong mess of a thriller", "good", "bad acting",
               "the cast is wonderful and the script is sharp , funny and sad"]
TRAIN = SentimentData(CALIBRATION, [1, 0, 1, 0, 1], ("negative", "positive"), "test", "train")
EAGER = [n for n, v in VARIANTS.items() if not v.compiled]
RUN = RunSettings(calibration_sentences=len(CALIBRATION), train_sentences=len(TRAIN), recovery_steps=2,
                  distill_sentences=len(TRAIN), distill_steps=2, held_out_sentences=len(TRAIN))


def logits(clf, sentences=SENTENCES):
    batch = clf.encode(sentences)
    with torch.inference_mode():
        return clf.model(**batch).logits.float()


def without_compile(clf):
    return type(clf)(uncompiled(clf.model), clf.tokenizer, clf.source, clf.max_length)


def build_with_choice(name, clf, tmp_path):
    """The route built from `clf` with the test run's config, and what its build chose; a stacked route
    from its parent route's model, built first."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    variant = VARIANTS[name]
    parent = build(variant.parent, clf, tmp_path) if variant.parent else None
    built, chosen, _ = build_variant(variant, clf, variant.configure(RUN), BuildInputs(CALIBRATION, 1, scratch,
                                                                                       train=TRAIN, held_out=TRAIN),
                                       parent)
    return built, chosen


def build(name, clf, tmp_path):
    return build_with_choice(name, clf, tmp_path)[0]


def save_and_load_route(name, built, chosen, directory):
    """Save a built route in the one layout every route shares, and load it back from its route.json alone."""
    config = VARIANTS[name].configure(RUN)
    save_route(VARIANTS[name], built, config, chosen, directory)
    meta = json.loads((directory / ROUTE_FILE).read_text())
    assert (meta["route"], meta["config"], meta["chosen"]) == (name, config.as_dict(), json.loads(json.dumps(chosen)))
    back, read = load_route(directory, 1)
    assert read == meta
    return back


def test_the_registry_holds_the_routes_later_chapters_rely_on():
    assert list(VARIANTS)[0] == "fp32"
    assert {"int8_dynamic", "int8_dynamic_embeddings", "int8_static", "torchao_int8", "torchao_int8_compiled",
            "onnx_fp32", "onnx_int8_dynamic", "fp32_compiled"} <= set(VARIANTS)
    for v in VARIANTS.values():
        assert v.label and v.method and v.deploys and v.api and v.precision in ("fp32", "bf16", "int8", "int4", "int3")
    assert [v.name for v in select_variants("onnx_int8_dynamic, int8_dynamic")] == ["fp32", "int8_dynamic",
                                                                                  "onnx_int8_dynamic"]
    with pytest.raises(BookError, match="Unknown variant"):
        select_variants("int4_magic")
    for i, v in enumerate(VARIANTS.values()):  # a stacked route comes after the route it starts from
        assert v.parent is None or v.parent in list(VARIANTS)[1:i]
    assert [v.name for v in select_variants("distilled_int8_dynamic")] == ["fp32", "distilled",
                                                                          "distilled_int8_dynamic"]


@pytest.mark.parametrize("name", EAGER)
@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert"])
def test_every_eager_route_reloads_to_identical_logits(request, tmp_path, fixture, name):
    fp32 = load_classifier(str(request.getfixturevalue(fixture)))
    built, chosen = build_with_choice(name, fp32, tmp_path)
    assert not fp32.model.training and not getattr(built.model, "training", False)
    back = save_and_load_route(name, built, chosen, tmp_path / "saved")
    assert torch.equal(logits(built), logits(back))
    assert back.max_length == fp32.max_length and back.label_names == fp32.label_names
    if not VARIANTS[name].changes_model:  # a pruned model is another model; the rest must stay near FP32
        close = 0.05 + 0.1 * logits(fp32).abs().max()  # INT8 stays near FP32 even with random weights
        assert (logits(built) - logits(fp32)).abs().max() <= close


# The smoke books compile fp32_compiled and int8_static on both architectures and leave torchao's to the full
# build: here each is compiled on tiny_distilbert, torchao's on tiny_bert as well
COMPILED = [(f, n) for n, v in VARIANTS.items() if v.compiled
            for f in (("tiny_bert", "tiny_distilbert") if n == "torchao_int8_compiled" else ("tiny_distilbert",))]


@pytest.mark.parametrize("fixture, name", COMPILED)
def test_a_compiled_route_saves_the_model_it_compiled(request, tmp_path, fixture, name):
    # tiny_distilbert keeps a BERT tokenizer (token_type_ids, which DistilBERT does not take): with the eager
    # test above, every route of the registry is built, run, saved and reloaded behind such a tokenizer
    fp32 = load_classifier(str(request.getfixturevalue(fixture)))
    built = build(name, fp32, tmp_path)
    graphs = counters["stats"]["unique_graphs"]
    for sentences in (SENTENCES[:1], SENTENCES, SENTENCES * 4):  # warmed at batch 1 and 2: no more compiling
        logits(built, sentences)
    assert counters["stats"]["unique_graphs"] == graphs
    plain_clf = without_compile(built)
    assert plain_clf.model is not built.model
    back = save_and_load_route(name, built, {}, tmp_path / "saved")
    assert torch.equal(logits(plain_clf), logits(back))
    scale = logits(plain_clf).abs().max()
    # Without VNNI, inductor's INT8 products sum their integers another way than the eager kernels (measured
    # on AVX2: hidden states 0.2% apart), which the random tiny models' near-zero logits magnify
    relative = 0.05 if VARIANTS[name].precision == "fp32" or torch.cpu._is_vnni_supported() else 0.5
    assert torch.allclose(logits(built), logits(plain_clf), atol=1e-3 + relative * scale)


@pytest.mark.parametrize("name", ["int8_dynamic_embeddings", "torchao_int8", "onnx_int8_dynamic", "int8_static",
                                  "onnx_int8_optimized", "openvino_int8", "onnx_int4_weights",
                                  "openvino_int4_weights"])
def test_routes_on_the_shared_model_agree_with_fp32_and_round_trip(tmp_path, shared_model, name):
    fp32 = load_classifier(str(shared_model))
    built = build(name, fp32, tmp_path)
    VARIANTS[name].save(built, tmp_path / "saved")
    back = VARIANTS[name].load(tmp_path / "saved", 1)
    assert torch.equal(logits(without_compile(built)), logits(back))
    assert (logits(built).argmax(-1) == logits(fp32).argmax(-1)).all()


def test_onnx_fp32_matches_pytorch_at_several_shapes(tmp_path, shared_model):
    fp32 = load_classifier(str(shared_model))
    onnx = build("onnx_fp32", fp32, tmp_path)
    assert not fp32.model.training  # exporting must not switch dropout on in the model it exported
    for sentences in (SENTENCES[:1], SENTENCES, SENTENCES * 3, [" ".join(SENTENCES * 12)]):
        assert torch.allclose(logits(onnx, sentences), logits(fp32, sentences), atol=1e-4)


def test_the_optimized_onnx_graph_fuses_attention_and_matches_pytorch(tmp_path, shared_model):
    fp32 = load_classifier(str(shared_model))
    built, chosen = build_with_choice("onnx_fp32_optimized", fp32, tmp_path)
    layers = fp32.model.config.num_hidden_layers
    assert chosen["fused_operators"]["Attention"] == layers
    assert chosen["fused_operators"]["SkipLayerNormalization"] == 2 * layers
    assert fp32.model.config._attn_implementation == "sdpa"  # exported eagerly, then given back its own
    for sentences in (SENTENCES[:1], SENTENCES, [" ".join(SENTENCES * 12)]):
        assert torch.allclose(logits(built, sentences), logits(fp32, sentences), atol=1e-4)


def test_the_optimizer_refuses_a_graph_it_cannot_fuse(tmp_path, tiny_bert):
    from types import SimpleNamespace

    from helpers.methods.onnx_runtime import export_onnx, optimize_onnx

    clf = load_classifier(str(tiny_bert))
    sdpa = export_onnx(clf.model, clf.tokenizer, tmp_path / "sdpa.onnx")  # transformers' default attention
    with pytest.raises(BookError, match="attention='eager'"):
        optimize_onnx(sdpa, tmp_path / "optimized.onnx", clf.model.config)
    with pytest.raises(BookError, match="this model is a gpt2"):
        optimize_onnx(sdpa, tmp_path / "optimized.onnx", SimpleNamespace(model_type="gpt2"))


@pytest.mark.parametrize("flags, machine, preset", [
    (["avx2", "fma"], "x86_64", "avx2"),
    (["avx2", "fma", "avx512f", "avx512bw"], "x86_64", "avx512"),
    (["avx2", "avx512f", "avx512bw", "avx512_vnni"], "x86_64", "avx512_vnni"),
    (["avx2", "fma", "avx_vnni"], "x86_64", "avx512_vnni"),  # AVX-VNNI laptops have vpdpbusd too
    ([], "aarch64", "arm64")])
def test_onnx_quantization_settings_follow_the_instruction_set(flags, machine, preset):
    from helpers.methods.onnx_runtime import ORT_PRESETS, ort_preset

    assert ort_preset(flags, machine) == preset
    settings = ORT_PRESETS[preset]
    # without VNNI, u8·s8 pairs summed in 16 bits can saturate: 7-bit weights or UINT8 weights avoid it
    saturates = preset in ("avx2", "avx512")
    assert saturates == (settings["reduce_range"] or settings["weight_type"] == "QUInt8")


def test_nncf_stores_the_openvino_models_weights_and_tables_in_eight_bits(tmp_path, tiny_bert):
    fp32 = load_classifier(str(tiny_bert))
    plain, int8 = build("openvino_fp32", fp32, tmp_path), build("openvino_int8", fp32, tmp_path)
    before, after = parameter_breakdown(plain.model), parameter_breakdown(int8.model)
    for group in ("linear", "embeddings"):
        assert before[group]["bytes"] == 4 * before[group]["params"]  # FP32 as read: no FP16 compression
        assert after[group]["bytes"] < 0.3 * before[group]["bytes"]  # 8-bit values plus their scales
    assert model_bytes(int8.model) < 0.3 * model_bytes(plain.model)


def test_eight_bit_embeddings_shrink_the_model_below_linear_only_int8(tmp_path, shared_model):
    fp32 = load_classifier(str(shared_model))
    linear_only, with_embeddings = build("int8_dynamic", fp32, tmp_path), build("int8_dynamic_embeddings", fp32, tmp_path)
    groups = parameter_breakdown(with_embeddings.model)
    assert groups["embeddings"]["bytes"] < parameter_breakdown(linear_only.model)["embeddings"]["bytes"] / 3.5
    assert model_bytes(with_embeddings.model) < 0.3 * model_bytes(fp32.model) < model_bytes(linear_only.model)
    assert with_embeddings.model.bert.embeddings.word_embeddings.weight().dtype == torch.quint8


@pytest.mark.parametrize("name", ["fp32", "int8_dynamic", "int8_static", "onnx_int8_dynamic", "torchao_int8",
                                  "openvino_fp32", "openvino_int8", "onnx_int4_weights", "openvino_int4_weights"])
def test_parameter_groups_account_for_the_model_size(tmp_path, tiny_bert, name):
    built = build(name, load_classifier(str(tiny_bert)), tmp_path)
    groups = parameter_breakdown(built.model)
    counted = sum(g["bytes"] for g in groups.values())
    assert groups["embeddings"]["bytes"] > 0 and groups["linear"]["bytes"] > 0
    assert 0.8 * model_bytes(built.model) <= counted <= model_bytes(built.model)


def test_bf16_halves_every_weight_and_reloads_in_bf16(tmp_path, tiny_distilbert):
    fp32 = load_classifier(str(tiny_distilbert))
    built = build("bf16", fp32, tmp_path)
    back = save_and_load_route("bf16", built, {}, tmp_path / "saved")
    assert {p.dtype for p in back.model.parameters()} == {torch.bfloat16}
    assert abs(model_bytes(back.model) - model_bytes(fp32.model) / 2) < 0.01 * model_bytes(fp32.model)
    reason = VARIANTS["bf16"].unavailable()  # skipped exactly where the CPU has no bfloat16 units
    assert (reason is None) == (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def test_openvino_bf16_keeps_its_precision_through_saving_and_is_skipped_without_bf16_units(tmp_path, tiny_bert):
    fp32 = load_classifier(str(tiny_bert))
    built = build("openvino_bf16", fp32, tmp_path)  # builds anywhere: the hint is kept, computing needs the units
    back = save_and_load_route("openvino_bf16", built, {}, tmp_path / "saved")
    assert (built.model.precision, back.model.precision) == ("bf16", "bf16")
    assert build("openvino_fp32", fp32, tmp_path).model.precision == "f32"
    assert torch.equal(logits(built), logits(back))
    # bfloat16 keeps 8 bits of mantissa: close to FP32, not equal; the tiny random model's two logits lie
    # closer together than that, so its argmax may flip where the CPU computes in bfloat16
    assert torch.allclose(logits(back), logits(fp32), rtol=0.05, atol=1e-3)
    reason = VARIANTS["openvino_bf16"].unavailable()
    assert (reason is None) == (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def test_four_bit_weights_store_every_matmul_and_embedding_table_in_blocks_of_four_bits(tmp_path, shared_model):
    from helpers.methods.onnx_runtime import onnx_operator_counts

    fp32 = load_classifier(str(shared_model))
    built = build("onnx_int4_weights", fp32, tmp_path)
    ops = onnx_operator_counts(built.model.path)
    layers = fp32.model.config.num_hidden_layers
    assert ops["MatMulNBits"] == 6 * layers  # Q, K, V, the attention output and both feed-forward weights
    assert ops["GatherBlockQuantized"] == 3  # word, position and token-type tables
    groups = parameter_breakdown(built.model)
    fp32_groups = parameter_breakdown(fp32.model)
    # 4 bits and a 32-bit scale per 128 weights: 4.25 bits a weight; the Linear group also keeps its FP32 biases
    # and the pooler and classifier (Gemm, which the quantizer leaves alone)
    assert groups["embeddings"]["bytes"] < 0.14 * fp32_groups["embeddings"]["bytes"]
    assert groups["linear"]["bytes"] < 0.16 * fp32_groups["linear"]["bytes"]
    assert model_bytes(built.model) < 0.15 * model_bytes(fp32.model)


def test_nncf_stores_every_weight_matrix_and_embedding_table_in_four_bits(tmp_path, shared_model):
    fp32 = load_classifier(str(shared_model))
    built = build("openvino_int4_weights", fp32, tmp_path)
    matrices = [op for op in built.model.ov_model.get_ops() if op.get_type_name() == "Constant"
                and len(op.get_output_shape(0)) >= 2 and min(op.get_output_shape(0)) > 1]
    kinds = {op.get_element_type().get_type_name() for op in matrices if op.get_byte_size() > 100_000}
    assert kinds == {"i4"}  # every large constant: 4-bit integers, signed (symmetric, no zero-point)
    groups, fp32_groups = parameter_breakdown(built.model), parameter_breakdown(fp32.model)
    assert groups["embeddings"]["bytes"] < 0.16 * fp32_groups["embeddings"]["bytes"]
    assert groups["linear"]["bytes"] < 0.16 * fp32_groups["linear"]["bytes"]
    assert model_bytes(built.model) < 0.15 * model_bytes(fp32.model)


def test_pruned_and_distilled_routes_shrink_the_model_and_need_labelled_train_sentences(tmp_path, tiny_bert):
    from helpers.methods.pruning import heads_per_layer
    from helpers.routes.record import with_speedups

    fp32 = load_classifier(str(tiny_bert))
    for name in ("pruned_heads", "pruned_heads_int8_dynamic"):
        built = build(name, fp32, tmp_path)
        assert sum(heads_per_layer(built.model)) == sum(heads_per_layer(fp32.model)) // 2
    config = VARIANTS["pruned_heads"].configure(RUN)
    assert (config.fraction, config.recovery_steps, config.train_sentences) == (0.5, 2, len(TRAIN))
    _, chosen = build_with_choice("pruned_heads", fp32, tmp_path)
    assert len(chosen["losses"]) == 2 and sum(map(len, chosen["heads_removed"].values())) == 2
    _, chosen = build_with_choice("distilled", fp32, tmp_path)
    assert chosen["student_layers"] == 1 and chosen["teacher_layers"] == 2
    assert len(chosen["losses"]) == 2  # one loss per step of the config
    for name in ("pruned_heads", "distilled"):
        config = VARIANTS[name].configure(RUN)
        with pytest.raises(BookError, match="labelled sentences"):
            build_variant(VARIANTS[name], fp32, config, BuildInputs(CALIBRATION, 1))
        with pytest.raises(BookError, match="build that route first"):
            build_variant(VARIANTS[f"{name}_int8_dynamic"], fp32, config, BuildInputs(CALIBRATION, 1, train=TRAIN))
        with pytest.raises(BookError, match=f"needs {len(TRAIN) + 1} train sentences"):  # the config asks for more
            build_variant(VARIANTS[name], fp32, VARIANTS[name].configure(
                RunSettings(train_sentences=len(TRAIN) + 1, distill_sentences=len(TRAIN) + 1)),
                BuildInputs(CALIBRATION, 1, train=TRAIN))
    routes = {"fp32": {"precision": "fp32", "latency": {"median": 10}},
              "pruned_heads": {"precision": "fp32", "changes_model": True, "latency": {"median": 5}}}
    assert with_speedups(routes) == "fp32"  # a smaller model is not a faster way to run the same one
    assert routes["pruned_heads"]["speedup"] == 2 and routes["pruned_heads"]["speedup_vs_best_fp32"] == 2


def test_static_quantization_needs_calibration_sentences(tiny_bert):
    with pytest.raises(BookError, match="calibration"):
        build_variant(VARIANTS["int8_static"], load_classifier(str(tiny_bert)), VARIANTS["int8_static"].configure(RUN),
                      BuildInputs([], 1))


def test_histogram_calibration_never_widens_the_min_max_range(tiny_bert):
    from helpers.methods.static_quantization import activation_ranges, calibrate, prepare_static

    clf = load_classifier(str(tiny_bert))
    ranges = {}
    for observer in ("minmax", "histogram"):
        prepared = prepare_static(clf.model, clf.tokenizer, clf.max_length, observer)
        calibrate(prepared, clf.tokenizer, CALIBRATION, clf.max_length)
        ranges[observer] = activation_ranges(prepared)
    assert len(ranges["minmax"]) == len(ranges["histogram"]) > 0
    for mm, hist in zip(ranges["minmax"], ranges["histogram"]):
        assert (mm["min"], mm["max"]) == (hist["min"], hist["max"])  # both saw the same activations
        assert hist["scale"] <= mm["scale"] * (1 + 1e-6)


def test_the_smoke_profile_leaves_only_torchaos_compiled_route_to_the_full_build():
    from helpers.measure.profiles import PROFILES
    from helpers.methods.compiling import compiler_missing
    from helpers.routes.variants import within_profile

    def reasons(profile):
        return {v.name: v.unavailable() for v in within_profile(select_variants(), PROFILES[profile])}

    smoke, full = reasons("smoke"), reasons("full")
    assert compiler_missing() or "full build" in smoke["torchao_int8_compiled"]
    assert full["torchao_int8_compiled"] == compiler_missing()
    assert {n for n in smoke if smoke[n] != full[n]} <= {"torchao_int8_compiled"}


def test_a_route_this_machine_cannot_run_is_recorded_as_skipped(tmp_path, tiny_bert):
    from helpers.methods.configs import DynamicInt8

    absent = Variant("int8_imaginary", "INT8 imaginary", "needs hardware this machine lacks", "int8",
                     lambda _run: DynamicInt8(), lambda clf, config, _: (clf, {}), lambda clf, d: d,
                     lambda d, t: None, "#000000", "-", "-",
                     requirements=(lambda: None, lambda: "no imaginary accelerator here"))
    records, evaluation = run_routes([absent], load_classifier(str(tiny_bert)), RUN, lambda v: BuildInputs(),
                                     tmp_path, Measurer(lambda clf: ({}, None), {}), Store(tmp_path / "store"),
                                     BuildData("m"), progress=False)
    entry = records["int8_imaginary"]
    assert entry["skipped"] == "no imaginary accelerator here" and evaluation is None
    assert entry["config"] == {"kind": "DynamicInt8", "embeddings": False}  # what it would have been built with
    assert entry["method"] == "needs hardware this machine lacks" and not (tmp_path / "int8_imaginary").exists()
    assert not (tmp_path / "store").exists()  # nothing stored


def test_calibration_scan_measures_every_size_and_observer(tiny_bert):
    from helpers.data.sst2 import SentimentData
    from helpers.methods.static_quantization import calibration_scan

    clf = load_classifier(str(tiny_bert))
    examples = SentimentData(SENTENCES * 2, [1, 0, 1, 1, 0, 1], ["negative", "positive"], "test", "validation")
    rows = calibration_scan(clf.model, clf.tokenizer, clf.max_length, CALIBRATION, examples, sizes=(2, 5),
                            progress=False)
    assert [(r["observer"], r["n_sentences"]) for r in rows] == [("minmax", 2), ("minmax", 5),
                                                                  ("histogram", 2), ("histogram", 5)]
    assert all(r["accuracy"] in {k / 6 for k in range(7)} and r["setup_seconds"] > 0 for r in rows)
    with pytest.raises(BookError, match="6 calibration sentences"):
        calibration_scan(clf.model, clf.tokenizer, clf.max_length, CALIBRATION, examples, sizes=(6,))


def test_the_profiler_table_accounts_for_the_forward_pass(tiny_bert):
    from helpers.measure.profiling import top_operators

    clf = load_classifier(str(tiny_bert))
    ops = top_operators(clf, seq_len=16, threads=1, runs=2, top=5)
    assert ops["seq_len"] == 16 and len(ops["top"]) == 5
    shares = [r["share_pct"] for r in ops["top"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100 + 1e-6
    assert any(r["operator"] in ("aten::addmm", "aten::linear", "aten::mm") for r in ops["top"])


def test_a_stacked_route_starts_from_its_parents_model_built_once(tmp_path, tiny_bert, monkeypatch):
    from dataclasses import replace

    from helpers.methods.quantization import quantize_dynamic_int8

    fp32 = load_classifier(str(tiny_bert))
    calls = []
    student_route = VARIANTS["distilled"]
    monkeypatch.setitem(VARIANTS, "distilled", replace(
        student_route, build=lambda *args: calls.append(1) or student_route.build(*args)))

    def measure(clf):
        return {"size_bytes": model_bytes(clf.model)}, None

    def inputs_for(variant):
        return BuildInputs(CALIBRATION, 1, tmp_path, train=TRAIN)

    records, _ = run_routes(select_variants("distilled_int8_dynamic"), fp32, RUN, inputs_for, tmp_path,
                            Measurer(measure, {}), Store(tmp_path / "store"), BuildData("m", train="t"),
                            progress=False)
    assert calls == [1]  # the student is trained once, for both routes
    parent, child = records["distilled"], records["distilled_int8_dynamic"]
    assert child["details"]["parent"] == "distilled" and child["details"]["losses"] == parent["details"]["losses"]
    assert child["setup_seconds"] == pytest.approx(parent["setup_seconds"] + child["details"]["own_setup_seconds"],
                                                   abs=2e-3)
    student = VARIANTS["distilled"].load(tmp_path / "distilled", 1)
    stacked = VARIANTS["distilled_int8_dynamic"].load(tmp_path / "distilled_int8_dynamic", 1)
    expected = type(student)(quantize_dynamic_int8(student.model), student.tokenizer, student.source,
                             student.max_length)
    assert torch.equal(logits(stacked), logits(expected))  # INT8 of the saved student, not of another one


def test_a_saved_route_that_names_no_known_route_is_refused(tmp_path, tiny_bert):
    fp32 = load_classifier(str(tiny_bert))
    with pytest.raises(BookError, match="no route.json"):
        load_route(tmp_path)
    save_route(VARIANTS["fp32"], fp32, VARIANTS["fp32"].configure(RUN), {}, tmp_path / "fp32")
    meta = json.loads((tmp_path / "fp32" / ROUTE_FILE).read_text())
    (tmp_path / "fp32" / ROUTE_FILE).write_text(json.dumps({**meta, "route": "int4_magic"}))
    with pytest.raises(BookError, match="int4_magic"):
        load_route(tmp_path / "fp32")


def test_every_route_makes_its_config_from_the_run_and_the_config_is_data():
    import dataclasses

    for name, variant in VARIANTS.items():
        config = variant.configure(RUN)
        assert dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen
        with pytest.raises(TypeError):  # keyword-only: no setting is passed by position
            type(config)(*[getattr(config, f.name) for f in dataclasses.fields(config)] or [0])
        assert json.loads(json.dumps(config.as_dict()))["kind"] == type(config).__name__
    assert VARIANTS["int8_static"].configure(RUN).calibration_sentences == len(CALIBRATION)
    assert VARIANTS["distilled"].configure(RUN).steps == 2
    mixed = VARIANTS["int8_mixed"].configure(RUN)
    assert mixed.held_out_sentences == len(TRAIN) and "held-out" in mixed.as_dict()["selected_on"]


def test_a_route_built_twice_in_one_run_gets_a_scratch_folder_each(tmp_path):
    """The headline builds a compiled route a second time, in the same run, after the build step did."""
    from helpers.routes.keys import BuildData
    from helpers.routes.pipeline import _Inputs

    given = _Inputs(None, [], None, None, [], CALIBRATION, None, None, None, None, BuildData("m", threads=1), RUN)
    inputs_for = given.inputs_for(tmp_path)
    first, second = inputs_for(VARIANTS["int8_static"]), inputs_for(VARIANTS["int8_static"])
    assert first.scratch != second.scratch and first.scratch.is_dir() and second.scratch.is_dir()
    assert first.calibration == CALIBRATION and first.threads == 1
