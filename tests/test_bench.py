"""`python -m helpers bench`: a machine's record (kernel ceilings, the main routes at batch 1), and the
pieces it is made of. Timings are recorded, never asserted."""

import json
from types import SimpleNamespace

import pytest

from conftest import REPO
from helpers.measure.environment import int8_class
from helpers.measure.kernels import kernel_ceilings, linear_shapes
from helpers.publish.bench import bench_table, machine_file_name, run_bench
from test_cli import run_cli


def test_linear_shapes_are_read_from_bert_and_distilbert_configs():
    bert = SimpleNamespace(hidden_size=384, intermediate_size=1536)
    distilbert = SimpleNamespace(hidden_size=768, hidden_dim=3072, intermediate_size=None)
    assert linear_shapes(bert) == [(384, 384), (384, 1536), (1536, 384)]
    assert linear_shapes(distilbert) == [(768, 768), (768, 3072), (3072, 768)]


def test_every_kernel_pair_is_timed_at_every_shape():
    timings = kernel_ceilings([(32, 16), (16, 32)], tokens=3, threads=1, repeats=3)
    assert {t.kernel for t in timings} == {"torch dynamic Linear", "torch._int_mm", "ONNX Runtime MatMulInteger"}
    assert sorted({(t.m, t.k, t.n) for t in timings}) == [(3, 16, 32), (3, 32, 16)]
    for t in timings:
        assert t.fp32_us > 0 and t.int8_us > 0 and t.to_dict()["ceiling"] == pytest.approx(t.fp32_us / t.int8_us)


@pytest.mark.parametrize("flags, expected", [
    (["avx2", "fma"], "AVX2"),
    (["avx2", "avx512f", "avx512bw"], "AVX-512"),
    (["avx2", "avx512bw", "avx512_vnni"], "AVX-512 VNNI"),
    (["avx2", "avx512bw", "avx512_vnni", "amx_tile", "amx_int8"], "AMX"),
    (["avx2", "fma", "avx_vnni"], "AVX-VNNI"),
    (["asimddp"], "ARM dot product"),
    (["asimddp", "i8mm"], "ARM i8mm"),
    ([], "no INT8 dot product")])
def test_a_machine_is_classed_by_its_best_int8_instruction(flags, expected):
    assert int8_class(flags) == expected


def test_a_machine_file_is_named_by_its_cpu_and_flags():
    env = {"cpu": "AMD EPYC 9R14 96-Core Processor", "cpu_flags": ["avx2", "avx512_vnni"]}
    assert machine_file_name(env) == "amd-epyc-9r14-96-core-processor-avx2-avx512-vnni.json"
    assert machine_file_name({"cpu": "aarch64", "cpu_flags": []}) == "aarch64-no-avx2.json"


def test_bench_records_the_machine_the_ceiling_and_each_route(tmp_path, tiny_bert, tiny_data):
    routes = ("fp32", "onnx_fp32_optimized", "int8_dynamic", "onnx_int8_optimized", "openvino_int8")
    record, path = run_bench(model=str(tiny_bert), data=str(tiny_data), store=tmp_path / "store",
                             out_dir=tmp_path / "machines", threads=1, sentences=5, routes=routes, rounds=2,
                             profile="smoke", progress=False)
    assert path.parent == tmp_path / "machines" and json.loads(path.read_text()) == json.loads(json.dumps(record))
    assert list(record["routes"]) == list(routes)
    assert record["machine"]["int8_class"] == int8_class(record["machine"]["cpu_flags"])
    assert record["n_examples"] == 30 and record["timed_sentences"] == 5
    assert len(record["kernels"]) == 3 * 3  # three kernel pairs at the three Linear shapes of the tiny BERT
    assert record["routes"][record["best_fp32"]]["precision"] == "fp32"
    for row in record["routes"].values():
        assert len(row["latency"]["round_medians"]) == 2
        assert min(row["latency"]["round_medians"]) <= row["latency"]["median"]
    fp32 = record["routes"]["fp32"]
    assert fp32["speedup"] == 1 and fp32["accuracy_delta_pts"] == 0
    optimized = record["routes"]["onnx_int8_optimized"]
    assert optimized["config"]["optimized"] and optimized["config"]["preset"]
    assert optimized["speedup_vs_best_fp32"] == pytest.approx(
        record["routes"][record["best_fp32"]]["latency"]["median"] / optimized["latency"]["median"])
    table = bench_table(record)
    assert all(name in table for name in routes) and "ceiling, torch._int_mm" in table
    # a second run reuses the routes the first one stored
    stored = sorted(p.name for p in (tmp_path / "store" / "models").iterdir())
    run_bench(model=str(tiny_bert), data=str(tiny_data), store=tmp_path / "store", out_dir=tmp_path / "again",
              threads=1, sentences=5, routes=routes, profile="smoke", progress=False)
    assert all(len(list((tmp_path / "store" / "models" / name).iterdir())) == 1 for name in stored)


def test_bench_on_the_command_line_says_where_its_record_went(tmp_path, tiny_bert, tiny_data):
    proc = run_cli("bench", "--model", str(tiny_bert), "--data", str(tiny_data), "--threads", "1", "--profile", "smoke",
                   "--sentences", "3", "--out-dir", str(tmp_path / "machines"), "--store", str(tmp_path / "store"),
                   cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    written = list((tmp_path / "machines").glob("*.json"))
    assert len(written) == 1 and f"wrote {written[0]}" in proc.stdout


def _route(precision, accuracy, predictions, ms=None, config=None):
    entry = {"label": precision, "precision": precision, "method": "m", "config": config or {}, "accuracy": accuracy,
             "predictions": predictions, "size_bytes": 1, "setup_seconds": 1.0}
    if ms is None:
        return {**entry, "absent": {k: "emulated: answers only" for k in ("latency", "speedup",
                                                                          "speedup_vs_best_fp32", "setup_seconds")}}
    return {**entry, "latency": {"median": ms, "p10": ms, "p90": ms, "repeats": 3, "threads": 1},
            "accuracy_delta_pts": 100 * (accuracy - 0.9)}


def _machine(cls, routes, emulated=None, file="m.json", created="2026-12-01T00:00:00+00:00"):
    from helpers.routes.record import make_record

    record = make_record("machine", routes, created=created, model="m", threads=1,
                         machine={"cpu": f"a {cls} cpu", "int8_class": cls, "cpu_flags": []},
                         environment={"commit": "c"}, **({"emulated": emulated} if emulated else {}))
    return record | {"file": file}


def test_advice_takes_speed_from_measured_records_and_answers_from_emulated_ones():
    from helpers.publish.bench import advice_per_class, emulated_rows, emulated_skips, emulated_vs_measured

    measured = _machine("AVX2", {"fp32": _route("fp32", 0.9, [1, 0, 1], ms=10.0),
                                 "int8_dynamic": _route("int8", 0.9, [1, 0, 1], ms=5.0, config={"a": 1})})
    host = {"cpu": "h", "int8_class": "AVX-512 VNNI"}
    emulated_routes = {"fp32": {"label": "f", "precision": "fp32", "method": "m", "config": {}, "skipped": "float"},
                       "int8_dynamic": _route("int8", 0.9, [1, 1, 1], config={"a": 1}),
                       "onnx_int8_optimized:avx2": _route("int8", 0.95, [1, 0, 1])}
    for name, entry in emulated_routes.items():
        if "skipped" not in entry:
            entry |= {"accuracy_delta_pts": 100 * (entry["accuracy"] - 0.9),
                      "against_native": {"answers_changed": 1 if name == "int8_dynamic" else 0,
                                         "largest_logit_change": 0.1}}
    avx2 = _machine("AVX2", emulated_routes, emulated={"cpu_model": "Haswell", "host": host}, file="e.json")
    sse = _machine("SSE", {k: dict(v) for k, v in emulated_routes.items()},
                   emulated={"cpu_model": "Nehalem", "host": host}, file="s.json")
    rows = {(r["int8 class"], r["file"]): r for r in emulated_rows([measured, avx2, sse])}
    assert rows[("AVX2", "int8_dynamic")]["answers changed"] == 1 and len(rows) == 4
    assert [(s["int8 class"], s["file"], s["why not run there"]) for s in emulated_skips([measured, avx2, sse])] \
        == [("AVX2", "fp32", "float"), ("SSE", "fp32", "float")]  # not run there, with the reason
    advice = {a["int8 class"]: a for a in advice_per_class([measured, avx2, sse])}
    # AVX2: its speed measured, and how many answers the same file changed under emulation
    assert advice["AVX2"]["deploy"] == "int8_dynamic" and advice["AVX2"]["vs FP32 eager"] == 2.0
    assert advice["AVX2"]["answers changed (emulated)"] == 1
    # a class known only by emulation: its most accurate INT8 file there, and no speed
    assert advice["SSE"]["deploy"] == "onnx_int8_optimized:avx2" and advice["SSE"]["vs FP32 eager"] is None
    assert "not measured" in advice["SSE"]["speed"]
    beside = emulated_vs_measured([measured, avx2, sse])
    assert [(b["file"], b["answers that differ"]) for b in beside] == [("int8_dynamic", 1)]


def test_two_hosts_that_emulated_one_class_are_told_apart_and_advice_takes_the_most_changed_answers():
    from helpers.publish.bench import advice_per_class, emulated_skips, emulated_vs_measured, emulation_by_host

    measured = _machine("AVX2", {"fp32": _route("fp32", 0.9, [1, 0, 1], ms=10.0),
                                 "int8_dynamic": _route("int8", 0.9, [1, 0, 1], ms=5.0, config={"a": 1})})

    def emulated(host_class, changed, file, preset_config):
        routes = {"fp32": {"label": "f", "precision": "fp32", "method": "m", "config": {}, "skipped": "float"},
                  "int8_dynamic": _route("int8", 0.9, [1, 0, 1], config={"a": 1}),
                  "onnx_int8_optimized:avx2": _route("int8", 0.9, [1, 0, 1], config=preset_config)}
        for name, entry in routes.items():
            if "skipped" not in entry:
                entry |= {"accuracy_delta_pts": 0.0,
                          "against_native": {"answers_changed": changed[name], "largest_logit_change": changed[name] / 10}}
        return _machine("AVX2", routes, file=file,
                        emulated={"cpu_model": "Haswell", "host": {"cpu": "h", "int8_class": host_class}})

    on_avx2 = emulated("AVX2", {"int8_dynamic": 0, "onnx_int8_optimized:avx2": 0}, "a.json", {"p": "avx2"})
    on_vnni = emulated("AVX-512 VNNI", {"int8_dynamic": 3, "onnx_int8_optimized:avx2": 5}, "v.json", {"p": "avx2"})
    records = [measured, on_avx2, on_vnni]
    summary = {r["host class"]: r for r in emulation_by_host(records)}
    assert summary["AVX2"]["files that changed an answer"] == 0 and summary["AVX2"]["files run"] == 2
    assert (summary["AVX-512 VNNI"]["most answers changed"], summary["AVX-512 VNNI"]["in file"]) \
        == (5, "onnx_int8_optimized:avx2")
    assert sorted(s["host class"] for s in emulated_skips(records)) == ["AVX-512 VNNI", "AVX2"]
    beside = emulated_vs_measured(records)
    assert sorted((b["host class"], b["file"]) for b in beside) == [("AVX-512 VNNI", "int8_dynamic"),
                                                                     ("AVX2", "int8_dynamic")]
    advice = advice_per_class(records)
    assert [(a["deploy"], a["answers changed (emulated)"]) for a in advice] == [("int8_dynamic", 3)]
    # a file of the same route with another config (another preset) is not the deployed file
    measured["routes"]["int8_dynamic"]["config"] = {"a": 2}
    assert advice_per_class(records)[0]["answers changed (emulated)"] is None
