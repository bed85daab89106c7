"""Executed chapters, kept in the store and reused while nothing a chapter depends on has changed.

A chapter's key holds its code cells, its parameters, the source of the `helpers` modules its code
imports (transitively), the model's weights, the sentences, the profile, the machine, the threads
and the library versions. Its entry also lists the stored measurements it read (`$BOOK_READS`): a
chapter is reused only if its key is the same and every measurement it read still has the key it
had. A reused chapter gets the current prose (markdown cells) around its executed code cells.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import nbformat

from ..core.fingerprints import PACKAGE, digest, file_digest, source_digest
from ..routes.store import KEY_CHARS, made_here

EXECUTED = "executed.ipynb"
ENTRY = "entry.json"


def _helpers_names(package: Path = PACKAGE) -> dict[str, str]:
    """What `from helpers import name` imports: name → the module that defines it."""
    names = {}
    for node in ast.parse((package / "__init__.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            names |= {a.asname or a.name: f"helpers.{node.module}" for a in node.names}
    return names


def imported_helpers(code_cells: list[str], package: Path = PACKAGE) -> list[str]:
    """The `helpers` modules a chapter's code imports (a name from `helpers` counts as its module)."""
    names, found = _helpers_names(package), set()
    for source in code_cells:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            found.add("helpers")  # cannot tell: depend on all of it
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "helpers":
                if node.module == "helpers":
                    found |= {names.get(a.name, "helpers") for a in node.names}
                else:
                    found.add(node.module)
    return sorted(found)


# What a chapter's record functions return (`comparison_for`, `shape_comparison_for`, `route_config`) is
# keyed by the measurements the chapter read (see `ChapterCache.find`), not by the route code behind them:
# editing one route's method or config re-executes only the chapters that read that route. The figures
# take only names and colours from the registry: those are in the build's context (`registry_digest`).
READ_THROUGH = (("helpers.teach.chapter", "helpers.routes."),
                ("helpers.teach.plotting", "helpers.routes.variants"))


def registry_digest() -> str:
    """How the book names, describes and draws each route (not how it builds it)."""
    from ..routes.variants import VARIANTS

    return digest({n: [v.label, v.method, v.precision, v.color, v.deploys, v.api, v.parent, v.changes_model,
                       v.compiled, v.chapter] for n, v in VARIANTS.items()})


def code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def chapter_key(source: Path, parameters: dict, context: dict, package: Path = PACKAGE) -> str:
    """The key of executing `source` with `parameters` in `context` (model, data, profile, machine…)."""
    code = code_cells(nbformat.read(source, as_version=4))
    return digest({"code": code, "parameters": parameters, "context": context,
                   "helpers": source_digest(imported_helpers(code, package), package, READ_THROUGH)})


def with_current_prose(executed, source):
    """The executed notebook's code cells (outputs included) in the source notebook's cells: prose edited
    since the run shows, and so do the code cells' current tags (hide-input, hide-cell…); code is as it
    ran (the key guarantees it is the same). Papermill's injected parameters cell stays after the
    `parameters` cell."""
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    ran = iter(c for c in executed.cells if c.cell_type == "code" and c not in injected)
    cells = []
    for cell in source.cells:
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        done = next(ran)
        tags = cell.metadata.get("tags")
        metadata = {k: v for k, v in done.metadata.items() if k != "tags"} | ({"tags": tags} if tags else {})
        cells.append(nbformat.from_dict({**done, "metadata": metadata}))
        if "parameters" in cell.metadata.get("tags", []):
            cells.extend(injected)
    return nbformat.from_dict({**executed, "cells": cells})


def mark_provenance(nb, line: str) -> bool:
    """Add `line` under the chapter's provenance (the output of `chapter.describe()`); False if it has none."""
    for cell in nb.cells:
        if cell.cell_type == "code" and ".describe()" in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and "run on " in output.get("text", ""):
                    output["text"] = output["text"].rstrip("\n") + "\n" + line + "\n"
                    return True
    return False


class ChapterCache:
    """`<store>/chapters/<chapter>/<key>/`: an executed chapter, what it read, when and where it ran."""

    def __init__(self, root: Path, fresh: bool = False, log=print):
        self.root, self.fresh, self.log = Path(root) / "chapters", fresh, log

    def _folder(self, stem: str, key: str) -> Path:
        return self.root / stem / key[:KEY_CHARS]

    def find(self, stem: str, key: str, current: dict[str, dict[str, str]]) -> tuple[Path, dict] | None:
        """The executed chapter stored under `key`, if it is intact and every measurement it read is current."""
        if self.fresh:
            return None
        folder = self._folder(stem, key)
        try:
            entry = json.loads((folder / ENTRY).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            return self._damaged(folder, f"{ENTRY} unreadable: {err}")
        executed = folder / EXECUTED
        if entry.get("key") != key or not executed.is_file() or file_digest(executed) != entry.get("digest"):
            return self._damaged(folder, "its notebook or key does not match its entry")
        for read in entry["reads"]:
            now = current.get(read["kind"], {})
            if any(now.get(route) != k for route, k in read["keys"].items()):
                return None  # a measurement it shows has changed: run it again
        return executed, entry

    def _damaged(self, folder: Path, why: str) -> None:
        self.log(f"store: {folder} is damaged ({why}); executing the chapter again")
        shutil.rmtree(folder, ignore_errors=True)
        return None

    def put(self, stem: str, key: str, executed: Path, reads: list[dict], seconds: float) -> dict:
        folder = self._folder(stem, key)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy2(executed, folder / EXECUTED)
        entry = {"chapter": stem, "key": key, "reads": reads, "made": made_here(), "seconds": round(seconds, 1),
                 "digest": file_digest(folder / EXECUTED)}
        (folder / ENTRY).write_text(json.dumps(entry, indent=1))
        return entry


def read_log(path: Path) -> list[dict]:
    """What a chapter noted it read (one JSON object a line; see `teach.chapter._log_reads`)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
