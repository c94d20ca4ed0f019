"""`bench profile [hydra overrides...]`: a second Hydra app over configs/, primary config `bench_profile`.

    bench profile                          configs/profile/default.yaml
    bench profile profile=targets          the issue's targets, written to reports/benchmarks/
    bench profile profile=zoo device=cuda  the six architectures, on a GPU
    bench profile --cfg job                print the composed config and stop

The run's files go to reports/profile/<timestamp>/ unless `hydra.run.dir=` or `output_dir=` says otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.profile.config import PRIMARY, register

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_RUN_DIR = "reports/profile/${now:%Y-%m-%d_%H-%M-%S}"


def main(argv: list[str] | None = None) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig

    argv = list(sys.argv[1:] if argv is None else argv)
    register()
    if not any(arg.startswith("hydra.run.dir=") for arg in argv):
        argv.insert(0, f"hydra.run.dir={DEFAULT_RUN_DIR}")  # before any --flag, so argparse keeps it

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=PRIMARY)
    def app(cfg: DictConfig) -> None:
        from bench.profile.run import run

        run(cfg, Path(cfg.output_dir or HydraConfig.get().runtime.output_dir))

    saved = sys.argv
    sys.argv = ["bench-profile", *argv]
    try:
        app()
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
