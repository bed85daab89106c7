"""`bench --emulate`: stored files' answers under qemu-user, compared with this machine's."""

import shutil

import pytest
import torch

from helpers.core.errors import BookError
from helpers.measure.environment import describe_environment, int8_class
from helpers.publish.emulation import (ABSENT, answers, compare_answers, emulated_answers, entry_name,
                                       failure_reason)
from helpers.routes.record import check_record, make_record
from helpers.routes.variants import VARIANTS, BuildInputs, build_variant, save_route
from test_variants import RUN

NO_QEMU = shutil.which("qemu-x86_64") is None


def test_answers_are_compared_sentence_by_sentence():
    native = {"predictions": [1, 0, 1], "logits": [[0.0, 1.0], [1.0, 0.0], [0.2, 0.3]]}
    emulated = {"predictions": [1, 0, 0], "logits": [[0.0, 1.0], [1.0, 0.01], [0.3, 0.25]]}
    diff = compare_answers(native, emulated)
    assert (diff["answers_changed"], diff["changed_sentences"]) == (1, [2])
    assert diff["largest_logit_change"] == pytest.approx(0.1)
    with pytest.raises(BookError, match="different sentences"):
        compare_answers(native, {**emulated, "predictions": [1, 0]})


def test_a_record_of_answers_only_says_why_it_has_no_time():
    absent = {k: ABSENT for k in ("latency", "speedup", "speedup_vs_best_fp32", "setup_seconds")}
    row = {"label": "x", "precision": "int8", "method": "m", "config": {}, "accuracy": 0.5, "predictions": [1],
           "size_bytes": 1, "absent": absent}
    routes = {"fp32": {**row, "precision": "fp32"}, entry_name("onnx_int8_optimized", "avx2"): row}
    record = make_record("machine", routes,
                         created="2026-12-05T00:00:00+00:00")
    assert record["best_fp32"] is None and "onnx_int8_optimized:avx2" in record["routes"]
    check_record(record, "emulated", "machine")
    with pytest.raises(BookError, match="No speedup without FP32 eager"):  # untimed, and not saying why
        make_record("machine", {"fp32": {**row, "absent": {}}})


@pytest.mark.skipif(NO_QEMU, reason="qemu-user is not installed (Debian's qemu-user: `apt-get install qemu-user`)")
def test_a_tiny_int8_route_answers_under_emulation_as_an_avx2_cpu(tmp_path, tiny_bert, tiny_data):
    from helpers import load_classifier

    variant = VARIANTS["int8_dynamic"]
    fp32 = load_classifier(str(tiny_bert))
    config = variant.configure(RUN)
    built, chosen, _ = build_variant(variant, fp32, config, BuildInputs(threads=1, scratch=tmp_path))
    save_route(variant, built, config, chosen, tmp_path / "route")
    native = answers("int8_dynamic", tmp_path / "route", str(tiny_data), 1)
    there = emulated_answers("Haswell", "int8_dynamic", tmp_path / "route", str(tiny_data), 1)
    # the environment described inside the emulation is the emulated CPU's, told apart from the host's
    emulated_cpu = there["environment"]
    flags = set(emulated_cpu["cpu_flags"])
    assert int8_class(emulated_cpu["cpu_flags"]) == "AVX2" and "avx2" in flags
    assert not {"avx512f", "avx512_vnni", "amx_tile"} & flags
    host = describe_environment(1)
    if set(host["cpu_flags"]) > flags:  # a host with more than Haswell
        assert emulated_cpu["cpu"].endswith("(emulated)")
        assert emulated_cpu["emulated"]["host_flags"] == host["cpu_flags"]
    assert len(there["predictions"]) == len(native["predictions"]) == 30
    diff = compare_answers(native, there)
    if int8_class(host["cpu_flags"]) == "AVX2" and not torch.cpu._is_avx512_supported():
        # the same instruction set: the same kernels, the same integers, the same logits
        assert diff["largest_logit_change"] < 1e-5, diff
    assert diff["answers_changed"] <= len(native["predictions"])


def test_a_crash_under_emulation_is_named_without_qemus_feature_warnings():
    stderr = ("qemu-x86_64: warning: TCG doesn't support requested feature: CPUID.07H:EBX.hle [bit 4]\n"
              "qemu-x86_64: warning: TCG doesn't support requested feature: CPUID.07H:EBX.rtm [bit 11]\n"
              "qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n")
    assert failure_reason(stderr) == "qemu: uncaught target signal 11 (Segmentation fault) - core dumped"
    assert failure_reason("") == "no error output"


def test_a_record_of_stored_answers_only_needs_some_answers(tmp_path, tiny_bert, tiny_data):
    from helpers.publish.emulation import run_emulated_bench

    with pytest.raises(BookError, match="no route ran under emulation"):
        run_emulated_bench("Haswell", str(tiny_bert), str(tiny_data), store=tmp_path / "store",
                           out_dir=tmp_path, threads=1, routes=("fp32", "int8_dynamic"), profile="smoke",
                           progress=False, stored_only=True)
    assert not list(tmp_path.glob("*.json"))  # nothing written


def test_records_of_one_emulated_cpu_on_two_kinds_of_host_do_not_overwrite_each_other():
    from helpers.publish.emulation import emulated_file_name

    def record(host_class):
        return {"machine": {"cpu": "Haswell (emulated by qemu-x86_64)", "cpu_flags": ["avx2", "fma"]},
                "emulated": {"cpu_model": "Haswell", "host": {"int8_class": host_class}}}

    names = {emulated_file_name(record(c)) for c in ("AVX2", "AVX-512 VNNI", "AMX")}
    assert len(names) == 3 and all(n.startswith("haswell-emulated-on-") and n.endswith("-avx2-fma.json")
                                   for n in names)
