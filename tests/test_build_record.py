"""The build's record of itself: steps timed in order, chapters split out, budgets by kind of build."""

import json
import time

import pytest

from helpers import BookError
from helpers.measure.build_record import PAGE, BuildClock, build_kind, load_build_record, time_shares


def _clock(jobs=1):
    clock = BuildClock(profile="smoke", jobs=jobs, threads=1, model="tiny", data="sst2")
    with clock.step("routes", "measure"):
        time.sleep(0.05)
    with clock.step("chapters", "execute"):
        time.sleep(0.02)
    return clock


def test_steps_are_timed_in_the_order_they_ran_and_the_record_names_the_machine():
    clock = _clock()
    record = clock.record(complete=False)
    assert [s["step"] for s in record["steps"]] == ["routes", "chapters"]
    assert record["steps"][0]["seconds"] >= 0.05 and record["seconds"] >= 0.07
    assert record["machine"]["int8_class"] and record["libraries"]["torch"]
    assert record["complete"] is False and json.dumps(record)  # JSON-ready


def test_a_step_under_way_is_listed_with_its_seconds_so_far():
    clock = _clock()
    with clock.step("render", "html"):
        time.sleep(0.02)
        steps = clock.record(complete=False)["steps"]
    assert steps[-1]["step"] == "render" and steps[-1]["running"] and steps[-1]["seconds"] >= 0.02
    assert "running" not in clock.record(complete=True)["steps"][-1]


def test_a_step_that_fails_is_still_recorded():
    clock = BuildClock(profile="smoke", jobs=1, threads=1)
    with pytest.raises(ValueError), clock.step("routes", "measure"):
        raise ValueError("broken")
    assert [s["step"] for s in clock.steps] == ["routes"]


def test_time_shares_split_chapters_run_one_at_a_time_and_keep_side_by_side_ones_whole():
    clock = _clock()
    clock.chapters = [{"chapter": "a", "title": "A", "executed": True, "seconds": 0.015},
                      {"chapter": "b", "title": "B", "executed": False, "seconds": 0.0}]
    rows = time_shares(clock.record(complete=True))
    parts = [r["part"] for r in rows]
    assert parts[0] == "routes" and "chapter: A" in parts and "chapter: B" not in parts  # reused: no bar
    assert "chapters" not in parts and "chapters: keys and pages" in parts
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert [r["seconds"] for r in rows] == sorted((r["seconds"] for r in rows), reverse=True)
    side_by_side = _clock(jobs=2)
    side_by_side.chapters = clock.chapters
    assert "chapters" in [r["part"] for r in time_shares(side_by_side.record(complete=True))]


def _record(routes, executed):
    chapters = [{"chapter": f"c{i}", "title": "", "executed": e, "seconds": 1.0} for i, e in enumerate(executed)]
    chapters.append({"chapter": PAGE, "title": "", "executed": True, "seconds": 1.0})  # always executed
    return {"routes": routes, "chapters": chapters}


def test_build_kind_tells_cold_from_warm_from_partial():
    assert build_kind(_record({"comparison: measured": 3, "shape: skipped": 1}, [True, True])) == "cold"
    assert build_kind(_record({"comparison: reused from the store": 3}, [False, False])) == "nothing changed"
    assert build_kind(_record({"comparison: reused from the store": 3}, [True, False])) == "partial"
    assert build_kind(_record({"comparison: measured": 1, "comparison: reused from the store": 2},
                              [True, True])) == "partial"


def test_a_missing_or_foreign_record_says_how_to_make_one(tmp_path):
    with pytest.raises(BookError, match="No build record.*make book"):
        load_build_record(tmp_path / "build.json")
    (tmp_path / "build.json").write_text(json.dumps({"schema": 6, "variants": {}}))
    with pytest.raises(BookError, match="not a build record"):
        load_build_record(tmp_path / "build.json")
