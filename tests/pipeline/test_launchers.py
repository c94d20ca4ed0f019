"""Sweeps as job arrays through hydra-submitit-launcher: configs/hydra/launcher/slurm.yaml composes onto
the SLURM launcher and submits one sbatch array (checked against stand-ins for sbatch, srun and sacct),
and configs/hydra/launcher/local_jobs.yaml runs the same array on this machine, one process per job, with
numbers equal to an in-process run and one table from `bench aggregate`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs hydra-submitit-launcher (bench[slurm])")

from bench.pipeline import run  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def compose_with_hydra(*overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def test_slurm_launcher_config_composes_onto_submitits_slurm_launcher():
    cfg = compose_with_hydra("hydra/launcher=slurm")
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    for key in ("partition", "gpus_per_node", "gpus_per_task", "cpus_per_task", "mem_gb", "timeout_min",
                "array_parallelism", "submitit_folder"):
        assert key in launcher, key
    assert launcher.array_parallelism == 16 and launcher.timeout_min == 240
    assert launcher.submitit_folder == f"{cfg.hydra.sweep.dir}/.submitit/%j"  # logs under the sweep directory
    # command-line overrides land on the same keys (a typo would fail: the schema is a structured config)
    launcher = compose_with_hydra("hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                                  "hydra.launcher.array_parallelism=4", "hydra.launcher.timeout_min=720").hydra.launcher
    assert (launcher.partition, launcher.array_parallelism, launcher.timeout_min) == ("gpu", 4, 720)


def test_local_jobs_config_composes_onto_submitits_local_launcher():
    cfg = compose_with_hydra("hydra/launcher=local_jobs")
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
    assert launcher.gpus_per_node == 0
    assert launcher.submitit_folder == f"{cfg.hydra.sweep.dir}/.submitit/%j"


def _variant(tiny_beir: Path) -> Path:
    """tiny_beir with other relevance judgements, so that its numbers differ from tiny's."""
    other = tiny_beir.parent / "tiny_variant"
    shutil.copytree(tiny_beir, other)
    (other / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\nq2\td2\t2\n", encoding="utf-8")
    return other


def test_local_job_array_matches_in_process_runs_and_aggregates(compose, tiny_beir, tmp_path):
    folders = {"tiny": tiny_beir, "tiny_variant": _variant(tiny_beir)}
    common = ("dataset=local", "first_stage=bm25", "reranker=none", "top_k=5")
    multirun = tmp_path / "multirun"
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "job-cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "-m", "hydra/launcher=local_jobs", *common,
         "dataset.path=" + ",".join(str(folder) for folder in folders.values()),
         # interpolated like the default sweep dir: every job process must resolve it to the launcher's value
         f"hydra.sweep.dir={multirun}/${{now:%Y-%m-%d_%H-%M-%S}}_${{bench_run_id:}}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in done.stdout + done.stderr
    [sweep] = list(multirun.iterdir())

    # one subdirectory per job, each with its own tidy files and the numbers of an in-process run
    job_dirs = sorted(path for path in sweep.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert [path.name for path in job_dirs] == ["0", "1"]
    seen = set()
    for job_dir in job_dirs:
        assert (job_dir / "metrics.csv").is_file() and (job_dir / "manifest.json").is_file(), job_dir
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
        [path] = [item.split("=", 1)[1] for item in overrides if item.startswith("dataset.path=")]
        name = Path(path).name
        seen.add(name)
        expected_dir = tmp_path / "in-process" / name
        run(compose(*common, f"dataset.path={path}"), out_dir=expected_dir)
        expected = pd.read_csv(expected_dir / "metrics.csv")
        from_job = pd.read_csv(job_dir / "metrics.csv")
        assert set(from_job.dataset) == {name}
        pd.testing.assert_frame_equal(from_job, expected, check_exact=False, rtol=1e-12)
    assert seen == set(folders)
    ndcg = {
        name: pd.read_csv(tmp_path / "in-process" / name / "metrics.csv").set_index("measure").value["nDCG@10"]
        for name in folders
    }
    assert ndcg["tiny"] != pytest.approx(ndcg["tiny_variant"])  # the two jobs are told apart by their numbers

    # submitit's own folder: one per job, with the pickled job, its result and its logs
    submitit_jobs = [path for path in (sweep / ".submitit").iterdir() if path.is_dir() and path.name != "%j"]
    assert len(submitit_jobs) == 2
    for job in submitit_jobs:
        assert (job / f"{job.name}_submitted.pkl").is_file()
        assert (job / f"{job.name}_0_result.pkl").is_file()
        logs = (job / f"{job.name}_0_log.out").read_text() + (job / f"{job.name}_0_log.err").read_text()
        assert "Job completed successfully" in logs

    # bench aggregate: one table over the array
    agg = subprocess.run([sys.executable, "-m", "bench", "aggregate", str(sweep)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert agg.returncode == 0, agg.stderr[-3000:]
    assert "2 run directories merged" in agg.stdout
    [header] = [line for line in agg.stdout.splitlines() if line.startswith("| system (nDCG@10) |")]
    assert {"tiny", "tiny_variant"} <= {cell.strip() for cell in header.split("|")}
    assert "| bm25 |" in agg.stdout
    table = pd.read_csv(sweep / "aggregate_metrics.csv")
    assert (sweep / "aggregate_summary.md").is_file()
    for name, value in ndcg.items():
        row = table[(table.dataset == name) & (table.system == "bm25") & (table.measure == "nDCG@10")]
        assert row.value.item() == pytest.approx(value)


# Stand-ins for SLURM's commands, enough for submitit: sbatch keeps the script, answers with a job id
# and then (detached, as the scheduler would) runs each array task through the script; srun runs the
# command with its output redirected; sacct reports a task COMPLETED once it has run.
FAKE_SBATCH = """\
    import os, re, subprocess, sys, time
    state = os.environ["FAKE_SLURM_STATE"]
    script = open(sys.argv[1]).read()
    open(os.path.join(state, "sbatch.sh"), "w").write(script)
    first, last = map(int, re.search(r"#SBATCH --array=(\\d+)-(\\d+)", script).groups())
    if os.fork() == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        time.sleep(1)
        for task in range(first, last + 1):
            env = dict(os.environ, SLURM_JOB_ID=f"9{task}", SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(task),
                       SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0", SLURM_JOB_NODELIST="node1",
                       SLURM_PROCID="0", SLURM_LOCALID="0")
            subprocess.run(["bash", sys.argv[1]], env=env)
            open(os.path.join(state, f"done_{task}"), "w").close()
        os._exit(0)
    print("Submitted batch job 4242")
"""
FAKE_SRUN = """\
    import os, subprocess, sys
    args, streams = sys.argv[1:], {}
    while args[0].startswith("--"):
        if args[0] in ("--output", "--error"):
            path = args[1]
            for key, value in (("%A", "4242"), ("%a", os.environ["SLURM_ARRAY_TASK_ID"]), ("%t", "0")):
                path = path.replace(key, value)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            streams[args[0]] = open(path, "a")
            args = args[2:]
        else:
            args = args[1:]
    sys.exit(subprocess.run(args, stdout=streams["--output"], stderr=streams["--error"]).returncode)
"""
FAKE_SACCT = """\
    import os, sys
    state = os.environ["FAKE_SLURM_STATE"]
    print("JobID|State|NodeList")
    for task in range(8):
        done = os.path.exists(os.path.join(state, f"done_{task}"))
        print(f"4242_{task}|{'COMPLETED' if done else 'PENDING'}|node1")
"""


def _fake_slurm(folder: Path) -> Path:
    folder.mkdir()
    for name, body in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT)):
        path = folder / name
        path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body), encoding="utf-8")
        path.chmod(0o755)
    return folder


def test_slurm_launcher_submits_one_array_whose_jobs_write_their_runs(tiny_beir, tmp_path):
    folders = [tiny_beir, _variant(tiny_beir)]
    fake = _fake_slurm(tmp_path / "fake-slurm")
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "FAKE_SLURM_STATE": str(fake),
           "BENCH_CACHE": str(tmp_path / "job-cache"), "HF_HUB_OFFLINE": "1", "HYDRA_FULL_ERROR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "-m", "hydra/launcher=slurm", "hydra.launcher.partition=testpart",
         "hydra.launcher.array_parallelism=1", "hydra.launcher.timeout_min=5", "dataset=local", "first_stage=bm25",
         "reranker=none", "dataset.path=" + ",".join(map(str, folders)), f"hydra.sweep.dir={sweep}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    script = (fake / "sbatch.sh").read_text()
    for line in ("--array=0-1%1", "--partition=testpart", "--time=5", "--cpus-per-task=8", "--mem=32GB",
                 "--gpus-per-node=1", f"--output={sweep}/.submitit/%A_%a/%A_%a_0_log.out"):
        assert f"#SBATCH {line}\n" in script, line
    for num, folder in enumerate(folders):
        metrics = pd.read_csv(sweep / str(num) / "metrics.csv")
        assert set(metrics.dataset) == {folder.name}
        assert (sweep / str(num) / "manifest.json").is_file()
        log = (sweep / ".submitit" / f"4242_{num}" / f"4242_{num}_0_log.out").read_text()
        assert "Job completed successfully" in log
