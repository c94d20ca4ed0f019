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

from bench.paths import CONFIG_DIR

#: subcommand -> "module:function" taking argv (without the subcommand) and returning an exit code
SUBCOMMANDS = {
    "report": "bench.report.cli:main",
    "aggregate": "bench.evaluate.aggregate:main",
    "profile": "bench.profile.cli:main",
}


def _run_dir(output_dir: object, default: str) -> str:
    """`${bench_run_dir:${output_dir},<default>}` in configs/config.yaml: Hydra's run directory is the run's
    output_dir when one is given, so nothing lands in reports/runs/ then."""
    return str(output_dir) if output_dir else default


def _hydra_main() -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig, OmegaConf

    from bench.console import hydra_raises, job_errors, user_errors

    if not CONFIG_DIR.is_dir():
        sys.exit(f"bench: config folder {CONFIG_DIR} not found; install bench from a source checkout "
                 "(pip install -e .) so that configs/ sits beside the package")
    if not OmegaConf.has_resolver("bench_run_dir"):
        OmegaConf.register_new_resolver("bench_run_dir", _run_dir)

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
    def app(cfg: DictConfig) -> None:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        with job_errors("bench", run_dir, sweep=HydraConfig.get().mode == RunMode.MULTIRUN):
            from bench.validate import validate

            validate(cfg)  # every mistake in the config, before any work
            out_dir = Path(cfg.output_dir or run_dir)
            if not cfg.get("quiet", False):  # said before the heavy imports (transformers), a few seconds
                print(f"bench: starting, results will be in {out_dir}", file=sys.stderr, flush=True)
            from bench.pipeline import run

            run(cfg, out_dir=out_dir)

    with user_errors("bench"), hydra_raises():  # Hydra's own errors (unknown key or option) as one line too
        app()


def _dispatch(name: str, argv: list[str]) -> int:
    from bench.console import user_errors

    module_name, function = SUBCOMMANDS[name].split(":")
    with user_errors(f"bench {name}"):
        module = importlib.import_module(module_name)
        return int(getattr(module, function)(argv) or 0)


def main() -> None:
    """`bench ...`; an input error (bad config value, missing file, unknown option) ends with one line on
    stderr and exit status 2 (BENCH_TRACEBACK=1 shows the traceback; the run's bench.log always has it)."""
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        sys.exit(_dispatch(sys.argv[1], sys.argv[2:]))
    _hydra_main()


def aggregate_main() -> None:
    sys.exit(_dispatch("aggregate", sys.argv[1:]))
