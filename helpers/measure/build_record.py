"""The book build's record of itself (`results/build.json`): each step and chapter, its seconds, and
whether it ran or was reused, with the machine, the commit and the profile next to them."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..core.errors import BookError
from .environment import describe_environment, int8_class

SCHEMA = 1
FILE_NAME = "build.json"
# The back-matter page that shows the record: executed after every other chapter, never reused.
PAGE = "how_this_book_was_built"


@dataclass
class BuildClock:
    """Times the steps of one build and holds what they report; `record()` is the JSON-ready record."""

    profile: str
    jobs: int
    threads: int
    fresh: bool = False
    model: str = ""
    data: str = ""
    steps: list[dict] = field(default_factory=list)
    chapters: list[dict] = field(default_factory=list)
    routes: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    running: tuple[str, str, float] | None = None  # the step under way: name, about, start

    @contextmanager
    def step(self, name: str, about: str):
        """Time the block as the step `name` (`about` says what it does), in the order steps run."""
        began = time.perf_counter()
        self.running = (name, about, began)
        try:
            yield
        finally:
            self.running = None
            self.steps.append({"step": name, "about": about, "seconds": round(time.perf_counter() - began, 2)})

    def count_routes(self, record: dict, kind: str) -> None:
        """How many routes of a comparison record this run measured and how many it reused."""
        for entry in record["routes"].values():
            state = ("skipped" if "skipped" in entry else
                     entry.get("provenance", {}).get("this_run", "measured"))
            self.routes[f"{kind}: {state}"] = self.routes.get(f"{kind}: {state}", 0) + 1

    def record(self, complete: bool) -> dict:
        """The record so far; `complete` once rendering is done (a page executed before that reads an
        incomplete one: its own rendering is not in it). A step under way is listed with its seconds so
        far and `running`."""
        env = describe_environment(self.threads)
        machine = {k: env[k] for k in ("cpu", "cpu_flags", "cpu_capability", "logical_cpus")}
        return {
            "schema": SCHEMA, "created": self.created, "commit": env["commit"], "complete": complete,
            "profile": self.profile, "jobs": self.jobs, "threads": self.threads, "fresh": self.fresh,
            "model": self.model, "data": self.data,
            "machine": machine | {"int8_class": int8_class(env["cpu_flags"])},
            "libraries": {k: env[k] for k in ("python", "torch", "transformers", "torchao", "onnxruntime")},
            "steps": self.steps + ([{"step": self.running[0], "about": self.running[1], "running": True,
                                     "seconds": round(time.perf_counter() - self.running[2], 2)}]
                                   if self.running else []),
            "chapters": list(self.chapters), "routes": dict(self.routes),
            "seconds": round(time.perf_counter() - self.started, 2),
        }


def load_build_record(path: str | Path) -> dict:
    """Read a build record and check its shape; say how to make one when it is missing or foreign."""
    path = Path(path)
    if not path.is_file():
        raise BookError(f"No build record at {path}: `make book` (python -m helpers build-book) writes one.")
    record = json.loads(path.read_text())
    if record.get("schema") != SCHEMA or not {"steps", "chapters", "machine"} <= record.keys():
        raise BookError(f"{path} is not a build record of this book (schema {SCHEMA}): build the book again "
                        "with `make book`.")
    return record


def time_shares(record: dict) -> list[dict]:
    """Where the build's time went: each step, the chapters step split into its executed chapters when
    they ran one at a time (reused ones cost nothing), largest first, each with its share of the total."""
    split = record["jobs"] == 1  # chapters side by side overlap in time: their step stays whole
    rows = [{"part": s["step"], "seconds": s["seconds"]} for s in record["steps"]
            if not (split and s["step"] == "chapters")]
    if split:
        executed = [c for c in record["chapters"] if c["executed"]]
        rows += [{"part": f"chapter: {c['title']}", "seconds": c["seconds"]} for c in executed]
        step = next((s["seconds"] for s in record["steps"] if s["step"] == "chapters"), None)
        if step is not None:  # looking up stored chapters, marking provenance, writing pages
            rows.append({"part": "chapters: keys and pages",
                         "seconds": max(0.0, step - sum(c["seconds"] for c in executed))})
    total = sum(r["seconds"] for r in rows) or 1.0
    return sorted(({**r, "share": r["seconds"] / total} for r in rows), key=lambda r: -r["seconds"])


# The book's time budgets (seconds), by what a build had to do.
BUDGETS = {"nothing changed": 180, "cold": 35 * 60}


def build_kind(record: dict) -> str:
    """`cold` when every route was measured and every chapter executed (a fresh store or `--fresh`),
    `nothing changed` when everything came from the store, else `partial` (no budget applies)."""
    routes: dict[str, int] = {}
    for kind, n in record["routes"].items():
        state = kind.split(": ", 1)[1]
        routes[state] = routes.get(state, 0) + n
    chapters = [c for c in record["chapters"] if c["chapter"] != PAGE]
    executed = [c for c in chapters if c["executed"]]
    if not routes.get("reused from the store") and len(executed) == len(chapters):
        return "cold"
    if not routes.get("measured") and not executed:
        return "nothing changed"
    return "partial"
