"""`rdpbench run` on Dask: a real `dask scheduler` and `dask worker` processes on 127.0.0.1 give the
same rows as `--jobs 1`; dying workers, a killed client and a lost scheduler lose and duplicate nothing;
dask-jobqueue job scripts ask for what the config says."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rdpbench
import standins
from rdpbench.codecs.registry import create_codec
from rdpbench.dask_cluster import ClusterConfig, job_queue_cluster, parse_config
from rdpbench.dask_executor import needs_gpu
from rdpbench.context import RunContext
from rdpbench.spec import SpecError

BIN = Path(sys.executable).parent  # the environment's `dask` command
CODE = Path(rdpbench.__file__).resolve().parents[1]  # this checkout's rdpbench, for the worker processes

TEST_CODECS = '''
import os, signal, time
import numpy as np
from rdpbench.codecs.api import Codec, Param


class Slow(Codec):
    """Keeps the top ``bits`` of every sample after ``pause`` seconds; each instance logs its process."""
    name = "slow"
    params = (Param("bits", "int", 8, "", low=1, high=8, rate=True), Param("pause", "float", 0.0, "", low=0, high=9))

    def __init__(self, context=None):
        super().__init__(context)
        with open(os.environ["RDPBENCH_TEST_INSTANCES"], "a") as log:
            log.write(f"{os.getpid()}\\n")

    def encode(self, image, setting):
        time.sleep(setting["pause"])
        shape = np.array(image.shape, dtype=np.uint32).tobytes()
        return shape + (image >> (8 - setting["bits"])).astype(np.uint8).tobytes()

    def decode(self, data, setting):
        shape = tuple(np.frombuffer(data[:12], dtype=np.uint32))
        return (np.frombuffer(data[12:], dtype=np.uint8).reshape(shape) << (8 - setting["bits"])).astype(np.uint8)


class Killer(Codec):
    """Kills its own process (a native crash, the out-of-memory killer) on 256 px wide images; else lossless."""
    name = "killer"
    params = (Param("quality", "int", 1, "", low=1, high=9, rate=True),)

    def encode(self, image, setting):
        if image.shape[1] == 256:
            os.kill(os.getpid(), signal.SIGKILL)
        return np.array(image.shape, dtype=np.uint32).tobytes() + image.tobytes()

    def decode(self, data, setting):
        return np.frombuffer(data[12:], dtype=np.uint8).reshape(tuple(np.frombuffer(data[:12], dtype=np.uint32)))
'''


# -- processes ------------------------------------------------------------------------------------
class DaskProcesses:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, each in its own process group;
    :meth:`stop` kills every one of them."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env, self.processes = folder, env, []
        self.scheduler_file = folder / "scheduler.json"

    def _start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.folder / f"process{len(self.processes)}.log", "w")
        process = subprocess.Popen([str(BIN / "dask"), *args], env={**self.env, **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder)
        self.processes.append(process)
        return process

    def scheduler(self, allowed_failures: int = 1) -> str:
        self._start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(self.scheduler_file),
                    env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
                         "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"})
        deadline = time.monotonic() + 60
        while not self.scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        return json.loads(self.scheduler_file.read_text())["address"]

    def worker(self) -> subprocess.Popen:
        return self._start("worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
                           "--nthreads", "1", "--no-nanny", "--no-dashboard", "--death-timeout", "20",
                           "--local-directory", str(self.folder))

    def wait_for_workers(self, n: int) -> list[str]:
        from distributed import Client

        with Client(json.loads(self.scheduler_file.read_text())["address"], timeout=30) as client:
            client.wait_for_workers(n, timeout=90)
            return sorted(client.scheduler_info(n_workers=-1)["workers"])

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the worker processes (and of the client, set by `use_env`): this checkout's
    rdpbench, the test codecs, an empty torch hub, a log of codec instances."""
    folder = tmp_path_factory.mktemp("dask-env")
    (folder / "codecs").mkdir()
    (folder / "codecs" / "test_codecs.py").write_text(TEST_CODECS)
    inherited = {key: value for key, value in os.environ.items()  # CI's data folders are not the workers'
                 if key not in ("RDPBENCH_WEIGHTS", "RDPBENCH_KODAK_DIR")}
    return {**inherited, "PYTHONPATH": str(CODE), "RDPBENCH_CODECS_PATH": str(folder / "codecs"),
            "TORCH_HOME": str(folder / "torch"), "RDPBENCH_TEST_INSTANCES": str(folder / "instances.log"),
            "OMP_NUM_THREADS": "1"}


@pytest.fixture
def use_env(dask_env, monkeypatch, tmp_path):
    from rdpbench.codecs.registry import CODECS

    for key in ("PYTHONPATH", "RDPBENCH_CODECS_PATH", "TORCH_HOME", "RDPBENCH_TEST_INSTANCES"):
        monkeypatch.setenv(key, dask_env[key])
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "cache"))  # the originals are computed in each test
    CODECS.cache_clear()
    yield
    CODECS.cache_clear()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dask_env):
    """A scheduler (allowed-failures 1) and two single-threaded workers, killed after the module."""
    processes = DaskProcesses(tmp_path_factory.mktemp("dask"), dask_env)
    try:
        processes.scheduler()
        processes.worker()
        processes.worker()
        processes.wait_for_workers(2)
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Stand-ins for LPIPS (AlexNet), FID (Inception), NIQE and a CompressAI zoo model."""
    folder = tmp_path_factory.mktemp("weights")
    standins.alexnet(folder)
    standins.inception(folder)
    standins.niqe(folder)
    standins.compressai_zoo(folder, "bmshj2018-factorized", 1)
    return folder


def _rows(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "per_image.csv", keep_default_na=False, na_values=[""])


def _workers_of_rows(out: Path) -> list[str | None]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return [row[0] for row in db.execute("SELECT worker FROM rows")]


def _count_rows(out: Path) -> int:
    try:
        with sqlite3.connect(out / "results.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_for_rows(out: Path, n: int, process: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if (count := _count_rows(out)) >= n:
            return count
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} rows in {out} (process exit code {process.poll()})")


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rdpbench", "run", *map(str, args)]


# -- on a cluster, the same numbers as --jobs 1 --------------------------------------------------------------
def test_a_dask_cluster_gives_the_rows_of_jobs_1(cluster, use_env, weights_dir, photo_dir, tmp_path, run_cli,
                                                 dask_env, monkeypatch):
    config = tmp_path / "run.toml"
    config.write_text(textwrap.dedent(f'''
        metrics = ["psnr", "ms_ssim", "lpips", "niqe", "kid"]
        weights_dir = "{weights_dir}"
        save_recon = true
        [metric_options.kid]
        patch_size = 128
        patch_shift = 0
        [[codec]]
        name = "jpeg"
        sweep = {{ quality = [30] }}
        [[codec]]
        name = "compressai-bmshj2018-factorized"
        sweep = {{ quality = [1] }}
        [[codec]]
        name = "slow"
        sweep = {{ bits = [2, 5] }}
    '''))
    common = ("run", config, "--images", photo_dir, "--allow-unverified-weights")
    here, there = tmp_path / "jobs1", tmp_path / "dask"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread, as on the workers: float32 networks sum in the same order; here for the
    try:  # originals (computed in this process), through OMP_NUM_THREADS for the --jobs 1 worker process
        with monkeypatch.context() as single:
            single.setenv("OMP_NUM_THREADS", "1")
            assert run_cli(*common, "--out", here, "--jobs", "1") == 0
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "other-cache"))  # the workers compute the originals again
    Path(dask_env["RDPBENCH_TEST_INSTANCES"]).unlink(missing_ok=True)
    assert run_cli(*common, "--out", there, "--scheduler", cluster.scheduler_file) == 0

    expected, got = _rows(here), _rows(there)
    assert len(got) == 2 * 4 and not got.duplicated(["codec", "setting", "image"]).any()
    exact = ["codec", "setting", "image", "width", "height", "bytes", "bpp", "error"]
    pd.testing.assert_frame_equal(got[exact], expected[exact])
    for metric in ("psnr", "ms_ssim", "lpips", "niqe"):
        np.testing.assert_allclose(got[metric], expected[metric], rtol=0, atol=1e-9, equal_nan=True)
    assert got["lpips"].notna().all() and got["niqe"].notna().all()
    originals = [pd.read_csv(folder / "originals.csv") for folder in (here, there)]  # NIQE of the originals
    np.testing.assert_allclose(originals[1]["niqe"], originals[0]["niqe"], rtol=0, atol=1e-9)
    summaries = [pd.read_csv(folder / "summary.csv") for folder in (here, there)]
    assert summaries[1]["kid"].notna().all()  # from the originals' and reconstructions' patch features
    np.testing.assert_allclose(summaries[1]["kid"], summaries[0]["kid"], rtol=0, atol=1e-9)
    for recon in (here / "recon").rglob("*.png"):
        assert (there / recon.relative_to(here)).read_bytes() == recon.read_bytes()

    # provenance: the executor, the scheduler, the workers; each row's worker
    assert set(_workers_of_rows(there)) <= set(cluster.wait_for_workers(2))
    assert set(_workers_of_rows(here)) == {None}
    with sqlite3.connect(there / "results.sqlite") as db:
        executor = json.loads(db.execute("SELECT executor FROM runs").fetchone()[0])
    assert executor["executor"] == "dask" and executor["cluster"] == "scheduler" and executor["workers"] == 2
    assert executor["scheduler"] == json.loads(cluster.scheduler_file.read_text())["address"]
    # codecs (and their networks) are made once per worker, not per task: 4 slow tasks, 2 workers
    made = Path(dask_env["RDPBENCH_TEST_INSTANCES"]).read_text().split()
    on_workers = [pid for pid in made if int(pid) != os.getpid()]
    assert 1 <= len(on_workers) <= 2 and len(set(on_workers)) == len(on_workers)


def test_a_missing_weight_file_on_a_worker_stops_the_run_naming_file_and_worker(cluster, use_env, photo_dir,
                                                                                 tmp_path, run_cli, capsys):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--metrics", "lpips", "--weights-dir", empty,
                   "--out", tmp_path / "out", "--scheduler", cluster.scheduler_file) == 2
    error = capsys.readouterr().err
    for worker in cluster.wait_for_workers(2):
        assert f"worker {worker}: missing weight file alexnet-owt-7be5be79.pth" in error
    assert _count_rows(tmp_path / "out") == 0


def test_gpu_tasks_without_a_gpu_worker_stop_with_a_clear_error(cluster, use_env, photo_dir, tmp_path, run_cli,
                                                                capsys, weights_dir):
    config = tmp_path / "run.toml"
    config.write_text("[executor]\nworker_wait_s = 2\n")
    assert run_cli("run", config, "--images", photo_dir, "--codec", "compressai-bmshj2018-factorized",
                   "--sweep", "quality=1", "--device", "cuda", "--weights-dir", weights_dir,
                   "--allow-unverified-weights", "--out", tmp_path / "out", "--scheduler", cluster.scheduler_file) == 2
    assert "no worker offering the GPU resource" in capsys.readouterr().err


# -- failures --------------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_run_loses_and_duplicates_no_row(cluster, use_env, photo_dir, tmp_path):
    extra = cluster.worker()
    cluster.wait_for_workers(3)
    out = tmp_path / "out"
    process = subprocess.Popen(_cli("--images", photo_dir, "--codec", "slow", "--sweep", "bits=1:8:1",
                                    "--option", "pause=0.4", "--out", out, "--scheduler", cluster.scheduler_file),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        before = _wait_for_rows(out, 3, process)
        os.killpg(extra.pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert before < 16, "the kill should land in the middle of the run"
    assert process.returncode == 0, stderr.decode()[-2000:]
    rows = _rows(out)
    assert len(rows) == 16 and not rows.duplicated(["codec", "setting", "image"]).any()
    assert (rows["error"].isna() | (rows["error"] == "")).all()
    np.testing.assert_array_equal(rows["bpp"], 8 * (12 + 3 * rows["width"] * rows["height"]) / (rows["width"] * rows["height"]))


def test_a_killed_client_reruns_and_resumes(cluster, use_env, photo_dir, tmp_path):
    out = tmp_path / "out"
    command = _cli("--images", photo_dir, "--codec", "slow", "--sweep", "bits=1:8:1", "--option", "pause=0.3",
                   "--out", out, "--scheduler", cluster.scheduler_file)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_rows(out, 3, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with sqlite3.connect(out / "results.sqlite") as db:
        before = {row[:3]: row[3:] for row in db.execute("SELECT codec, setting, image, bpp, worker FROM rows")}
    assert 3 <= len(before) < 16
    assert subprocess.run(command, capture_output=True, timeout=180).returncode == 0
    with sqlite3.connect(out / "results.sqlite") as db:
        after = {row[:3]: row[3:] for row in db.execute("SELECT codec, setting, image, bpp, worker FROM rows")}
        statuses = [row[0] for row in db.execute("SELECT status FROM runs ORDER BY run_id")]
    assert len(after) == 16 and all(after[key] == value for key, value in before.items())
    assert statuses == ["running", "finished"]


def test_a_task_that_kills_every_worker_is_retried_then_an_error_row_naming_the_worker(use_env, photo_dir, tmp_path,
                                                                                        run_cli):
    """On a LocalCluster (--cluster local --jobs 2): allowed_failures = 1, so two workers die on the
    astronaut's killer task (their nannies start new ones); the other rows are unaffected."""
    config = tmp_path / "run.toml"
    config.write_text(textwrap.dedent('''
        [executor]
        allowed_failures = 1
        [[codec]]
        name = "killer"
        [[codec]]
        name = "jpeg"
        sweep = { quality = [50] }
    '''))
    out = tmp_path / "out"
    assert run_cli("run", config, "--images", photo_dir, "--out", out, "--cluster", "local", "--jobs", "2") == 1
    rows = _rows(out).set_index(["codec", "image"])
    assert len(rows) == 4
    error = rows.loc[("killer", "astronaut.png"), "error"]
    assert error.startswith("worker: the worker died while running this task, 2 times (the last was tcp://127.0.0.1:")
    for key in [("killer", "coffee.png"), ("jpeg", "astronaut.png"), ("jpeg", "coffee.png")]:
        assert pd.isna(rows.loc[key, "error"]) and rows.loc[key, "bpp"] > 0
    with sqlite3.connect(out / "results.sqlite") as db:
        worker = db.execute("SELECT worker FROM rows WHERE codec = 'killer' AND image = 'astronaut.png'").fetchone()[0]
        executor = json.loads(db.execute("SELECT executor FROM runs").fetchone()[0])
    assert worker.startswith("tcp://127.0.0.1:") and f"(the last was {worker})" in error
    assert executor["cluster"] == "local" and executor["workers"] == 2 and executor["allowed_failures"] == 1


def test_losing_the_scheduler_stops_the_run_with_an_error_and_keeps_the_rows(dask_env, use_env, photo_dir, tmp_path):
    processes = DaskProcesses(tmp_path, dask_env)
    try:
        processes.scheduler()
        processes.worker()
        processes.wait_for_workers(1)
        config = tmp_path / "run.toml"
        config.write_text("[executor]\ntimeout_s = 3\n")
        out = tmp_path / "out"
        process = subprocess.Popen(_cli(config, "--images", photo_dir, "--codec", "slow", "--sweep", "bits=1:8:1",
                                        "--option", "pause=0.3", "--out", out, "--scheduler", processes.scheduler_file),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _wait_for_rows(out, 2, process)
            os.killpg(processes.processes[0].pid, signal.SIGKILL)
            _, stderr = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    finally:
        processes.stop()
    assert process.returncode == 2, stderr.decode()[-3000:]
    assert "rdpbench: error: lost the connection to the Dask scheduler" in stderr.decode()
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
        assert 2 <= db.execute("SELECT COUNT(*) FROM rows").fetchone()[0] < 16


# -- configuration -----------------------------------------------------------------------------------------------
def test_executor_table_is_checked():
    assert parse_config({}, 4) is None
    assert parse_config({"cluster": "local"}, 3) == ClusterConfig("local", workers=3)
    assert parse_config({"scheduler": "tcp://127.0.0.1:8786", "timeout_s": 5}, 1).timeout_s == 5.0
    for table, message in [({"cluster": "kubernetes"}, "choose one of local, slurm"),
                           ({"cluster": "slurm", "cores": 4}, "needs [executor] memory"),
                           ({"cluster": "local", "queue": "gpu"}, "apply to job queues"),
                           ({"cluster": "slurm", "cores": 4, "memory": "8GB", "gpus": 2}, "0 or 1 GPU per job"),
                           ({"cluster": "slurm", "cores": 4, "memory": "8GB", "jobs": 2, "maximum_jobs": 4}, "not both"),
                           ({"cluster": "slurm", "cores": "four"}, "expected an integer"),
                           ({"scheduler": "x", "cluster": "local"}, "not both"),
                           ({"queue": "gpu"}, "need cluster"),
                           ({"nodes": 3}, "unknown key nodes"),
                           ({"cluster": "slurm", "cores": 4, "memory": "8GB", "minimum_jobs": 0}, "must be >= 1"),
                           ({"cluster": "local", "allowed_failures": -1}, "must be >= 0")]:
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_config(table, 1)


def test_gpu_resource_is_asked_for_network_tasks_on_cuda_only():
    cuda, cpu = RunContext(device="cuda"), RunContext(device="cpu")
    learned = create_codec("compressai-bmshj2018-factorized").resolve_setting({"quality": 1})
    assert needs_gpu(cuda, "compressai-bmshj2018-factorized", learned, ["psnr"], False)
    assert needs_gpu(cuda, "jpeg", {"quality": 50}, ["psnr", "lpips"], False)
    assert needs_gpu(cuda, "jpeg", {"quality": 50}, ["psnr"], True)  # patch features for FID
    assert not needs_gpu(cuda, "jpeg", {"quality": 50}, ["psnr", "ms_ssim"], False)
    assert not needs_gpu(cpu, "compressai-bmshj2018-factorized", learned, ["lpips"], True)


def test_slurm_job_script_asks_for_the_configured_resources():
    import dask
    import dask_jobqueue  # noqa: F401  (loads the jobqueue config section)

    table = {"cluster": "slurm", "queue": "gpu", "account": "vision-lab", "cores": 8, "memory": "32GB", "gpus": 1,
             "walltime": "02:30:00", "job_script_prologue": ["source /opt/venvs/rdpbench/bin/activate"],
             "job_extra_directives": ["--constraint=a100"]}
    with dask.config.set({"jobqueue.slurm.scheduler-options": {"host": "127.0.0.1", "dashboard_address": None}}):
        cluster = job_queue_cluster(parse_config(table, 1))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    for expected in ("#SBATCH -p gpu", "#SBATCH -A vision-lab", "#SBATCH -n 1", "#SBATCH --cpus-per-task=8",
                     "#SBATCH --mem=30G", "#SBATCH -t 02:30:00", "#SBATCH --gres=gpu:1", "#SBATCH --constraint=a100"):
        assert expected in directives
    assert "source /opt/venvs/rdpbench/bin/activate" in script
    command = script.splitlines()[-1].split()
    assert command[command.index("distributed.cli.dask_worker") + 1].startswith("tcp://127.0.0.1:")
    assert _last_value(command, "--nthreads") == "1" and "--nworkers" not in command  # one worker, one thread
    assert _last_value(command, "--resources") == "GPU=1" and _last_value(command, "--memory-limit") == "29.80GiB"


def _last_value(argv: list[str], option: str) -> str:
    """The value the worker's command line gives ``option`` (click: the last occurrence wins)."""
    return argv[len(argv) - 1 - argv[::-1].index(option) + 1]


def test_cpu_job_runs_one_single_threaded_worker_per_core():
    import dask
    import dask_jobqueue  # noqa: F401

    with dask.config.set({"jobqueue.slurm.scheduler-options": {"host": "127.0.0.1", "dashboard_address": None}}):
        cluster = job_queue_cluster(parse_config({"cluster": "slurm", "cores": 4, "memory": "16GB"}, 1))
    try:
        command = cluster.job_script().splitlines()[-1].split()
    finally:
        cluster.close()
    assert _last_value(command, "--nworkers") == "4" and _last_value(command, "--nthreads") == "1"
    assert "--resources" not in command and _last_value(command, "--memory-limit") == "3.73GiB"


@pytest.fixture(scope="module")
def slurm():
    """A single-node Slurm on this machine (tests/slurm_node.py: started here as root, or found running)."""
    import slurm_node

    reason = slurm_node.start()
    if reason is not None:
        pytest.skip(reason)
    yield
    slurm_node.stop()


def _slurm_config(folder: Path, jobs: int) -> Path:
    config = folder / "slurm.toml"
    config.write_text(textwrap.dedent(f'''
        [executor]
        cores = 1
        memory = "2GB"
        walltime = "00:10:00"
        jobs = {jobs}
        worker_wait_s = 300
        local_directory = "{folder}"
        job_extra_directives = ["--output={folder}/slurm-%j.out"]
        job_script_prologue = ["export PYTHONPATH={CODE}"]
    '''))
    return config


def test_a_real_slurm_sweep_gives_the_rows_of_jobs_1(slurm, use_env, photo_dir, tmp_path, run_cli):
    common = ("--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=30,70", "--metrics", "psnr,ms_ssim")
    assert run_cli("run", *common, "--out", tmp_path / "jobs1", "--jobs", "1") == 0
    assert run_cli("run", _slurm_config(tmp_path, 1), *common, "--out", tmp_path / "slurm", "--cluster", "slurm") == 0
    expected, got = _rows(tmp_path / "jobs1"), _rows(tmp_path / "slurm")
    assert len(got) == 4 and all(w and w.startswith("tcp://") for w in _workers_of_rows(tmp_path / "slurm"))
    exact = ["codec", "setting", "image", "width", "height", "bytes", "bpp", "psnr", "ms_ssim", "error"]
    pd.testing.assert_frame_equal(got[exact], expected[exact])


def test_a_slurm_worker_job_cancelled_mid_run_leaves_every_row_exactly_once(slurm, use_env, photo_dir, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(_cli(_slurm_config(tmp_path, 2), "--images", photo_dir, "--codec", "slow", "--sweep",
                                    "bits=1:8:1", "--option", "pause=0.4", "--metrics", "psnr", "--out", out,
                                    "--cluster", "slurm"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        before = _wait_for_rows(out, 2, process, timeout=300)
        jobs = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True).stdout.split()
        assert len(jobs) == 2, jobs
        subprocess.run(["scancel", jobs[0]], check=True)
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert before < 16, "the cancel should land in the middle of the run"
    assert process.returncode == 0, stderr.decode()[-2000:]
    rows = _rows(out)
    assert len(rows) == 16 and not rows.duplicated(["codec", "setting", "image"]).any()
    assert (rows["error"].isna() | (rows["error"] == "")).all()
    np.testing.assert_array_equal(rows["bpp"], 8 * (12 + 3 * rows["width"] * rows["height"]) / (rows["width"] * rows["height"]))