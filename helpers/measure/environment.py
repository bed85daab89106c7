"""The hardware and software a measurement was taken on, to be stored next to the numbers."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

# Instruction-set extensions that decide INT8 and BF16 speed: x86, then ARM's dot products (sdot, i8mm).
RELEVANT_FLAGS = (
    "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "amx_tile", "amx_int8", "amx_bf16", "asimddp", "i8mm",
)

# How a CPU multiplies INT8, most capable first: (class, the flag that grants it, the instruction).
INT8_CLASSES = (
    ("AMX", "amx_int8", "tdpbusd: a 16×64 by 64×16 INT8 tile product per instruction"),
    ("AVX-512 VNNI", "avx512_vnni", "vpdpbusd: 64 u8·s8 products summed into 16 INT32 lanes"),
    ("AVX-VNNI", "avx_vnni", "vpdpbusd on 256-bit registers: 32 u8·s8 products into 8 INT32 lanes"),
    ("AVX-512", "avx512bw", "vpmaddubsw + vpmaddwd: u8·s8 pairs summed in 16 bits (can saturate), then 32"),
    ("AVX2", "avx2", "vpmaddubsw + vpmaddwd on 256-bit registers (16-bit pair sums can saturate)"),
    ("ARM i8mm", "i8mm", "smmla: a 2×8 by 8×2 INT8 matrix product per 128-bit register"),
    ("ARM dot product", "asimddp", "sdot: 16 s8·s8 products summed into 4 INT32 lanes"),
)


def int8_class(flags: list[str]) -> str:
    """The most capable way this CPU multiplies INT8 (`INT8_CLASSES`), from its ISA flags."""
    return next((name for name, flag, _ in INT8_CLASSES if flag in flags), "no INT8 dot product")


def _os_cpu_model_and_flags() -> tuple[str, list[str]]:
    """CPU model name and the relevant ISA flags as the operating system describes them (/proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "Hardware") and value.strip():
                model = value.strip()
            elif key in ("flags", "Features"):
                flags |= set(value.split())
            if model and flags and key == "":  # first processor block is enough
                break
    return model, [f for f in RELEVANT_FLAGS if f in flags]


# The x86 flags of RELEVANT_FLAGS (/proc/cpuinfo's names) as torch's cpuinfo names what cpuid answers.
CPUID_NAMES = {"avx2": "avx2", "fma": "fma3", "avx512f": "avx512_f", "avx512bw": "avx512_bw",
               "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni", "avx512_bf16": "avx512_bf16",
               "amx_tile": "amx_tile", "amx_int8": "amx_int8", "amx_bf16": "amx_bf16"}


def cpuid_flags() -> list[str] | None:
    """The relevant x86 flags as the CPU answers cpuid to this very process (`torch.cpu.get_capabilities`):
    the truth where /proc/cpuinfo describes another CPU (qemu-user, some containers). None off x86."""
    capabilities = torch.cpu.get_capabilities()
    if capabilities.get("architecture") not in ("x86_64", "x86"):
        return None
    return [f for f in RELEVANT_FLAGS if capabilities.get(CPUID_NAMES.get(f, ""), False)]


def emulated_cpu() -> dict | None:
    """When this process runs on a CPU with fewer of the relevant flags than the one the operating system
    describes (an emulator such as `qemu-x86_64 -cpu Haswell`, or a masked virtual CPU): cpuid's name for
    it and the host's; else None."""
    return _emulated(cpuid_flags(), *_os_cpu_model_and_flags())


def _emulated(asked: list[str] | None, host: str, host_flags: list[str]) -> dict | None:
    if asked is None or set(host_flags) <= set(asked):
        return None
    return {"cpu": torch.cpu.get_capabilities().get("cpu_name") or "unknown CPU", "host": host,
            "host_flags": host_flags}


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """CPU model name and the relevant ISA flags of the CPU this code runs on: flags from cpuid (on x86),
    the name from /proc/cpuinfo, or cpuid's name with "(emulated)" where the two CPUs differ."""
    model, flags = _os_cpu_model_and_flags()
    asked = cpuid_flags()
    if asked is None:
        return model, flags
    emulated = _emulated(asked, model, flags)
    return (f"{emulated['cpu']} (emulated)" if emulated else model), asked


SOURCES = Path(__file__).resolve().parents[2]  # the book's repository, when helpers runs from a checkout


def source_commit(repo: Path = SOURCES) -> str | None:
    """The commit the book's sources are at (12 hex digits, `-dirty` if tracked files were changed since),
    or None outside a git checkout (an installed package)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


def describe_environment(threads: int | None = None) -> dict:
    """CPU, ISA flags, threads, quantized engine and library versions, as a JSON-ready dict."""
    import transformers

    cpu, flags = cpu_model_and_flags()
    info = {
        "cpu": cpu,
        "cpu_flags": flags,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "emulated": emulated_cpu(),  # None on the CPU itself
        "logical_cpus": os.cpu_count(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "quantized_engine": torch.backends.quantized.engine,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "commit": source_commit(),
    }
    for package in ("torchao", "onnxruntime", "onnx"):  # versions without importing (torchao's import is chatty)
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    return info


def default_threads() -> int:
    """The thread count benchmarks use unless told otherwise: every logical CPU, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))
