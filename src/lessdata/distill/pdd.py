"""PDD: progressive dataset distillation (Chen et al., ICLR 2024, "Data Distillation Can Be Like Vodka:
Distilling More Times For Better Quality"), with MTT as the base distiller; checked against
``VITA-Group/ProgressiveDD`` (``distill_mtt.py``, ``evaluate_mtt.py``).

``stages`` = P stages. Stage ``k`` distils ``ipc / P`` new images per class; the images of stages ``< k`` stay
frozen but take part in every unrolled student step (the reference concatenates them in front of the new
images and masks their update), so each stage's learned step size is the one for the cumulative union. Between
stages, new expert trajectories are trained: each expert network is first trained on the union so far, stage by
stage at each stage's learned step size (the evaluation protocol), then on the real data with plain SGD, its
parameters recorded every epoch. The result is one :class:`DistilledSet` with ``stages`` ids and one learned
step size per stage; :func:`lessdata.distill.evaluate_distilled` trains a network stage by stage on the
cumulative unions.

Deliberate departures: the stage-``k`` experts come from fresh seeds (the reference restarts the previous
buffer's initial weights); each stage is a separate buffer folder and checkpoint, so a rerun with ``resume``
continues at the stage and iteration where it stopped; no best-of-evaluations image selection inside stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from ..errors import LessdataError
from ._core import ZCA, check_class_labels, check_images, digest, positive_int
from .buffer import train_experts
from .distilled import DistilledSet
from .evaluate import train_network
from .mtt import MTTConfig, initial_images, match_trajectories


def distill_pdd(images, labels, model_factory: Callable[[], nn.Module], workdir, config: MTTConfig | None = None, *,
                stages: int = 5, num_experts: int = 20, expert_epochs_trained: int | None = None,
                expert_lr: float = 0.01, expert_batch_size: int = 256, start_epochs: int = 300, seed: int = 0,
                device=None, progress=None, checkpoint_every: int = 100, resume: bool = False,
                zca: ZCA | None = None, first_buffer=None) -> DistilledSet:
    """Distil (``images``, ``labels``) into ``config.ipc`` images per class in total, over ``stages`` stages.

    Args:
        config: the per-stage MTT settings; ``config.ipc`` is the **total** images per class and must be a
            multiple of ``stages``.
        workdir: folder for the per-stage buffers (``buffer_stage_k``) and checkpoints (``stage_k.pt``).
        num_experts, expert_epochs_trained, expert_lr, expert_batch_size: the experts of each stage (epochs
            default to ``max_start_epoch + expert_epochs``, the shortest usable buffer).
        start_epochs: epochs per earlier stage when pre-training an expert network on the union so far.
        first_buffer: an existing :class:`ExpertBuffer` for stage 0 (plain MTT experts), else one is trained.
        resume: continue from the checkpoints in ``workdir``.
    """
    config = (config or MTTConfig.for_ipc(10)).validate()
    stages = positive_int(stages, "stages")
    if config.ipc % stages:
        raise LessdataError(f"ipc {config.ipc} must be a multiple of stages {stages} (each stage adds ipc/stages)")
    images = check_images(images)
    labels = check_class_labels(labels, len(images))
    per_stage = config.ipc // stages
    stage_config = replace(config, ipc=per_stage)
    trained = expert_epochs_trained or config.max_start_epoch + config.expert_epochs
    workdir = Path(workdir)
    generator = torch.Generator().manual_seed(seed)
    picks = initial_images(labels, config.ipc, generator)  # reserve distinct real images for every stage
    num_classes = int(labels.max()) + 1
    picks = picks.view(num_classes, config.ipc)
    syn_images, syn_labels, lrs, stage_ids, seconds, peak = [], [], [], [], 0.0, (0, "")
    for k in range(stages):
        frozen = (torch.cat(syn_images), torch.cat(syn_labels)) if k else None
        frozen_stages = torch.cat(stage_ids) if k else None
        tag = f"pdd stage {k}/{stages} after {digest(*frozen) if frozen else 'nothing'}"

        def start(model: nn.Module, i: int, frozen=frozen, frozen_stages=frozen_stages, lrs=tuple(lrs), k=k) -> None:
            if frozen is not None:
                train_network(frozen[0], frozen[1], model_factory, lr=list(lrs), stages=frozen_stages,
                              epochs=start_epochs, seed=seed + 1000 * k + i, device=device, model=model)

        if k == 0 and first_buffer is not None:
            buffer = first_buffer
        else:
            buffer = train_experts(images, labels, model_factory, workdir / f"buffer_stage_{k}",
                                   num_experts=num_experts, epochs=trained, lr=expert_lr,
                                   batch_size=expert_batch_size, seed=seed + 1000 * k, start=start, start_tag=tag,
                                   device=device)
        idx = picks[:, k * per_stage:(k + 1) * per_stage].reshape(-1)
        new_labels = torch.arange(num_classes).repeat_interleave(per_stage)
        result = match_trajectories(images[idx], new_labels, buffer, model_factory, stage_config, seed=seed + k,
                                    device=device, progress=progress, checkpoint=workdir / f"stage_{k}.pt",
                                    checkpoint_every=checkpoint_every, resume=resume, frozen=frozen,
                                    fingerprint={"method": "pdd", "stage": k, "stages": stages, "after": tag})
        syn_images.append(result["images"])
        syn_labels.append(new_labels)
        stage_ids.append(torch.full((len(idx),), k, dtype=torch.long))
        lrs.append(result["lr"])
        seconds += result["seconds"]
        peak = max(peak, (result["peak_memory_bytes"], result["peak_memory_kind"]))
    provenance = {"method": "pdd", "stages": stages, "settings": asdict(config), "seed": seed,
                  "source_shape": list(images.shape), "experts_per_stage": num_experts, "expert_epochs": trained,
                  "start_epochs": start_epochs, "seconds": seconds, "peak_memory_bytes": peak[0],
                  "peak_memory_kind": peak[1], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return DistilledSet(torch.cat(syn_images), labels=torch.cat(syn_labels), learning_rates=torch.tensor(lrs),
                        stages=torch.cat(stage_ids), provenance=provenance, zca=zca)
