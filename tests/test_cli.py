"""The seed's pipeline end to end through `python -m helpers compare`."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from helpers import (BookError, load_comparison, load_sst2, recommend, resolve_profile, route_table, summaries,
                     summary)
from helpers.measure.profiles import profile_examples
from helpers.routes.report import against_fp32, flipped_sentences, margin_shifts, statistics_rows


def run_cli(*args, env=None, cwd=None):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "helpers", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=600)


def test_build_routes_fills_the_store_that_compare_then_measures_from(tmp_path, shared_model, shared_data):
    env = {"BOOK_MODEL": str(shared_model), "BOOK_DATA": str(shared_data)}
    proc = run_cli("build-routes", "--profile", "smoke", "--variants", "int8_dynamic", "--threads", "1",
                   "--store", str(tmp_path / "store"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "int8_dynamic: built " in proc.stdout and not (tmp_path / "models").exists()
    proc = run_cli("compare", "--profile", "smoke", "--out", str(tmp_path / "c.json"), "--models-dir",
                   str(tmp_path / "models"), "--threads", "1", "--no-progress", "--variants", "int8_dynamic",
                   "--store", str(tmp_path / "store"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "store" / "models" / "int8_dynamic").iterdir())) == 1  # built once, then measured
    assert load_comparison(tmp_path / "c.json")["routes"]["int8_dynamic"]["provenance"]["this_run"] == "measured"


def test_compare_smoke_end_to_end(tmp_path, shared_model, shared_data):
    out = tmp_path / "results" / "comparison.json"
    proc = run_cli("compare", "--profile", "smoke", "--out", str(out), "--models-dir", str(tmp_path / "models"),
                   "--threads", "1", "--no-progress", "--variants", "int8_dynamic,onnx_int8_dynamic",
                   env={"BOOK_MODEL": str(shared_model), "BOOK_DATA": str(shared_data)})
    assert proc.returncode == 0, proc.stderr
    record = load_comparison(out)
    assert record["model"] == str(shared_model) and record["profile"] == "smoke"
    assert record["environment"]["threads"] == 1
    assert record["eval"] == {"batch_size": 32, "padding": "longest", "max_length": 512, "order": "length",
                              "n_truncated": 0}
    n = record["n_examples"]
    assert n == len(record["labels"]) == 48
    assert list(record["routes"]) == ["fp32", "int8_dynamic", "onnx_int8_dynamic"]
    for name, v in record["routes"].items():
        assert len(v["predictions"]) == n == len(v["p_positive"])
        assert all((p > 0.5) == (pred == 1) for p, pred in zip(v["p_positive"], v["predictions"]) if p != 0.5)
        assert len(v["positive_margin"]) == n  # log-odds of positive: P = sigmoid(margin)
        assert all(abs(p - 1 / (1 + math.exp(-m))) < 1e-4 for p, m in zip(v["p_positive"], v["positive_margin"]))
        assert v["accuracy"] == sum(p == y for p, y in zip(v["predictions"], record["labels"])) / n
        assert {"median", "p90", "batch_size", "seq_len", "repeats"} <= set(v["latency"])
        assert v["method"] and v["setup_seconds"] >= 0 and v["checkpoint_bytes"] > 0
        assert f"{100 * v['accuracy']:.2f}%" in proc.stdout
    assert record["routes"]["int8_dynamic"]["size_bytes"] < record["routes"]["fp32"]["size_bytes"]
    for name, v in record["routes"].items():  # statistics, recomputed independently from the predictions
        lo, hi = v["accuracy_ci95"]
        assert lo <= v["accuracy"] <= hi
        if name != "fp32":
            pairs = list(zip(record["routes"]["fp32"]["predictions"], v["predictions"], record["labels"]))
            assert v["vs_fp32"]["fp32_right_only"] == sum(f == y != p for f, p, y in pairs)
            assert v["vs_fp32"]["variant_right_only"] == sum(p == y != f for f, p, y in pairs)
            assert v["vs_fp32"]["flipped"] == sum(f != p for f, p, _ in pairs)
            lo, hi = v["speedup_ci95"]
            assert 0 < lo <= v["interleaved"]["speedup"] <= hi and v["interleaved"]["n_sentences"] == 12
    for name in ("int8_dynamic", "onnx_int8_dynamic"):
        s = summary(record, name)
        assert f"{s['speedup']:.2f}x" in proc.stdout and f"{s['size_pct']:.0f}%" in proc.stdout
    for name, v in record["routes"].items():  # one layout: models/<route>/route.json, the record's config
        route = json.loads((tmp_path / "models" / name / "route.json").read_text())
        assert route["route"] == name and route["config"] == v["config"] and Path(v["artifact"]).name == name
    assert json.loads((tmp_path / "models" / "int8_dynamic" / "route.json").read_text())["method"]["saved_by"] \
        == "save_quantized"  # one manifest: what the method recorded sits in it, not in a file of its own
    assert (tmp_path / "models" / "fp32" / "model.safetensors").is_file()
    assert (tmp_path / "models" / "onnx_int8_dynamic" / "onnx" / "model_quantized.onnx").is_file()
    ops = record["routes"]["int8_dynamic"]["operators"]  # the profiler saw the quantized Linear layers
    assert any("quantized" in row["operator"] for row in ops["top"]) and ops["calls_per_pass"] > 0
    assert record["routes"]["onnx_int8_dynamic"]["operators"] is None  # not a PyTorch module
    advice = recommend(record, max_drop_pts=0.5)
    rows = {r["name"]: r for r in summaries(record)}
    variants = record["routes"]
    allowed = [r for n, r in rows.items() if n != "fp32" and r["accuracy_delta_pts"] >= -0.5
               and variants[n]["vs_fp32"]["mcnemar_p"] >= 0.05 and not variants[n]["changes_model"]]
    same = advice["same_model"]
    assert rows[same["fastest"]]["latency_ms"] == min(r["latency_ms"] for r in allowed)
    assert rows[same["smallest"]]["size_bytes"] == min(r["size_bytes"] for r in allowed)
    assert not variants[same["fastest"]]["changes_model"]  # like with like: pruned and distilled apart
    for name, why in advice["left_out"].items():  # every route left out says why, and rightly
        assert name != "fp32" and (rows[name].get("skipped") or rows[name]["accuracy_delta_pts"] < -0.5
                                   or variants[name]["vs_fp32"]["mcnemar_p"] < 0.05), why
    assert set(advice["left_out"]) | {r["name"] for r in allowed} | {"fp32"} >= {
        n for n in rows if not variants[n].get("changes_model")}
    table = {r["route"]: r for r in route_table(record)}
    assert table["onnx_int8_dynamic"]["speedup vs FP32 eager"] == rows["onnx_int8_dynamic"]["speedup"]
    assert table["fp32"]["size % of FP32"] == 100 and table["int8_dynamic"]["API"].startswith("deprecated")
    stats = {r["route"]: r for r in statistics_rows(record)}
    assert "delta_pts" not in stats["fp32"] and set(stats) == set(record["routes"])
    for name in ("int8_dynamic", "onnx_int8_dynamic"):
        v, r = record["routes"][name], stats[name]
        assert r["mcnemar_p"] == v["vs_fp32"]["mcnemar_p"] and r["speedup"] == v["interleaved"]["speedup"]
        assert r["delta_pts"] == pytest.approx(100 * (v["accuracy"] - record["routes"]["fp32"]["accuracy"]))
        shift = margin_shifts(record)[name]
        crossed = [i for i, (f, d) in enumerate(zip(record["routes"]["fp32"]["positive_margin"], shift))
                   if (f > 0) != (f + d > 0)]
        examples = profile_examples(load_sst2(str(shared_data), "validation"), resolve_profile("smoke"))
        flips = flipped_sentences(record, examples, name)
        assert len(flips) == r["flipped"] == len(crossed)  # a flip is a margin shift that crosses zero
        assert [f["sentence"] for f in flips] == [examples.sentences[i] for i in crossed]
    row = against_fp32(record, ["int8_dynamic"])[0]
    assert row["size % of FP32"] == pytest.approx(summary(record, "int8_dynamic")["size_pct"])
    assert row["speedup"] == stats["int8_dynamic"]["speedup"] and row["route"] == stats["int8_dynamic"]["label"]
    with pytest.raises(BookError, match="not the ones the record measured"):
        flipped_sentences(record, examples.subset(list(range(1, len(examples)))), "int8_dynamic")


def test_unknown_variant_is_refused_before_any_work(tmp_path, shared_model, shared_data):
    proc = run_cli("compare", "--model", str(shared_model), "--data", str(shared_data), "--variants", "int4_magic",
                   "--out", str(tmp_path / "c.json"), "--models-dir", str(tmp_path / "m"))
    assert proc.returncode == 2 and "Unknown variant" in proc.stderr and "int8_static" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_missing_model_directory_exits_with_a_message(tmp_path, shared_data):
    proc = run_cli("compare", "--model", str(tmp_path / "absent"), "--data", str(shared_data),
                   "--out", str(tmp_path / "c.json"))
    assert proc.returncode == 2
    assert "error: Model directory not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c.json").exists()


def test_unreachable_hub_exits_with_override_advice(tmp_path):
    proc = run_cli("compare", "--out", str(tmp_path / "c.json"), env={"BOOK_MODEL": "", "BOOK_DATA": ""})
    assert proc.returncode == 2
    assert "BOOK_DATA" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_profile_is_refused(tmp_path):
    proc = run_cli("compare", "--profile", "huge")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = run_cli("compare", "--out", str(tmp_path / "c.json"), env={"BOOK_PROFILE": "huge"})
    assert proc.returncode == 2 and "Unknown profile 'huge'" in proc.stderr


def test_build_book_stops_before_any_chapter_when_the_hub_is_unreachable(tmp_path, shared_model):
    proc = run_cli("build-book", "--profile", "smoke", "--model", str(shared_model),
                   env={"BOOK_DATA": ""})
    assert proc.returncode == 2
    assert "BOOK_DATA" in proc.stderr and "executing" not in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("option, message", [("--threads=0", "threads must be at least 1"),
                                             ("--batch-size=0", "batch_size must be at least 1")])
def test_impossible_settings_are_refused_before_any_work(tmp_path, shared_model, shared_data, option, message):
    proc = run_cli("compare", "--model", str(shared_model), "--data", str(shared_data), option,
                   "--out", str(tmp_path / "c.json"), "--models-dir", str(tmp_path / "m"))
    assert proc.returncode == 2 and message in proc.stderr
    assert not (tmp_path / "m").exists()
