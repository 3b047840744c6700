"""Run by tests/test_distributed.py under torchrun: 2 CPU processes (gloo) train together."""

import json
import sys

import torch
import torch.distributed as dist

from cinlab.train import TrainConfig, Trainer, shutdown_distributed

out_dir = sys.argv[1]
config = TrainConfig.preset(
    "fast",
    styles=["ihc", "brick"],
    crop_size=32,
    batch_size=4,
    style_size=40,
    width=0.25,
    steps=3,
    log_every=1,
    eval_batches=1,
    eval_batch_size=2,
    checkpoint_every=0,
    content=["astronaut", "coffee", "rocket"],
)
torch.manual_seed(1234 + int(__import__("os").environ["RANK"]))  # different local RNG: DDP must still sync
trainer = Trainer(config, out_dir=out_dir, device="cpu")
first_batch_losses = trainer.train_step()["total"].tolist()
trainer.fit(progress=False)
flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(trainer.world)]
dist.all_gather(gathered, flat)
losses = [None] * trainer.world
dist.all_gather_object(losses, first_batch_losses)
if trainer.rank == 0:
    result = {
        "world": trainer.world,
        "max_param_difference": max((g - gathered[0]).abs().max().item() for g in gathered),
        "first_batch_losses": losses,
        "per_rank_batch": trainer.per_rank_batch,
        "step": trainer.step,
    }
    with open(f"{out_dir}/result.json", "w") as f:
        json.dump(result, f)
del trainer  # before the process group, so no gloo work outlives it
shutdown_distributed()
