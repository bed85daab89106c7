"""The store: what each key covers, reuse of unchanged routes, damaged entries, FRESH."""

import json
import shutil
import time

import pytest

from helpers import VARIANTS, run_comparison
from helpers.routes.pipeline import build_comparison_routes
from helpers.core.fingerprints import function_digest, module_closure
from helpers.methods.configs import MixedInt8
from helpers.routes.keys import BuildData, build_key, measurement_key

DATA = BuildData(model="m", calibration="c", train="t", threads=2, held_out="h")
ROUTES = ("int8_dynamic", "int8_mixed", "distilled", "pruned_heads")


def keys(data=DATA, configs=None):
    configs = configs or {}
    return {n: build_key(VARIANTS[n], configs.get(n) or VARIANTS[n].configure(_run()), None, data) for n in ROUTES}


def _run():
    from helpers import RunSettings

    return RunSettings(calibration_sentences=8, train_sentences=8, recovery_steps=2, distill_sentences=8,
                       distill_steps=2, held_out_sentences=8)


def changed(before, after):
    return {n for n in before if before[n] != after[n]}


def test_each_input_changes_exactly_the_keys_that_depend_on_it():
    base = keys()
    assert len(set(base.values())) == len(ROUTES)
    assert changed(base, keys(BuildData("other weights", "c", "t", 2, "h"))) == set(ROUTES)
    assert changed(base, keys(BuildData("m", "other sentences", "t", 2, "h"))) == set()  # none calibrates
    assert changed(base, keys(BuildData("m", "c", "other sentences", 2, "h"))) == {"distilled", "pruned_heads"}
    assert changed(base, keys(BuildData("m", "c", "t", 2, "other sentences"))) == {"int8_mixed"}
    # threads change the reduction order of what is computed from sentences, not a weight conversion
    assert changed(base, keys(BuildData("m", "c", "t", 1, "h"))) == {"int8_mixed", "distilled", "pruned_heads"}
    fewer = MixedInt8(held_out_sentences=4)
    assert changed(base, keys(configs={"int8_mixed": fewer})) == {"int8_mixed"}
    # a stacked route follows its parent's key
    child = VARIANTS["distilled_int8_dynamic"]
    config = child.configure(_run())
    assert build_key(child, config, base["distilled"], DATA) != build_key(child, config, "another parent", DATA)


def test_a_measurement_key_adds_threads_and_settings_to_the_build():
    settings = {"threads": 2, "machine": {"cpu": "x"}, "examples": "e"}
    key = measurement_key("b", "fp32", settings)
    assert key == measurement_key("b", "fp32", dict(settings))
    assert len({key, measurement_key("b2", "fp32", settings), measurement_key("b", "fp32", {**settings, "threads": 1}),
                measurement_key("b", "fp32", {**settings, "machine": {"cpu": "y"}})}) == 4


def test_a_measurement_stored_in_an_older_layout_is_not_read(monkeypatch):
    import helpers.routes.keys as keys_module

    before = measurement_key("b", "fp32", {"threads": 2})
    monkeypatch.setattr(keys_module, "MEASUREMENT_LAYOUT", keys_module.MEASUREMENT_LAYOUT + 1)
    assert measurement_key("b", "fp32", {"threads": 2}) != before


def test_code_keys_follow_the_helpers_each_builder_runs(tmp_path):
    import helpers

    package = tmp_path / "helpers"
    shutil.copytree(helpers.__path__[0], package, ignore=shutil.ignore_patterns("__pycache__"))

    def code(name):
        v = VARIANTS[name]
        return function_digest([v.build, v.save, v.load], package)

    before = {n: code(n) for n in ("int8_dynamic", "distilled", "pruned_heads", "onnx_int8_dynamic")}
    assert "helpers.teach.plotting" not in module_closure(["helpers.routes.variants"], package)

    def edit(relative):
        path = package / relative
        path.write_text(path.read_text() + "\n# edited\n")
        from helpers.core.fingerprints import _source_digest
        _source_digest.cache_clear()
        return {n: code(n) for n in before}

    assert edit("teach/plotting.py") == before  # a figure module changes no route
    after = edit("methods/distillation.py")
    assert changed(before, after) == {"distilled"}
    after2 = edit("methods/quantization.py")
    assert changed(after, after2) == {"int8_dynamic"}  # its builder and saver
    after3 = edit("core/models.py")  # every route loads or saves through it
    assert changed(after2, after3) == set(before)


@pytest.fixture()
def compare(tmp_path, tiny_bert, tiny_data):
    def run(variants="int8_dynamic,int8_mixed", threads=1, store=None):
        return run_comparison(model=str(tiny_bert), data=str(tiny_data), profile="smoke", out=tmp_path / "c.json",
                              models_dir=tmp_path / "models", threads=threads, progress=False, variants=variants,
                              store=store)
    return run


def _runs(record):
    return {n: v["provenance"]["this_run"] for n, v in record["routes"].items()}


def _numbers(record):
    return {n: (v["predictions"], v["accuracy"], v["size_bytes"], v["checkpoint_bytes"], v.get("details"))
            for n, v in record["routes"].items()}


def test_a_second_run_reuses_every_route_and_gives_the_same_record(compare, tmp_path):
    first = compare()
    assert set(_runs(first).values()) == {"measured"}
    shutil.rmtree(tmp_path / "models")
    second = compare()
    assert set(_runs(second).values()) == {"reused from the store"}
    assert _numbers(second) == _numbers(first) and second["eval"] == first["eval"]
    assert second["routes"]["int8_mixed"]["setup_seconds"] == first["routes"]["int8_mixed"]["setup_seconds"]
    assert (tmp_path / "models" / "int8_mixed" / "route.json").is_file()  # published again from the store
    provenance = second["routes"]["fp32"]["provenance"]
    assert provenance["measured"]["date"] == first["routes"]["fp32"]["provenance"]["measured"]["date"]


def test_a_damaged_entry_is_reported_and_rebuilt(compare, tmp_path, capsys):
    first = compare()
    stored = tmp_path / "store" / "models" / "int8_mixed"
    (folder,) = stored.iterdir()
    weights = folder / json.loads((folder / "entry.json").read_text())["weights"]
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    (measurement,) = (tmp_path / "store" / "measurements" / "int8_dynamic").iterdir()
    entry = json.loads(measurement.read_text())
    entry["value"]["entry"]["accuracy"] = 1.0  # edited by hand
    measurement.write_text(json.dumps(entry))
    second = compare()
    out = capsys.readouterr()
    damaged = [line for line in (out.out + out.err).splitlines() if "is damaged" in line]
    assert len(damaged) == 2 and any("int8_mixed" in line for line in damaged)
    assert _runs(second) == {"fp32": "reused from the store", "int8_dynamic": "measured", "int8_mixed": "measured"}
    assert _numbers(second) == _numbers(first)


def test_fresh_recomputes_everything_once(compare, tmp_path, monkeypatch):
    from helpers.teach.chapter import store_from_environment

    compare()
    monkeypatch.setenv("BOOK_FRESH", "1")  # as the book build tells its chapters; read at their set-up only
    monkeypatch.setenv("BOOK_FRESH_SINCE", str(time.time()))
    assert set(_runs(compare()).values()) == {"reused from the store"}  # nothing below the edge reads it
    fresh = store_from_environment(tmp_path / "store")
    assert fresh.root == (tmp_path / "store").resolve() and fresh.fresh_since is not None
    assert set(_runs(compare(store=fresh)).values()) == {"measured"}
    assert set(_runs(compare(store=fresh)).values()) == {"reused from the store"}  # made since the fresh start
    monkeypatch.setenv("BOOK_STORE", str(tmp_path / "elsewhere"))
    assert store_from_environment(tmp_path / "store").root == (tmp_path / "elsewhere").resolve()


def test_other_threads_measure_again_and_rebuild_only_what_computes(compare, tmp_path):
    compare()
    assert set(_runs(compare(threads=2)).values()) == {"measured"}
    models = tmp_path / "store" / "models"
    assert len(list((models / "int8_dynamic").iterdir())) == 1  # the weight conversion was reused
    assert len(list((models / "int8_mixed").iterdir())) == 2  # its layers were chosen with other threads


def test_routes_built_without_measuring_are_measured_later_from_the_store(tmp_path, tiny_bert, tiny_data):
    built = build_comparison_routes(model=str(tiny_bert), data=str(tiny_data), profile="smoke", threads=1,
                                    progress=False, variants="int8_mixed", models_dir=tmp_path / "models")
    assert str(built["int8_mixed"].model["path"]).startswith(str(tmp_path / "store"))
    assert not (tmp_path / "models").exists() and built["fp32"].plan.key
    made = built["int8_mixed"].model["made"]["date"]
    record = run_comparison(model=str(tiny_bert), data=str(tiny_data), profile="smoke", out=None,
                            models_dir=tmp_path / "models", threads=1, progress=False, variants="int8_mixed")
    mixed = record["routes"]["int8_mixed"]
    assert mixed["provenance"]["built"]["date"] == made and mixed["provenance"]["this_run"] == "measured"
    assert 0 <= mixed["accuracy"] <= 1 and mixed["details"]["k"] >= 0


def test_a_locked_store_makes_another_process_wait(tmp_path):
    """Two chapters open at once: while one run holds the store, another cannot take it (it waits)."""
    import subprocess
    import sys

    from helpers.routes.store import Store

    probe = ("import fcntl, sys\n"
             "with open(sys.argv[1], 'w') as f:\n"
             "    try:\n"
             "        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "    except BlockingIOError:\n"
             "        sys.exit(3)\n")

    def other_process_gets_it():
        done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "store" / ".lock")])
        assert done.returncode in (0, 3)
        return done.returncode == 0

    store = Store(tmp_path / "store")
    with store.locked():
        assert not other_process_gets_it()
    assert other_process_gets_it()


def test_a_same_size_edit_is_caught_and_an_identical_rewrite_is_not(tmp_path):
    """Lookups skip hashing only for files untouched since they were stored: a file rewritten with
    other bytes of the same length is hashed again and found damaged; the same bytes written again
    still match."""
    from helpers.routes.store import Store

    logged = []
    store = Store(tmp_path / "store", log=logged.append)
    store.put_model("r", "k" * 64, lambda folder: (folder / "w.bin").write_bytes(b"abcd") and None, {})
    weights = store.model_path("r", "k" * 64) / "w.bin"
    assert store.find_model("r", "k" * 64) is not None
    time.sleep(0.01)
    weights.write_bytes(b"abcd")  # the same bytes: a newer stamp, the same SHA-256
    assert store.find_model("r", "k" * 64) is not None and not logged
    weights.write_bytes(b"abce")  # same size, one byte changed
    assert store.find_model("r", "k" * 64) is None
    assert len(logged) == 1 and "w.bin differs" in logged[0]


def test_publishing_the_same_entry_again_leaves_the_published_folder_alone(tmp_path):
    """Two chapters executed side by side publish the same routes: the second must not pull the folder
    away from the first (it may be reading from it); a rebuilt entry is published anew."""
    from helpers.routes.store import Store

    store = Store(tmp_path / "store", log=lambda _line: None)
    entry = store.put_model("r", "k" * 64, lambda folder: (folder / "w.bin").write_bytes(b"abcd") and None, {})
    target = store.publish_model(entry, tmp_path / "models" / "r")
    (target / "being-read.tmp").write_text("a reader's file")  # e.g. a quantizer's intermediate file
    assert store.publish_model(store.find_model("r", "k" * 64), target) == target
    assert (target / "being-read.tmp").is_file() and (target / "w.bin").read_bytes() == b"abcd"
    time.sleep(1.1)  # entries are dated to the second
    rebuilt = store.put_model("r", "k" * 64, lambda folder: (folder / "w.bin").write_bytes(b"efgh") and None, {})
    store.publish_model(rebuilt, target)
    assert not (target / "being-read.tmp").exists() and (target / "w.bin").read_bytes() == b"efgh"
