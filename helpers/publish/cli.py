"""Command line: `python -m helpers compare …` runs the seed's pipeline and prints the table."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..core.errors import BookError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="FP32 vs every INT8 route: accuracy, size, latency → JSON")
    compare.add_argument("--model", help="hub id or local model directory (default: $BOOK_MODEL, else the hub's DistilBERT SST-2)")
    compare.add_argument("--data", help="local SST-2 directory or hub id (default: $BOOK_DATA, else GLUE on the hub)")
    compare.add_argument("--profile", choices=("smoke", "full"), help="how much to measure (default: $BOOK_PROFILE, else full)")
    compare.add_argument("--out", default="results/comparison.json", help="where to write the JSON record")
    compare.add_argument("--models-dir", default="models", help="where to save each route (models/<route>/)")
    compare.add_argument("--threads", type=int, help="intra-op threads for every measurement (default: logical CPUs, at most 8)")
    compare.add_argument("--batch-size", type=int, default=32, help="batch size for accuracy (default 32)")
    compare.add_argument("--padding", choices=("longest", "max_length"), default="longest", help="padding for accuracy batches")
    compare.add_argument("--order", choices=("length", "data"), default="length",
                         help="accuracy batches: sentences of similar length together (default), or in data order")
    compare.add_argument("--seed", type=int, default=0, help="seed of the fixed subsets")
    compare.add_argument("--variants", default="all",
                         help="comma-separated routes to measure, e.g. int8_dynamic,onnx_int8_dynamic (default: all; "
                              "fp32 is always included)")
    compare.add_argument("--no-progress", action="store_true", help="hide progress bars")
    compare.add_argument("--store", type=Path, help="where built routes and measurements are kept and reused "
                                                   "(default: $BOOK_STORE, else store/ beside --models-dir)")
    compare.add_argument("--fresh", action="store_true", help="ignore the store: build and measure every route again")
    routes = commands.add_parser("build-routes", help="build routes into the store without measuring them "
                                                      "(for another machine or job to measure)")
    for option in ("--model", "--data"):
        routes.add_argument(option, help="as for compare")
    routes.add_argument("--profile", choices=("smoke", "full"), help="as for compare")
    routes.add_argument("--variants", default="all", help="as for compare")
    routes.add_argument("--threads", type=int, help="as for compare (trained routes are keyed by it)")
    routes.add_argument("--seed", type=int, default=0, help="seed of the fixed subsets")
    routes.add_argument("--store", type=Path, default=Path("store"), help="the store to fill (default: store/)")
    routes.add_argument("--fresh", action="store_true", help="build again what the store already holds")
    bench = commands.add_parser("bench", help="this machine's INT8 ceiling and the main routes' batch-1 latency "
                                              "→ results/machines/<cpu>-<flags>.json (a few minutes)")
    for option in ("--model", "--data"):
        bench.add_argument(option, help="as for compare")
    bench.add_argument("--threads", type=int, help="as for compare")
    bench.add_argument("--profile", choices=("smoke", "full"), default="full",
                       help="whose routes to reuse: the full build's (default) or the smoke build's")
    bench.add_argument("--sentences", type=int, default=100, help="validation sentences timed one by one (default 100)")
    bench.add_argument("--out-dir", type=Path, default=Path("results/machines"), help="where the record goes")
    bench.add_argument("--store", type=Path, help="as for compare (stored routes are reused)")
    bench.add_argument("--emulate", metavar="CPU",
                       help="instead: every INT8, 4-bit and BF16 file's answers on all validation sentences "
                            "under qemu-x86_64 -cpu CPU (e.g. Haswell: the AVX2 class), against this machine's "
                            "→ results/machines/<cpu>-emulated-on-<class>-host-<flags>.json (minutes per file, more on an older host: "
                            "the record says how long each file took; resumes)")
    bench.add_argument("--stored-only", action="store_true",
                       help="with --emulate: write the record from the answers the store already holds, "
                            "the files not yet run there entered as skipped with that reason")
    book = commands.add_parser("build-book", help="execute every chapter with papermill, then build the HTML book")
    book.add_argument("--model", help="as for compare")
    book.add_argument("--data", help="as for compare")
    book.add_argument("--profile", choices=("smoke", "full"), help="as for compare")
    book.add_argument("--seed", type=int, default=0, help="seed of the fixed subsets")
    book.add_argument("--site", type=Path, help="folder that receives _build/html, results/ and models/ "
                                               "(default: the repository)")
    book.add_argument("--store", type=Path, help="where built routes, measurements and executed chapters are kept "
                                                "(default: $BOOK_STORE, else store/ in the repository)")
    book.add_argument("--fresh", action="store_true", help="ignore the store: build, measure and execute "
                                                           "everything again (once)")
    book.add_argument("--jobs", type=int, default=1,
                      help="chapters executed at a time (default 1; more is for test builds: a chapter's own "
                           "timings then run beside another's, and its page says so)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ..core.quiet import quiet_third_party_output

    quiet_third_party_output()
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "build-routes":
            return _build_routes(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "build-book":
            from .book_build import build_book

            build_book(model=args.model, data=args.data, profile=args.profile, seed=args.seed, site=args.site,
                       fresh=args.fresh, store=args.store, jobs=args.jobs)
            return 0
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1


def _profile(args):
    """The profile a command runs: --profile, else $BOOK_PROFILE, else full (resolved here, once)."""
    from ..measure.profiles import resolve_profile

    return resolve_profile(args.profile, os.environ)


def _store(args, fallback: Path):
    """The store a command uses: --store, else $BOOK_STORE, else `fallback`; --fresh ignores what it
    held before this command started."""
    import time

    from ..routes.store import Store
    from ..teach.chapter import store_from_environment

    fresh = time.time() if getattr(args, "fresh", False) else None
    if getattr(args, "store", None) is not None:
        return Store.at(args.store, fresh)
    store = store_from_environment(fallback)
    return Store.at(store.root, fresh) if fresh else store


def _compare(args) -> int:
    from ..methods.quantization import known_quantization_warnings_silenced
    from ..routes.pipeline import run_comparison
    from ..routes.report import comparison_table

    with known_quantization_warnings_silenced():
        record = run_comparison(
            model=args.model, data=args.data, profile=_profile(args), out=args.out, models_dir=args.models_dir,
            threads=args.threads, batch_size=args.batch_size, padding=args.padding, seed=args.seed,
            progress=not args.no_progress, variants=args.variants, order=args.order,
            store=_store(args, Path(args.models_dir).parent / "store"), headline=True,
        )
    if record["eval"]["n_truncated"]:
        print(f"note: {record['eval']['n_truncated']} sentences were longer than {record['eval']['max_length']} "
              "tokens and were truncated.", file=sys.stderr)
    print(comparison_table(record))
    folders = sorted({Path(v["artifact"]).name for v in record["routes"].values() if "artifact" in v})
    print(f"\nwrote {args.out}; models in {args.models_dir}/{{{','.join(folders)}}}")
    return 0


def _build_routes(args) -> int:
    from ..methods.quantization import known_quantization_warnings_silenced
    from ..routes.pipeline import build_comparison_routes

    store = _store(args, args.store)
    with known_quantization_warnings_silenced():
        built = build_comparison_routes(model=args.model, data=args.data, profile=_profile(args),
                                        threads=args.threads, seed=args.seed, variants=args.variants,
                                        store=store)  # writes no models/
    for name, route in built.items():
        print(f"{name}: {route.plan.skipped or 'built ' + route.model['made']['date']}")
    print(f"store: {store.root}")
    return 0


def _bench(args) -> int:
    from ..methods.quantization import known_quantization_warnings_silenced
    from .bench import bench_table, run_bench

    if args.emulate:
        from .emulation import emulated_table, run_emulated_bench

        with known_quantization_warnings_silenced():
            record, path = run_emulated_bench(args.emulate, model=args.model, data=args.data,
                                              store=_store(args, Path("store")), out_dir=args.out_dir,
                                              threads=args.threads or 2, profile=args.profile,
                                              stored_only=args.stored_only)
        print(emulated_table(record))
        print(f"\nwrote {path} in {record['seconds']:.0f} s")
        return 0
    with known_quantization_warnings_silenced():
        record, path = run_bench(model=args.model, data=args.data, store=_store(args, Path("store")),
                                 out_dir=args.out_dir,
                                 threads=args.threads, sentences=args.sentences, profile=args.profile)
    print(bench_table(record))
    print(f"\nwrote {path} in {record['seconds']:.0f} s")
    return 0
