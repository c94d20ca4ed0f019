"""`bench profile [hydra overrides...]`: a second Hydra app over configs/, primary config `bench_profile`.

    bench profile                          configs/profile/default.yaml
    bench profile profile=targets          the engine's speed targets, written to reports/benchmarks/
    bench profile profile=zoo device=cuda  the six architectures, on a GPU
    bench profile --cfg job                print the composed config and stop
    bench profile pairs.dataset=PATH       BM25 candidates of another BEIR folder (default: the shipped demo set)

The run's files go to reports/profile/<timestamp>/ unless `hydra.run.dir=` or `output_dir=` says otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.paths import CONFIG_DIR
from bench.profile.config import PRIMARY, register

DEFAULT_RUN_DIR = "reports/profile/${now:%Y-%m-%d_%H-%M-%S}"
HELP_HEADER = ("bench profile: throughput, latency and memory of rerankers through bench\\'s engine. "
               "Profiles are configs/profile/*.yaml (profile=default|smoke|zoo|targets|investigate|runtimes); "
               "every key below is an override")
HELP_FOOTER = "Examples: bench profile profile=smoke | bench profile pairs.dataset=/path/to/beir-folder"


def dataset_override_advice(argv: list[str]) -> str | None:
    """The message for `dataset=...` / `dataset.path=...`: the plain `bench` command's keys, which
    `bench profile` has not (Hydra would only say "Could not override 'dataset'"). None when absent."""
    given = [arg for arg in argv if arg.lstrip("+~").split("=", 1)[0].split(".", 1)[0] == "dataset"]
    if not given:
        return None
    path = None
    for arg in given:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "dataset.path":
            path = value
        elif key == "dataset" and value == "demo":
            path = path or "null"
    kept = [arg for arg in argv if arg not in given]
    command = " ".join(["bench", "profile", *kept, f"pairs.dataset={path or '/path/to/beir-folder'}"])
    return (
        f"bench profile: {' '.join(given)}: `dataset` is a key of the plain `bench` command; `bench profile` "
        f"takes its pairs from `pairs.dataset` (a BEIR folder, or null for the demo set shipped with bench):\n"
        f"    {command}"
    )


def main(argv: list[str] | None = None) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from bench.console import hydra_raises, job_errors, user_errors

    argv = list(sys.argv[1:] if argv is None else argv)
    advice = dataset_override_advice(argv)
    if advice:
        print(advice, file=sys.stderr)
        return 2
    register()
    if not any(arg.startswith("hydra.run.dir=") for arg in argv):
        argv.insert(0, f"hydra.run.dir={DEFAULT_RUN_DIR}")  # before any --flag, so argparse keeps it
    argv[:0] = [f"hydra.help.header='{HELP_HEADER}'", f"hydra.help.footer='{HELP_FOOTER}'"]

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=PRIMARY)
    def app(cfg: DictConfig) -> None:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        # an input error (a folder that cannot be read, an unknown system or dtype): one line, exit 2,
        # the traceback in the run's bench.log
        with job_errors("bench profile", run_dir, sweep=HydraConfig.get().mode == RunMode.MULTIRUN):
            from bench.profile.run import run

            run(cfg, Path(cfg.output_dir or run_dir))

    saved = sys.argv
    sys.argv = ["bench-profile", *argv]
    try:
        with user_errors("bench profile"), hydra_raises():  # Hydra's own errors (unknown key) as one line too
            app()
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
