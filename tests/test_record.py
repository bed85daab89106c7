"""One shape for every record of routes (`helpers.routes.record`): what it accepts, refuses and upgrades."""

import json
from pathlib import Path

import pytest

from helpers import BookError
from helpers.publish.bench import machine_records, upgrade_machine_record
from helpers.routes.record import (SCHEMA_VERSION, RouteResult, check_record, load_record, make_record,
                                   with_speedups, write_json)

SCHEMA_1 = Path(__file__).parent / "data" / "machine_schema1.json"  # a machine record `bench` wrote before


def _route(median_ms: float | None, **fields) -> dict:
    entry = {"label": "a route", "precision": "fp32", "method": "eager", "config": {}, "accuracy": 0.9,
             "predictions": [1, 0], "size_bytes": 100, "setup_seconds": 0.0}
    if median_ms is not None:
        entry["latency"] = {"median": median_ms, "p10": median_ms, "p90": median_ms, "repeats": 3, "threads": 1}
    return entry | fields


def test_speedups_are_made_once_against_fp32_eager_and_the_fastest_fp32_route():
    routes = {"fp32": _route(12.0), "onnx_fp32": _route(6.0), "int8": _route(4.0, precision="int8"),
              "pruned": _route(2.0, changes_model=True), "off": {**_route(None), "skipped": "no compiler"}}
    assert with_speedups(routes) == "onnx_fp32"  # int8 and a pruned model are not ways to run FP32
    assert (routes["int8"]["speedup"], routes["int8"]["speedup_vs_best_fp32"]) == (3.0, 1.5)
    assert routes["fp32"]["speedup"] == 1.0 and "speedup" not in routes["off"]


def test_a_measured_route_names_every_field_it_lacks_and_why():
    with pytest.raises(BookError, match="no accuracy, predictions.*does not say why"):
        make_record("shape", {"fp32": {k: v for k, v in _route(5.0).items() if k not in ("accuracy", "predictions")}})
    reason = "random weights"
    record = make_record("shape", {"fp32": {**_route(5.0, accuracy=None, predictions=None),
                                            "absent": {"accuracy": reason, "predictions": reason}}})
    assert "accuracy" not in record["routes"]["fp32"] and record["routes"]["fp32"]["absent"]["accuracy"] == reason
    with pytest.raises(BookError, match="latency needs"):
        make_record("machine", {"fp32": _route(5.0, latency={"median": 5.0})})
    with pytest.raises(BookError, match="lacks method"):
        RouteResult.from_dict({"label": "x", "precision": "fp32", "config": {}, "skipped": "why"}, "route 'x'")
    with pytest.raises(BookError, match="No record kind"):
        make_record("benchmark", {"fp32": _route(5.0)})


def test_a_route_s_fields_survive_a_round_trip_and_extra_fields_are_kept():
    entry = _route(5.0, vs_fp32={"flipped": 0}, absent={"setup_seconds": "not built here"}, speedup=1.0,
                   speedup_vs_best_fp32=0.5)
    entry.pop("setup_seconds")
    assert RouteResult.from_dict(entry).to_dict() == entry
    skipped = {"label": "x", "precision": "int8", "method": "m", "config": {}, "skipped": "no OpenVINO"}
    assert RouteResult.from_dict(skipped).to_dict() == skipped


def test_an_older_or_foreign_record_is_refused_with_what_to_do(tmp_path):
    record = make_record("comparison", {"fp32": _route(5.0)})
    path = write_json({**record, "schema_version": SCHEMA_VERSION - 1}, tmp_path / "old.json")
    with pytest.raises(BookError, match=f"schema version {SCHEMA_VERSION - 1}.*write it again"):
        load_record(path, "comparison")
    with pytest.raises(BookError, match="is a 'comparison' record, not a 'machine'"):
        load_record(write_json(record, tmp_path / "c.json"), "machine")
    with pytest.raises(BookError, match="FP32 eager"):
        check_record({**record, "routes": {"int8": _route(4.0)}}, "a record")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(BookError, match="not JSON"):
        load_record(tmp_path / "broken.json", "shape")
    with pytest.raises(BookError, match="No shape record"):
        load_record(tmp_path / "none.json", "shape")


def test_a_machine_record_of_schema_1_is_read_in_today_s_shape_with_its_own_speedups(tmp_path):
    old = json.loads(SCHEMA_1.read_text())
    new = upgrade_machine_record(old)
    assert (new["schema_version"], new["kind"], new["upgraded_from_schema"]) == (SCHEMA_VERSION, "machine", 1)
    assert new["best_fp32"] == old["best_fp32"] and list(new["routes"]) == list(old["routes"])
    for name, row in old["routes"].items():
        if "skipped" in row:
            assert new["routes"][name]["skipped"] == row["skipped"]
            continue
        route = new["routes"][name]
        assert route["latency"] == row["latency_ms"] and route["accuracy"] == row["accuracy"]
        assert route["speedup"] == pytest.approx(row["speedup"], rel=1e-12)
        assert route["speedup_vs_best_fp32"] == pytest.approx(row["speedup_vs_best_fp32"], rel=1e-12)
        assert "predictions" in route["absent"]  # schema 1 kept none: said, not silently missing
    (tmp_path / SCHEMA_1.name).write_text(SCHEMA_1.read_text())
    assert machine_records(tmp_path)[0]["routes"] == new["routes"]
    (tmp_path / "other.json").write_text(json.dumps({"schema": 1, "steps": []}))  # not a machine record
    with pytest.raises(BookError, match="schema version 1"):
        machine_records(tmp_path)
