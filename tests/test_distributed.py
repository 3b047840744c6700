"""DistributedDataParallel: two CPU processes under torchrun stay in sync."""

import json
import os
import subprocess
import sys
from pathlib import Path


def test_two_gloo_processes_stay_in_sync(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(worker),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["world"] == 2 and result["per_rank_batch"] == 2 and result["step"] == 3
    assert result["max_param_difference"] == 0.0, "the ranks' weights diverged"
    a, b = result["first_batch_losses"]
    assert a != b, "both ranks trained on the same examples"
    assert {p.name for p in tmp_path.iterdir()} >= {"checkpoint.pt", "model.pt", "train_log.csv"}


def test_cinlab_train_under_torchrun_exits_cleanly(tmp_path):
    """The command line ends a torchrun job with a barrier and destroy_process_group (no SIGABRT at exit)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "cinlab",
            "train",
            "--preset",
            "fast",
            "--styles",
            "ihc",
            "--content",
            "astronaut",
            "coffee",
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "2",
            "--batch",
            "4",
            "--eval-batches",
            "1",
            "--quiet",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "terminate called" not in done.stderr
    assert done.stdout.count("trained 1 style(s) for 2 steps") == 1  # rank 0 reports, once
