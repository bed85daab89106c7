"""Fingerprints: short hashes of what a model or a measurement depends on, for the store's keys.

A key is the hash of a JSON document that names every input (settings, weights, sentences, library
versions, the source of the `helpers` modules that ran); change any of them and the key changes.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import inspect
import json
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the `helpers` folder
LIBRARIES = ("torch", "transformers", "torchao", "onnxruntime", "onnx", "numpy", "scipy", "tokenizers")


def digest(value) -> str:
    """The SHA-256 (hex) of a JSON-serialisable value, keys sorted: equal values, equal digests."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path → SHA-256)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): file_digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def library_versions() -> dict[str, str | None]:
    """The installed versions of the libraries whose code decides a model's numbers."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def sentences_digest(sentences, labels=None) -> str:
    """A fingerprint of sentences (and their labels), in order."""
    return digest({"sentences": list(sentences), "labels": None if labels is None else list(labels)})


def model_digest(model, tokenizer=None) -> str:
    """A fingerprint of a torch model's weights and config, and of its tokenizer's vocabulary and inputs."""
    import torch

    sha = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        sha.update(name.encode())
        if isinstance(tensor, torch.Tensor):
            t = tensor.detach().cpu().contiguous().reshape(-1)
            sha.update(f"{t.dtype}{tuple(tensor.shape)}".encode())
            sha.update(t.view(torch.uint8).numpy().tobytes())
        else:
            sha.update(repr(tensor).encode())
    config = getattr(model, "config", None)
    sha.update((config.to_json_string() if hasattr(config, "to_json_string") else repr(config)).encode())
    if tokenizer is not None:
        sha.update(digest({"vocab": tokenizer.get_vocab(), "inputs": list(tokenizer.model_input_names),
                           "lower": getattr(tokenizer, "do_lower_case", None),
                           "max": getattr(tokenizer, "model_max_length", None)}).encode())
    return sha.hexdigest()


# --- the source of the helpers modules a piece of code runs -----------------------------------------

def _module_file(module: str, package: Path) -> Path | None:
    parts = module.split(".")[1:]
    base = package.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an `from X import …` names, relative imports resolved from `module`."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, package: Path) -> set[str]:
    """The `helpers` modules `module` imports anywhere in its file (function bodies too)."""
    path = _module_file(module, package)
    if path is None:
        return set()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, path.name == "__init__.py")
            if base.split(".")[0] != "helpers":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}", package)}
    return {m for m in found if _module_file(m, package)}


def module_closure(roots, package: Path = PACKAGE, skip=()) -> list[str]:
    """`roots` and every `helpers` module they import, transitively (lazy imports included; each
    package's `__init__` counts only when it is imported itself). `skip` lists imports not to follow,
    as (importing module, prefix of the imported one)."""
    seen, todo = set(), [r for r in roots if _module_file(r, package)]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(m for m in _imports(module, package) - seen
                        if not any(module == a and m.startswith(b) for a, b in skip))
    return sorted(seen)


def source_digest(roots, package: Path = PACKAGE, skip=()) -> str:
    """A fingerprint of the source of `roots` and of every `helpers` module they import, transitively
    (`skip`: as in `module_closure`)."""
    return _source_digest(tuple(sorted(roots)), Path(package), tuple(sorted(skip)))


@lru_cache(maxsize=256)
def _source_digest(roots: tuple[str, ...], package: Path, skip: tuple = ()) -> str:
    files = {m: _module_file(m, package).read_text() for m in module_closure(roots, package, skip)}
    return digest(files)


def function_digest(functions, package: Path = PACKAGE) -> str:
    """A fingerprint of the code that functions run: their own source, the module-level functions of
    their module that they call (transitively), and every `helpers` module those import (transitively).

    A registry entry's builder in a large module thus depends on its own lines and on the methods it
    calls, not on the other entries' builders."""
    parts, modules = {}, set()
    for fn in functions:
        module = fn.__module__
        path = _module_file(module, package)
        if path is None:  # defined outside helpers (a test's stand-in): its own source only
            parts[f"{module}:{fn.__qualname__}"] = inspect.getsource(fn)
            continue
        source = path.read_text()
        tree = ast.parse(source)
        defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        imported = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                base = _resolve(node, module, path.name == "__init__.py")
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    imported[a.asname or a.name] = sub if _module_file(sub, package) else base
        todo, seen = [fn.__qualname__.split(".")[0]], set()
        while todo:
            name = todo.pop()
            if name in seen or name not in defs:
                continue
            seen.add(name)
            node = defs[name]
            parts[f"{module}:{name}"] = ast.get_source_segment(source, node)
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name):
                    if inner.id in defs:
                        todo.append(inner.id)
                    elif inner.id in imported:
                        modules.add(imported[inner.id])
                elif isinstance(inner, ast.ImportFrom):
                    base = _resolve(inner, module, path.name == "__init__.py")
                    modules.add(base)
                    modules |= {f"{base}.{a.name}" for a in inner.names if _module_file(f"{base}.{a.name}", package)}
    modules = {m for m in modules if m.split(".")[0] == "helpers"}
    return digest({"functions": parts, "modules": source_digest(modules, package)})
