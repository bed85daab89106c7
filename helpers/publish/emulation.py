"""`python -m helpers bench --emulate CPU`: the answers of the stored model files on a CPU class this machine
is not, computed under Debian's `qemu-x86_64 -cpu CPU` (user-mode emulation: the book's own Python and
libraries, the emulated CPU's instruction set; up to AVX2, not AVX-512, VNNI or AMX).

Each route's file is run twice on every validation sentence, batched as `bench` batches them: natively,
here, and under emulation. The record (`results/machines/<cpu>-emulated-on-<host's class>-host-<flags>.json`, one per
emulated CPU and host class, since the answers are compared with the host's; the one record
schema) gives each route's accuracy and predictions there, how many answers differ from this machine's
and the largest logit change; no latency ("emulated: answers only"), for emulation is about 60× slower
and its times belong to no real CPU. Every route's answers go to the store as they come: an interrupted
run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..core.errors import BookError
from ..core.models import load_classifier
from ..core.sources import display_name
from ..data.sst2 import load_sst2
from ..measure.environment import describe_environment, int8_class
from ..measure.evaluation import predict
from ..measure.latency import fixed_threads
from ..measure.profiles import resolve_profile
from ..methods.onnx_runtime import ORT_PRESETS
from ..routes.pipeline import build_comparison_routes, describe_variant
from ..routes.configs import RunSettings
from ..routes.record import make_record, write_json
from ..routes.store import Store
from ..routes.variants import VARIANTS
from .bench import ACCURACY_BATCH, machine_file_name

# The INT8 routes whose kernels differ by instruction set, and the routes below and beside INT8.
# `onnx_int8_optimized` is run once per x86 preset of `ORT_PRESETS` (ARM's is the VNNI one's file).
EMULATE_ROUTES = ("fp32", "onnx_int8_optimized", "onnx_int8_dynamic", "int8_dynamic", "openvino_int8",
                  "onnx_int4_weights", "openvino_int4_weights", "int8_static", "bf16", "openvino_bf16")
# qemu's TCG computes SSE/AVX floating point in software: a model whose products are FP32 runs
# hundreds of times slower than natively (20 sentences of the FP32 MiniLM took 440 s here, against
# 0.5 s natively), integer products far less so. Those routes' files are not run under emulation;
# FP32's answers are those of the CPU itself, and accuracy changes are counted against them.
FLOAT_PRODUCTS = {"fp32": "its products are FP32, which qemu computes in software: hours for 872 sentences",
                  "openvino_int4_weights": "its products are FP32 (the 4-bit weights are expanded before "
                                           "each product), which qemu computes in software: hours",
                  "bf16": "an AVX2 CPU has no bfloat16 products: PyTorch computes them in FP32, which qemu "
                          "computes in software: hours",
                  "openvino_bf16": "an AVX2 CPU has no bfloat16 products: OpenVINO falls back to FP32, which "
                                   "qemu computes in software: hours"}
X86_PRESETS = ("avx512_vnni", "avx512", "avx2")
PRESET_ROUTE = "onnx_int8_optimized"
ABSENT = "emulated: answers only"  # why an emulated record has no time
NOT_YET = ("no answers under emulation stored: this record was written from the store (--stored-only) before a "
           "run finished this file, or after it failed; `make bench EMULATE=…` runs it and records why if it fails")
ROUTE_TIMEOUT_S = 45 * 60  # one file's 872 sentences; INT8 files took 7 to 14 minutes here
ANSWERS_VERSION = 1  # bump when what `answers` computes changes: stored answers are then made again


def emulator_missing() -> str | None:
    """Why this machine cannot emulate another x86 CPU, or None."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"qemu-x86_64 emulates an x86-64 CPU for an x86-64 host; this is {platform.machine()}"
    if shutil.which("qemu-x86_64") is None:
        return ("qemu-x86_64 is not installed: on Debian or Ubuntu, `apt-get install qemu-user` "
                "(`make bench EMULATE=Haswell` installs it where it can)")
    return None


def entry_name(route: str, preset: str | None) -> str:
    """The record's name of one file: the route, and for `onnx_int8_optimized` the preset it was built with."""
    return f"{route}:{preset}" if preset else route


def answers(variant: str, path: str | Path, data: str | None, threads: int) -> dict:
    """One stored route's answers on every validation sentence (batches of `ACCURACY_BATCH`, by length) and
    the environment that computed them: what the emulated and the native run each return."""
    clf = VARIANTS[variant].load(path, threads)
    examples = load_sst2(data, "validation")
    start = time.perf_counter()
    with fixed_threads(threads):
        result = predict(clf, examples.sentences, ACCURACY_BATCH)
    correct = sum(int(p == y) for p, y in zip(result.labels, examples.labels))
    return {"predictions": result.labels, "logits": [[round(x, 6) for x in row] for row in result.logits],
            "accuracy": correct / len(examples), "seconds": round(time.perf_counter() - start, 1),
            "environment": describe_environment(threads)}


class EmulationFailed(BookError):
    """A route's file could not be run under emulation: its record entry says why, the other routes go on."""


def failure_reason(stderr: str) -> str:
    """The end of a failed child's error output, without qemu's warnings about CPU features its TCG lacks."""
    lines = [line for line in stderr.strip().splitlines()
             if line.strip() and "TCG doesn't support requested feature" not in line]
    return " / ".join(lines[-3:])[-600:] or "no error output"


def emulated_answers(cpu: str, variant: str, path: str | Path, data: str | None, threads: int,
                     timeout_s: float = ROUTE_TIMEOUT_S) -> dict:
    """`answers` computed in a child Python run by `qemu-x86_64 -cpu CPU`, stopped after `timeout_s`."""
    reason = emulator_missing()
    if reason:
        raise BookError(reason)
    with subprocess.Popen(["qemu-x86_64", "-cpu", cpu, sys.executable, "-m", "helpers.publish.emulation",
                           variant, str(path), "--threads", str(threads)] + (["--data", data] if data else []),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            out, err = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise EmulationFailed(f"did not finish within {timeout_s / 60:.0f} min under qemu-x86_64 -cpu {cpu} "
                                  "(the limit per file)") from None
    if child.returncode != 0:
        raise EmulationFailed(f"failed under qemu-x86_64 -cpu {cpu} (exit {child.returncode}): "
                              f"{failure_reason(err)}")
    return json.loads(out.strip().splitlines()[-1])


def compare_answers(native: dict, emulated: dict) -> dict:
    """How the emulated answers differ from the native ones: predictions changed, largest logit change."""
    if len(native["predictions"]) != len(emulated["predictions"]):
        raise BookError("native and emulated answers cover different sentences.")
    changed = [i for i, (a, b) in enumerate(zip(native["predictions"], emulated["predictions"])) if a != b]
    gaps = [abs(a - b) for ra, rb in zip(native["logits"], emulated["logits"]) for a, b in zip(ra, rb)]
    return {"answers_changed": len(changed), "changed_sentences": changed,
            "largest_logit_change": round(max(gaps), 6), "median_logit_change": round(sorted(gaps)[len(gaps) // 2], 6)}


def _answers_key(cpu: str, model_key: str, data: str | None, threads: int) -> str:
    text = json.dumps([ANSWERS_VERSION, cpu, model_key, display_name(data) if data else None, threads, ACCURACY_BATCH])
    return hashlib.sha256(text.encode()).hexdigest()


def run_emulated_bench(cpu: str = "Haswell", model: str | None = None, data: str | None = None, store=None,
                       out_dir: str | Path = "results/machines", threads: int = 2,
                       routes: tuple[str, ...] = EMULATE_ROUTES, profile: str = "full",
                       progress: bool = True, stored_only: bool = False) -> tuple[dict, Path]:
    """Build (or reuse) every route's file natively, then compute its answers natively and under
    emulation, and write the emulated CPU's record; returns it and its path. `stored_only`: run nothing
    under emulation, record what the store holds (the rest skipped, saying so)."""
    from tqdm.auto import tqdm

    reason = None if stored_only else emulator_missing()
    if reason:
        raise BookError(reason)
    start = time.perf_counter()
    compiled = [n for n in routes if VARIANTS[n].compiled]  # compiled as they load: hours under emulation
    not_run = {n: FLOAT_PRODUCTS[n] for n in routes if n in FLOAT_PRODUCTS and n != "fp32"}
    built = {entry_name(n, None): r for n, r in build_comparison_routes(
        model=model, data=data, profile=profile, threads=threads, store=store, progress=progress,
        variants=[n for n in routes if n not in compiled and n not in not_run]).items() if n in routes}
    if PRESET_ROUTE in built and not built[PRESET_ROUTE].plan.skipped:
        presets = {entry_name(PRESET_ROUTE, preset): build_comparison_routes(
            model=model, data=data, profile=profile, threads=threads, variants=[PRESET_ROUTE], store=store,
            progress=False, ort_preset=preset)[PRESET_ROUTE] for preset in X86_PRESETS}
        order = [n for name in routes for n in (presets if name == PRESET_ROUTE else [name])]
        built = {n: (presets | built)[n] for n in order if n in presets or n in built}
    the_store = Store.given(store, Path("store"))  # where build_comparison_routes put them
    examples = load_sst2(data, "validation")
    native_env, emulated_env, entries = describe_environment(threads), None, {}
    for name, route in tqdm(built.items(), desc=f"answers on {cpu} (emulated)", disable=not progress):
        plan = route.plan
        entry = dict(plan.entry)
        if plan.skipped or name in FLOAT_PRODUCTS:
            entries[name] = {**entry, "skipped": plan.skipped or FLOAT_PRODUCTS[name]}
            continue
        path = route.model["path"]
        key = _answers_key(cpu, plan.key, data, threads)
        stored = the_store.find_measurement(f"emulated-{plan.variant.name}", key)
        if stored is None and stored_only:
            entries[name] = {**entry, "skipped": NOT_YET}
            continue
        if stored is None:
            try:
                there = emulated_answers(cpu, plan.variant.name, path, data, threads)
            except EmulationFailed as failed:  # recorded, not stored: a later run tries again
                entries[name] = {**entry, "skipped": str(failed)}
                continue
            value = {"native": answers(plan.variant.name, path, data, threads), "emulated": there}
            stored = the_store.put_measurement(f"emulated-{plan.variant.name}", key, value)
        native, emulated = stored["value"]["native"], stored["value"]["emulated"]
        emulated_env = emulated["environment"]
        size = route.model.get("checkpoint_bytes")
        entries[name] = {**entry, "accuracy": emulated["accuracy"], "predictions": emulated["predictions"],
                         **({"size_bytes": size} if size else {}),
                         "against_native": {**compare_answers(native, emulated),
                                            "native_accuracy": native["accuracy"]},
                         "emulated_seconds": emulated["seconds"], "native_seconds": native["seconds"],
                         "absent": {k: ABSENT for k in ("latency", "speedup", "speedup_vs_best_fp32",
                                                        "setup_seconds")}
                         | ({} if size else {"size_bytes": "the store's entry records no checkpoint size"})}
    run = RunSettings.from_profile(resolve_profile(profile))
    for name in [*compiled, *not_run]:
        entries[name] = {**describe_variant(VARIANTS[name]), "config": VARIANTS[name].configure(run).as_dict(),
                         "skipped": not_run.get(name, "compiled as it loads: compiling under emulation would "
                                                      "take hours")}
    entries = {n: entries[n] for n in [*built, *routes] if n in entries}
    if emulated_env is None:
        raise BookError("no route ran under emulation: nothing to record.")
    fp32 = answers("fp32", built["fp32"].model["path"], data, threads)  # natively: see FLOAT_PRODUCTS
    for entry in entries.values():
        if "accuracy" in entry:
            entry["accuracy_delta_pts"] = 100 * (entry["accuracy"] - fp32["accuracy"])
    flags = emulated_env["cpu_flags"]
    record = make_record(
        "machine", entries,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        fp32_accuracy_native=fp32["accuracy"],
        machine={"cpu": f"{cpu} (emulated by qemu-x86_64)", "cpu_flags": flags, "int8_class": int8_class(flags),
                 "cpu_capability": emulated_env["cpu_capability"], "logical_cpus": emulated_env["logical_cpus"],
                 "platform": emulated_env["platform"]},
        emulated={"emulator": "qemu-x86_64 (user mode, TCG)", "cpu_model": cpu,
                  "host": {"cpu": native_env["cpu"], "cpu_flags": native_env["cpu_flags"],
                           "int8_class": int8_class(native_env["cpu_flags"])},
                  "answers_compared_with": "the same files run natively on the host, same batches"},
        environment=emulated_env,
        model=display_name(load_classifier(model).source),
        data=display_name(examples.source),
        n_examples=len(examples),
        batch_size=ACCURACY_BATCH,
        profile=profile,
        threads=threads,
        seconds=round(time.perf_counter() - start, 1),  # this run's; an interrupted one's are in the store
        emulated_seconds=round(sum(e.get("emulated_seconds", 0) for e in entries.values()), 1),
    )
    path = Path(out_dir) / emulated_file_name(record)
    write_json(record, path)
    return record, path


def emulated_file_name(record: dict) -> str:
    """`<cpu>-emulated-on-<host's INT8 class>-host-<flags>.json`: one record per emulated CPU and host class,
    since each compares the emulated answers with the host's own."""
    host = record["emulated"]["host"]["int8_class"]
    return machine_file_name({**record["machine"], "cpu": f"{record['emulated']['cpu_model']} emulated on {host} host"})


def emulated_table(record: dict) -> str:
    """An emulated record as lines a terminal shows: each file's accuracy there and what changed."""
    emulated = record["emulated"]
    lines = [f"{record['machine']['cpu']} ({record['machine']['int8_class']}), emulated on "
             f"{emulated['host']['cpu']} ({emulated['host']['int8_class']}); {record['model']}, "
             f"{record['n_examples']} sentences, batches of {record['batch_size']}"]
    for name, row in record["routes"].items():
        if "skipped" in row:
            lines.append(f"  {name:32s} skipped: {row['skipped']}")
            continue
        diff = row["against_native"]
        lines.append(f"  {name:32s} accuracy {100 * row['accuracy']:.2f}%  answers changed "
                     f"{diff['answers_changed']:3d}  largest logit change {diff['largest_logit_change']:.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The child's side: print one route's `answers` as one JSON line."""
    parser = argparse.ArgumentParser(description="one stored route's answers (run under qemu by bench --emulate)")
    parser.add_argument("variant")
    parser.add_argument("path")
    parser.add_argument("--data")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(answers(args.variant, args.path, args.data, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
