"""The `bench` command: a Hydra app, plus a few subcommands that take plain arguments.

    bench [hydra overrides...]          run a study (see configs/config.yaml)
    bench report RUN_DIR... [options]   build a report from finished run directories
    bench aggregate DIR                 merge the metrics.csv files of a sweep into one table
    bench profile [hydra overrides...]  throughput / latency / memory (configs/profile/)
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

#: subcommand -> "module:function" taking argv (without the subcommand) and returning an exit code
SUBCOMMANDS = {
    "report": "bench.report.cli:main",
    "aggregate": "bench.evaluate.aggregate:main",
    "profile": "bench.profile.cli:main",
}


def _hydra_main() -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig

    if not CONFIG_DIR.is_dir():
        sys.exit(f"bench: config folder {CONFIG_DIR} not found; install bench from a source checkout "
                 "(pip install -e .) so that configs/ sits beside the package")

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
    def app(cfg: DictConfig) -> None:
        out_dir = Path(cfg.output_dir or HydraConfig.get().runtime.output_dir)
        if not cfg.get("quiet", False):  # said before the heavy imports (torch, transformers), a few seconds
            print(f"bench: starting, results will be in {out_dir}", file=sys.stderr, flush=True)
        from bench.pipeline import run

        run(cfg, out_dir=out_dir)

    app()


def _dispatch(name: str, argv: list[str]) -> int:
    module_name, function = SUBCOMMANDS[name].split(":")
    module = importlib.import_module(module_name)
    return int(getattr(module, function)(argv) or 0)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        sys.exit(_dispatch(sys.argv[1], sys.argv[2:]))
    _hydra_main()


def aggregate_main() -> None:
    sys.exit(_dispatch("aggregate", sys.argv[1:]))
