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
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker), str(tmp_path)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["world"] == 2 and result["per_rank_batch"] == 2 and result["step"] == 3
    assert result["max_param_difference"] == 0.0, "the ranks' weights diverged"
    a, b = result["first_batch_losses"]
    assert a != b, "both ranks trained on the same examples"
    assert {p.name for p in tmp_path.iterdir()} >= {"checkpoint.pt", "model.pt", "train_log.csv"}
