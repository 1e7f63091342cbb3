"""GPU readiness: the toolkit's heavy work on an NVIDIA GPU, with the CPU beside it.

On a machine with an NVIDIA GPU (found with `nvidia-smi`), the script makes sure JAX
can use it (installs the CUDA build, `pip install -U "jax[cudaNN]"` for the driver's
CUDA major version, when the installed JAX sees no GPU; `--no-install` skips that),
then times, each in a fresh process so that compilation is included:

1. `mlp`: the verification of heavy ball (beta = 0.9) through order 2 on the digits
   MLP (3,610 parameters), `numerics.networks.verify_model` with default settings;
2. `sweep`: a sharded sweep (`numerics.networks.sweep`) of heavy ball over step
   sizes x momenta x seeds on a digits MLP;
3. `central-flows`: `derive reproduce central-flows --quick`, when the checkout has
   that reproduction.

Each workload runs on the GPU and on the CPU (`JAX_PLATFORMS=cpu`, the same
machine), and the table prints the device, both timings and the figures of the 2-core
development machine. Without a GPU (or when the CUDA build cannot be installed or
does not see it) the script says so and prints the CPU figures alone; it never fails
for want of a GPU (exit status 0), only when a workload itself fails (exit status 1).

    python benchmarks/gpu_check.py [--no-install] [--smoke] [--skip-cpu]
        [--only mlp,sweep,central-flows]

`--smoke` runs tiny versions of the workloads (seconds; the test suite uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("mlp", "sweep", "central-flows")

REFERENCE_CPU_S = {
    # the 2-core development machine (load about 6 from other jobs), jax 0.10.2,
    # `python benchmarks/gpu_check.py` without a GPU: compilation included
    "mlp": 44.3,
    "sweep": 78.2,
    "central-flows": None,
}


# ---------------------------------------------------------------- finding the GPU


def find_nvidia_gpu() -> str | None:
    """The first NVIDIA GPU's name and memory from `nvidia-smi`, or `None`."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[0] if done.returncode == 0 and lines else None


def cuda_major() -> int | None:
    """The CUDA major version the driver supports (from `nvidia-smi`'s banner)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        text = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"CUDA Version:\s*(\d+)", text)
    return int(found.group(1)) if found else None


def jax_sees_gpu() -> tuple[bool, str]:
    """Whether JAX (in a fresh process) has a GPU backend, and its devices."""
    code = (
        "import jax\n"
        "try:\n    d = jax.devices('gpu')\nexcept RuntimeError:\n    d = []\n"
        "print(repr([str(x) for x in d]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        return False, done.stderr.strip()[-300:]
    devices = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "[]"
    return devices != "[]", devices


def install_cuda_jax(major: int | None) -> bool:
    """`pip install -U "jax[cudaNN]"` for the driver's CUDA major version."""
    extra = f"cuda{major}" if major in (12, 13) else "cuda12"
    print(f"installing the CUDA build of JAX: pip install -U 'jax[{extra}]' ...")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-U", f"jax[{extra}]"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"  the install failed: {done.stderr.strip()[-400:]}")
        return False
    return True


# ---------------------------------------------------------------- workloads


def _mlp(smoke: bool) -> dict[str, Any]:
    import derive
    from numerics.networks import verify_model

    if smoke:
        cert = verify_model(
            "teacher-student",
            derive.heavy_ball(0.5),
            0,
            quick=True,
            model_options={"d": 2, "hidden": 2, "n": 8},
        )
    else:
        cert = verify_model("digits-mlp", derive.heavy_ball(0.9), 2)
    return {
        "verdict": cert.verdict,
        "slopes": [None if s is None else round(s, 3) for s in cert.slopes],
    }


def _sweep(smoke: bool) -> dict[str, Any]:
    import derive
    from numerics.networks import sweep

    if smoke:
        res = sweep(
            derive.heavy_ball(),
            "teacher-student",
            h=[0.05, 0.1],
            params={"beta": [0.5]},
            seeds=[0],
            n_steps=20,
            progress=False,
        )
    else:
        res = sweep(
            derive.heavy_ball(),
            "digits-mlp",
            h=[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0],
            params={"beta": [0.0, 0.5, 0.9, 0.99]},
            seeds=[0, 1, 2, 3],
            n_steps=500,
            progress=False,
        )
    return {"points": res.size, "devices": len(res.devices)}


def _central_flows(smoke: bool) -> dict[str, Any]:
    from numerics.reproductions._registry import REPRODUCTIONS

    if "central-flows" not in REPRODUCTIONS:
        return {"skipped": "this checkout has no 'derive reproduce central-flows'"}
    if smoke:  # the quick reproduction takes minutes: only check it is registered
        return {"skipped": "smoke run (the reproduction is registered)"}
    from derive.cli import main

    status = main(["reproduce", "central-flows", "--quick", "--out", "runs/gpu-check"])
    return {"exit_status": status}


def run_workload(name: str, smoke: bool) -> dict[str, Any]:
    """Run one workload in this process and return its figures (JSON-ready)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    started = time.perf_counter()
    work = {"mlp": _mlp, "sweep": _sweep, "central-flows": _central_flows}[name]
    result = work(smoke)
    result.update(
        workload=name,
        seconds=time.perf_counter() - started,
        device=str(jax.devices()[0]),
        backend=jax.default_backend(),
    )
    return result


def timed(name: str, platform: str, smoke: bool) -> dict[str, Any]:
    """Run a workload in a fresh process on `platform` (`"cpu"` or `"cuda"`)."""
    env = dict(os.environ, JAX_PLATFORMS=platform)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    argv = [sys.executable, __file__, "--workload", name]
    if smoke:
        argv.append("--smoke")
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"workload": name, "error": " | ".join(tail), "wall": wall}
    result = json.loads(lines[-1])
    result["wall"] = wall
    return result


def _cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    if "error" in result:
        return "error"
    if "skipped" in result:
        return "skipped"
    return f"{result['wall']:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-gpu", action="store_true")
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--workload", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workload:
        print(json.dumps(run_workload(args.workload, args.smoke)), flush=True)
        return 0
    names = [w for w in args.only.split(",") if w in WORKLOADS]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}"
    )
    gpu = None if args.skip_gpu else find_nvidia_gpu()
    use_gpu = False
    if gpu is None:
        print(
            "no NVIDIA GPU found (no nvidia-smi, or it lists none): running on the "
            "CPU only."
        )
    else:
        print(f"GPU: {gpu}")
        use_gpu, devices = jax_sees_gpu()
        if not use_gpu and not args.no_install:
            if install_cuda_jax(cuda_major()):
                use_gpu, devices = jax_sees_gpu()
        if use_gpu:
            print(f"JAX sees: {devices}")
        else:
            print(
                "JAX does not see the GPU (the CUDA build is missing or does not "
                f"load: {devices}); running on the CPU only."
            )
    rows = []
    for name in names:
        on_gpu = timed(name, "cuda", args.smoke) if use_gpu else None
        on_cpu = None if args.skip_cpu else timed(name, "cpu", args.smoke)
        rows.append((name, on_gpu, on_cpu))
        for result in (on_gpu, on_cpu):
            if result is not None:
                print(f"  {name}: {json.dumps(result)}", flush=True)
    print()
    print(f"{'workload':<14} {'GPU':>10} {'CPU (here)':>11} {'CPU (2-core ref.)':>18}")
    for name, on_gpu, on_cpu in rows:
        ref = REFERENCE_CPU_S.get(name)
        ref_text = "-" if ref is None or args.smoke else f"{ref:.1f} s"
        print(f"{name:<14} {_cell(on_gpu):>10} {_cell(on_cpu):>11} {ref_text:>18}")
    device = next(
        (r["device"] for _, g, c in rows for r in (g, c) if r and "device" in r),
        "none",
    )
    print(f"device of the last runs: {device}; backend: {'gpu' if use_gpu else 'cpu'}")
    failed = [n for n, g, c in rows for r in (g, c) if r is not None and "error" in r]
    if failed:  # a workload that broke is a failure; a missing GPU is not
        print(f"failed: {', '.join(sorted(set(failed)))} (see the errors above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
