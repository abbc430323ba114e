"""The HiFill gradient-penalty DDP check's pieces, in a module imported by its plain name (this folder is put on
``sys.path``): ``mp.spawn`` children unpickle the worker by module name, and ``tests.<...>`` can resolve to another
distribution's top-level ``tests`` package (torch-fidelity installs one) instead of this repository's."""

from __future__ import annotations

import datetime

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from lightning_modules.hifill import critic_loss
from networks.hifill import HiFillCritic

SIZE = 64


class CriticObjective(torch.nn.Module):
    """One DDP forward = the whole critic loss, as under Lightning (the LightningModule is the DDP module)."""

    def __init__(self, critic):
        super().__init__()
        self.critic = critic

    def forward(self, real, fake, seed: int):
        return critic_loss(self.critic, real, fake, 10.0, generator=torch.Generator().manual_seed(seed))


def data():
    g = torch.Generator().manual_seed(123)
    return torch.rand(4, 3, SIZE, SIZE, generator=g) * 2 - 1, torch.rand(4, 3, SIZE, SIZE, generator=g) * 2 - 1


def critic():
    torch.manual_seed(7)
    return HiFillCritic(kernel_size=3, image_size=SIZE)


def ddp_worker(rank: int, world: int, store_file: str, out_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    try:
        model = DistributedDataParallel(CriticObjective(critic()))
        real, fake = data()
        half = slice(2 * rank, 2 * rank + 2)
        model(real[half], fake[half], seed=rank).backward()
        if rank == 0:
            torch.save([p.grad for p in model.module.parameters()], out_file)
    finally:
        dist.destroy_process_group()
