"""The store: every built route and every measurement, kept under a key made of everything it depends on.

`store/models/<route>/<key>/` holds a route saved by `save_route` and `entry.json` (its key, the
SHA-256 of each file, when, where and at which commit it was built); `store/measurements/<route>/<key>.json`
holds what measuring it gave. A lookup returns an entry only if its key is the one asked for and its
files are intact (unwritten since they were stored and hashed, or hashed again); a damaged entry is
reported in one line, removed and rebuilt, never used.
With `fresh_since` (`make book FRESH=1`) entries made before that time are ignored: everything is
computed again, once. The store is made where the environment is read (the command line, a
chapter's set-up, the book build) and passed down whole.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..core.fingerprints import digest, folder_digests
from ..measure.environment import cpu_model_and_flags, source_commit

ENTRY_FILE = "entry.json"
PUBLISHED_FILE = ".published"  # in a published route folder: the key and date of the entry it came from
KEY_CHARS = 20  # of the SHA-256 in folder names (the whole key is checked inside)


def made_here() -> dict:
    """When, on what and at which commit an entry was made: the provenance a page and a record show."""
    cpu, flags = cpu_model_and_flags()
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "unix": time.time(),
            "cpu": cpu, "cpu_flags": flags, "commit": source_commit()}


def _stamps(folder: Path) -> dict[str, list[int]]:
    """Each stored file's size and modification time (ns): a lookup whose stamps all match what was
    recorded at storing time trusts the SHA-256 it recorded then; any other file is hashed again."""
    return {str(p.relative_to(folder)): [p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ENTRY_FILE}


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


@dataclass
class Store:
    """A folder of built routes and measurements, by key (see the module's docstring)."""

    root: Path
    fresh_since: float | None = None
    log: object = print

    @classmethod
    def at(cls, root: str | Path, fresh_since: float | None = None, log=print) -> "Store":
        """The store in `root`; with `fresh_since`, entries made before that time are ignored."""
        return cls(Path(root).expanduser().resolve(), fresh_since, log)

    @classmethod
    def given(cls, store: "Store | str | Path | None", fallback: Path, log=print) -> "Store":
        """`store` itself, the store in the folder `store` names, or else the one in `fallback`."""
        return store if isinstance(store, Store) else cls.at(store or fallback, log=log)

    @contextmanager
    def locked(self):
        """Hold the store alone while a run builds, publishes and writes (two chapters open at once, or a
        chapter beside `make book`: the second waits, then reuses what the first built)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _stale(self, made: dict) -> bool:
        return self.fresh_since is not None and made.get("unix", 0) < self.fresh_since

    def _damaged(self, path: Path, why: str) -> None:
        self.log(f"store: {path} is damaged ({why}); rebuilding it")
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    # --- built routes -------------------------------------------------------------------------------

    def model_path(self, route: str, key: str) -> Path:
        return self.root / "models" / route / key[:KEY_CHARS]

    def find_model(self, route: str, key: str) -> dict | None:
        """The entry of the route built under `key` (with `path`), if it is there, intact and not stale."""
        path = self.model_path(route, key)
        meta = path / ENTRY_FILE
        if not meta.is_file():
            if path.exists():
                self._damaged(path, f"no {ENTRY_FILE}")
            return None
        try:
            entry = json.loads(meta.read_text())
        except (OSError, ValueError) as err:
            self._damaged(path, f"{ENTRY_FILE} unreadable: {err}")
            return None
        if entry.get("key") != key:
            self._damaged(path, "its key is not the one its folder names")
            return None
        if self._stale(entry["made"]):
            return None
        if entry.get("stamps") and _stamps(path) == entry["stamps"]:
            return {**entry, "path": path}  # no file written to since it was stored and hashed
        files = {name: d for name, d in folder_digests(path).items() if name != ENTRY_FILE}
        if files != entry.get("files"):
            changed = sorted(set(files.items()) ^ set(entry.get("files", {}).items()))
            self._damaged(path, f"{changed[0][0]} differs from what was stored")
            return None
        return {**entry, "path": path}

    def put_model(self, route: str, key: str, save, info: dict) -> dict:
        """Save a route into the store with `save(folder)` (which writes its files and may return more of
        `info`), then its entry."""
        path = self.model_path(route, key)
        staging = path.with_name(path.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        info = {**info, **(save(staging) or {})}
        entry = {"route": route, "key": key, "made": made_here(), **info,
                 "files": {n: d for n, d in folder_digests(staging).items() if n != ENTRY_FILE},
                 "stamps": _stamps(staging)}
        (staging / ENTRY_FILE).write_text(json.dumps(entry, indent=1))
        shutil.rmtree(path, ignore_errors=True)
        staging.rename(path)
        return {**entry, "path": path}

    def publish_model(self, entry: dict, target: Path) -> Path:
        """Put a stored route at `target` (hard links where the file system allows: no copy of the weights).
        A target that already holds this entry is left as it is: two chapters executed side by side ask
        for the same routes, and replacing a folder the other is reading from would pull it away."""
        target, published = Path(target), f"{entry['key']} {entry['made']['date']}"  # rebuilt: a new date
        if (target / PUBLISHED_FILE).is_file() and (target / PUBLISHED_FILE).read_text() == published:
            return target
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(entry["path"], target, copy_function=_link_or_copy,
                        ignore=shutil.ignore_patterns(ENTRY_FILE))
        (target / PUBLISHED_FILE).write_text(published)
        return target

    # --- measurements -------------------------------------------------------------------------------

    def measurement_path(self, route: str, key: str) -> Path:
        return self.root / "measurements" / route / f"{key[:KEY_CHARS]}.json"

    def find_measurement(self, route: str, key: str) -> dict | None:
        """The stored measurement under `key` (`value` and `made`), if it is there, intact and not stale."""
        path = self.measurement_path(route, key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            self._damaged(path, f"unreadable: {err}")
            return None
        if entry.get("key") != key or entry.get("digest") != digest(entry.get("value")):
            self._damaged(path, "its key or its content does not match")
            return None
        return None if self._stale(entry["made"]) else entry

    def put_measurement(self, route: str, key: str, value) -> dict:
        path = self.measurement_path(route, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"route": route, "key": key, "made": made_here(), "digest": digest(value), "value": value}
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(entry))
        partial.rename(path)
        return entry

