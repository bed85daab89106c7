"""`python -m helpers bench`: what INT8 buys on this machine, in a few minutes, as one record.

It measures the ceiling of this CPU's INT8 products against FP32 at the model's own Linear shapes, then
the batch-1 latency of the main routes on real validation sentences and their accuracy on all of them,
reusing the routes the store already holds. The record goes to `results/machines/<cpu>-<flags>.json`;
the book commits one per kind of machine it was built on, and its gallery shows them side by side.
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from ..core.models import load_classifier
from ..core.sources import display_name
from ..data.sst2 import load_sst2
from ..measure.environment import describe_environment, default_threads, int8_class
from ..measure.evaluation import evaluate, token_lengths
from ..measure.kernels import kernel_ceilings, linear_shapes
from ..measure.latency import fixed_threads, latency_on_sentences
from ..measure.size import model_bytes
from ..routes.pipeline import build_comparison_routes
from ..routes.record import check_record, make_record, read_json, write_json
from ..routes.variants import VARIANTS

# The routes a machine's record compares: FP32 eager and the FP32 routes that may beat it (the fair
# baseline), then INT8 through PyTorch, ONNX Runtime and OpenVINO. Routes that need training or compiling are
# left to the book's build (minutes each); a route whose package is missing is recorded as skipped.
BENCH_ROUTES = ("fp32", "onnx_fp32", "onnx_fp32_optimized", "openvino_fp32", "int8_dynamic", "onnx_int8_dynamic",
                "onnx_int8_optimized", "openvino_int8")
ACCURACY_BATCH = 32  # sentences per batch when a record measures accuracy (grouped by length)


def machine_file_name(env: dict) -> str:
    """`<cpu>-<flags>.json`: the CPU's name and the ISA flags that decide INT8 speed, lower case."""
    words = [env["cpu"], *(env["cpu_flags"] or ["no-avx2"])]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-") + ".json"


def run_bench(model: str | None = None, data: str | None = None, store=None,
              out_dir: str | Path = "results/machines", threads: int | None = None, sentences: int = 100,
              seed: int = 0, routes: tuple[str, ...] = BENCH_ROUTES, rounds: int = 3, profile: str = "full",
              progress: bool = True) -> tuple[dict, Path]:
    """Measure this machine (see the module's docstring) and write its record; returns it and its path.
    Each route is timed on the same sentences in `rounds` round-robin rounds; its median is the median of
    the rounds' medians (`round_medians` shows their spread, `p10`/`p90` the last round's)."""
    start = time.perf_counter()
    threads = default_threads() if threads is None else threads
    # the routes as the book's build of `profile` configures them: the store reuses what that build made
    built = build_comparison_routes(model=model, data=data, profile=profile, threads=threads, seed=seed,
                                    variants=list(routes), store=store, progress=progress)  # store: compare's
    examples = load_sst2(data, "validation")
    fp32 = load_classifier(model)
    timed = examples.sentences[:sentences]  # the first sentences of the split: the same on every machine
    tokens = int(statistics.median(token_lengths(fp32, timed)))
    env = describe_environment(threads)
    kernels = kernel_ceilings(linear_shapes(fp32.model.config), tokens, threads)
    measured, loaded = {}, {}
    for name, route in built.items():
        variant = route.plan.variant
        row = {"label": variant.label, "precision": variant.precision, "method": variant.method,
               "config": route.plan.entry["config"]}
        if route.plan.skipped:
            measured[name] = {**row, "skipped": route.plan.skipped}
            continue
        loaded[name] = clf = variant.load(route.model["path"], threads)
        with fixed_threads(threads):
            result = evaluate(clf, examples, ACCURACY_BATCH, progress=False)
        measured[name] = {**row, "accuracy": result.accuracy, "predictions": result.predictions,
                          "size_bytes": model_bytes(clf.model), "setup_seconds": route.model["setup_seconds"]}
    medians: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(rounds):  # round-robin: a machine's drift falls on every route alike
        for name, clf in loaded.items():
            latency = latency_on_sentences(clf, timed, threads, warmup=10)
            medians[name].append(latency.median)
            measured[name]["latency"] = {**latency.to_dict(), "median": statistics.median(medians[name]),
                                         "round_medians": [round(m, 4) for m in medians[name]]}
    measured = {name: measured[name] for name in routes if name in measured}  # in the order asked for
    for row in measured.values():
        if "latency" in row:
            row["accuracy_delta_pts"] = 100 * (row["accuracy"] - measured["fp32"]["accuracy"])
    record = make_record(
        "machine", measured,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        machine={"cpu": env["cpu"], "cpu_flags": env["cpu_flags"], "int8_class": int8_class(env["cpu_flags"]),
                 "cpu_capability": env["cpu_capability"], "logical_cpus": env["logical_cpus"],
                 "platform": env["platform"]},
        environment=env,
        model=display_name(fp32.source),
        data=display_name(examples.source),
        n_examples=len(examples),
        timed_sentences=len(timed),
        rounds=rounds,
        profile=profile,
        median_tokens=tokens,
        threads=threads,
        kernels=[k.to_dict() for k in kernels],
        seconds=round(time.perf_counter() - start, 1),
    )
    path = Path(out_dir) / machine_file_name(env)
    write_json(record, path)
    return record, path


def bench_table(record: dict) -> str:
    """The record as lines a terminal shows: the ceiling per kernel, then each route."""
    lines = [f"{record['machine']['cpu']} ({record['machine']['int8_class']}), {record['threads']} threads, "
             f"{record['model']}, batch 1, {record['timed_sentences']} sentences of median "
             f"{record['median_tokens']} tokens"]
    by_kernel: dict[str, list[float]] = {}
    for k in record["kernels"]:
        by_kernel.setdefault(k["kernel"], []).append(k["ceiling"])
    for kernel, ceilings in by_kernel.items():
        lines.append(f"  ceiling, {kernel}: INT8 {min(ceilings):.2f}–{max(ceilings):.2f}× FP32")
    for name, row in record["routes"].items():
        if "skipped" in row:
            lines.append(f"  {name:22s} skipped: {row['skipped']}")
            continue
        lines.append(f"  {name:22s} {row['latency']['median']:7.2f} ms  {row['speedup']:5.2f}× eager  "
                     f"{row['speedup_vs_best_fp32']:5.2f}× {record['best_fp32']}  "
                     f"accuracy {100 * row['accuracy']:.2f}% ({row['accuracy_delta_pts']:+.2f})")
    return "\n".join(lines)


def upgrade_machine_record(record: dict) -> dict:
    """A machine record of schema 1 (`make bench` before one schema) in today's shape: the same
    measurements, the latency under `latency`, the speedups made again by `record.with_speedups`."""
    routes = {}
    for name, row in record["routes"].items():
        entry = {k: row[k] for k in ("label", "precision", "config")} | {"method": VARIANTS[name].method}
        if "skipped" in row:
            routes[name] = {**entry, "skipped": row["skipped"]}
            continue
        routes[name] = {**entry, "accuracy": row["accuracy"], "size_bytes": row["size_bytes"],
                        "latency": row["latency_ms"], "accuracy_delta_pts": row["accuracy_delta_pts"],
                        "absent": {"predictions": "measured before machine records kept predictions",
                                   "setup_seconds": "measured before machine records kept setup times"}}
    rest = {k: v for k, v in record.items() if k not in ("schema", "routes", "best_fp32")}
    return make_record("machine", routes, **rest, upgraded_from_schema=record["schema"])


def machine_records(directory: str | Path) -> list[dict]:
    """Every machine record in `directory` (`results/machines/` of the book's checkout), oldest first;
    one of schema 1 is upgraded, one that is not a machine record is refused."""
    records = []
    for path in sorted(Path(directory).glob("*.json")):
        record = read_json(path, "machine record")
        if record.get("schema") == 1 and "machine" in record:
            record = upgrade_machine_record(record)
        check_record(record, str(path), "machine")
        records.append(record | {"file": path.name})
    return sorted(records, key=lambda r: r["created"])


def gallery_rows(records: list[dict]) -> list[dict]:
    """One row per machine and measured route: the machine's INT8 class, the route, its median latency,
    its speedups against FP32 eager and the machine's fastest FP32 route, its accuracy change."""
    rows = []
    for record in records:
        machine = record["machine"]
        for name, route in record["routes"].items():
            if "latency" not in route:
                continue
            rows.append({"int8 class": machine["int8_class"], "cpu": machine["cpu"], "model": record["model"],
                         "threads": record["threads"], "route": name, "precision": route["precision"],
                         "median ms": route["latency"]["median"], "vs FP32 eager": route["speedup"],
                         "vs best FP32": route["speedup_vs_best_fp32"], "best FP32": record["best_fp32"],
                         "accuracy change (pts)": route["accuracy_delta_pts"],
                         "measured": record["created"][:10], "commit": record["environment"].get("commit"),
                         "config": route["config"]})
    return rows


def emulated_rows(records: list[dict]) -> list[dict]:
    """One row per emulated record (`bench --emulate`) and file: the class emulated and the host's, the
    accuracy there, how many answers changed against the same file on the host, the largest logit change."""
    rows = []
    for record in records:
        if not record.get("emulated"):
            continue
        for name, route in record["routes"].items():
            if "skipped" in route:
                continue
            diff = route["against_native"]
            rows.append({"int8 class": record["machine"]["int8_class"], "model": record["model"], "file": name,
                         "precision": route["precision"], "accuracy there (%)": 100 * route["accuracy"],
                         "accuracy change (pts)": route["accuracy_delta_pts"],  # against FP32 on the host
                         "answers changed": diff["answers_changed"],
                         "largest logit change": diff["largest_logit_change"],
                         "host class": record["emulated"]["host"]["int8_class"],
                         "emulated": record["emulated"]["cpu_model"], "measured": record["created"][:10],
                         "config": route["config"]})
    return rows


def emulated_skips(records: list[dict]) -> list[dict]:
    """The files an emulated record did not run there, and why (FP32 products, compiling, a crash)."""
    return [{"int8 class": record["machine"]["int8_class"], "host class": record["emulated"]["host"]["int8_class"],
             "model": record["model"], "file": name, "why not run there": route["skipped"]}
            for record in records if record.get("emulated")
            for name, route in record["routes"].items() if "skipped" in route]


def emulation_by_host(records: list[dict]) -> list[dict]:
    """One row per emulated record: the class emulated, the host's class, how many files ran there, how
    many changed at least one answer, the most answers one file changed and the largest logit change
    (and in which file)."""
    rows = []
    for record in records:
        ran = emulated_rows([record])
        if not ran:
            continue
        moved = max(ran, key=lambda r: r["largest logit change"])
        rows.append({"int8 class": record["machine"]["int8_class"],
                     "host class": record["emulated"]["host"]["int8_class"], "model": record["model"],
                     "files run": len(ran), "files that changed an answer": sum(r["answers changed"] > 0 for r in ran),
                     "most answers changed": max(r["answers changed"] for r in ran),
                     "largest logit change": moved["largest logit change"], "in file": moved["file"],
                     "measured": record["created"][:10]})
    return rows


def _latest(records: list[dict]) -> list[dict]:
    latest = {}
    for record in records:  # oldest first: a later record of the same machine and model replaces it
        latest[(record["file"], record["model"])] = record
    return list(latest.values())


def advice_per_class(records: list[dict], max_drop_pts: float = 0.5) -> list[dict]:
    """Per INT8 class (and model), the fastest INT8 route within `max_drop_pts` of FP32 on the latest
    measured record of each machine: what to deploy there and what to expect. Answers come from emulated
    records too: how many of that file's answers changed there (`bench --emulate`; the most over the hosts
    that emulated the class, each against its own native run); a class known only by emulation gets the
    most accurate INT8 file there, and no speed ("not measured on this class")."""
    latest = _latest(records)
    best: dict[tuple[str, str], dict] = {}
    for row in gallery_rows(latest):
        if row["precision"] != "int8" or row["accuracy change (pts)"] < -max_drop_pts:
            continue
        key = (row["int8 class"], row["model"])
        if key not in best or row["vs best FP32"] > best[key]["vs best FP32"]:
            best[key] = row
    advice = {key: {"int8 class": key[0], "model": key[1], "deploy": row["route"],
                    "vs FP32 eager": row["vs FP32 eager"], "vs best FP32": row["vs best FP32"],
                    "best FP32": row["best FP32"], "accuracy change (pts)": row["accuracy change (pts)"],
                    "speed": f"measured on {row['cpu']}", "answers changed (emulated)": None}
              for key, row in best.items()}
    emulated = emulated_rows(latest)
    for row in emulated:
        key = (row["int8 class"], row["model"])
        if key in best and (row["file"].split(":")[0], row["config"]) == (best[key]["route"], best[key]["config"]):
            advice[key]["answers changed (emulated)"] = max(advice[key]["answers changed (emulated)"] or 0,
                                                            row["answers changed"])
        elif key not in best and row["precision"] == "int8":
            delta = row["accuracy change (pts)"]
            if key in advice and advice[key]["deploy"] == row["file"]:  # the same file, emulated on another host
                advice[key]["answers changed (emulated)"] = max(advice[key]["answers changed (emulated)"],
                                                                row["answers changed"])
            elif delta >= -max_drop_pts and (key not in advice or delta > advice[key]["accuracy change (pts)"]):
                advice[key] = {"int8 class": key[0], "model": key[1], "deploy": row["file"], "vs FP32 eager": None,
                               "vs best FP32": None, "best FP32": None, "accuracy change (pts)": delta,
                               "speed": "not measured on this class: run `make bench` on it",
                               "answers changed (emulated)": row["answers changed"]}
    return [advice[key] for key in sorted(advice)]


def emulated_vs_measured(records: list[dict]) -> list[dict]:
    """Emulated answers beside real ones: for every emulated record and every measured record of the same
    INT8 class and model that kept its predictions, each file both ran with the same config, and how many
    of their answers differ (the same batches: both evaluate in batches of 32 by length)."""
    rows = []
    for emulated in (r for r in records if r.get("emulated")):
        cls = emulated["machine"]["int8_class"]
        for real in records:
            if real.get("emulated") or real["machine"]["int8_class"] != cls or real["model"] != emulated["model"]:
                continue
            for name, there in emulated["routes"].items():
                here = real["routes"].get(name.split(":")[0])
                if ("skipped" in there or not here or not here.get("predictions")
                        or here["config"] != there["config"]):
                    continue
                differ = sum(a != b for a, b in zip(there["predictions"], here["predictions"]))
                rows.append({"int8 class": cls, "host class": emulated["emulated"]["host"]["int8_class"],
                             "file": name, "measured on": real["machine"]["cpu"],
                             "emulated accuracy (%)": 100 * there["accuracy"],
                             "measured accuracy (%)": 100 * here["accuracy"], "answers that differ": differ})
    return rows
