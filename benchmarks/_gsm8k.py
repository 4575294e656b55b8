"""What the GSM8K benchmarks (s2l_gsm8k.py, colm_gsm8k.py) share: data folder, prompt template, test loss,
command-line settings, seed processes and atomic writes."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "Question: {prompt}\nAnswer: "


def default_data_dir() -> Path:
    """``$LESSDATA_DATA/gsm8k`` when it holds the data, else ``../shared/data/gsm8k`` beside the checkout."""
    env = os.environ.get("LESSDATA_DATA")
    if env and (Path(env) / "gsm8k" / "train.jsonl").exists():
        return Path(env) / "gsm8k"
    return ROOT.parent / "shared" / "data" / "gsm8k"


def test_loss(model, examples, collator, batch_size: int) -> tuple[float, float]:
    """(token-weighted, example-mean) response-token loss over ``examples``, in eval mode (mode restored)."""
    import torch

    from lessdata.llm import per_example_loss

    order = np.argsort([len(ex["input_ids"]) for ex in examples], kind="stable")
    losses, counts = np.empty(len(examples)), np.empty(len(examples))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = collator([examples[i] for i in rows])
            losses[rows] = per_example_loss(model, batch).float().cpu().numpy()
            counts[rows] = (batch["labels"][:, 1:] != -100).sum(dim=1).numpy()
    model.train(was_training)
    return float((losses * counts).sum() / counts.sum()), float(losses.mean())


def device_description(device: str) -> str:
    import torch

    parts = [f"torch {torch.__version__}"]
    try:
        import transformers

        parts.append(f"transformers {transformers.__version__}")
    except ImportError:
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        parts.insert(0, f"GPU {torch.cuda.get_device_name(0)}")
    else:
        parts.insert(0, "CPU only")
    return ", ".join(parts)


def add_common_arguments(parser: argparse.ArgumentParser, full: dict, quick: dict, quick_help: str) -> None:
    """--data/--device/--out/--quick/--seeds/--parallel/--threads, and one option per setting in ``full``."""
    parser.add_argument("--data", type=Path, default=None, help="folder with GSM8K train.jsonl and test.jsonl")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3, quick 1)")
    parser.add_argument("--parallel", type=int, default=None,
                        help="seed processes at once (default: all seeds on cuda, 1 on cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per seed process")
    for key, value in full.items():
        kind = float if isinstance(value, float) else int
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, default=None,
                            help=f"default {value} ({quick[key]} with --quick)")


def resolve_common(parser: argparse.ArgumentParser, args, full: dict, quick: dict) -> dict:
    """The settings of a run: the preset (full or quick) with the options given, the data folder checked."""
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = dict(quick if args.quick else full)
    for key in full:
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    seeds = args.seeds or (1 if args.quick else 3)
    cuda = args.device.startswith("cuda")
    parallel = args.parallel or (seeds if cuda else 1)
    data = args.data or default_data_dir()
    if not (data / "train.jsonl").exists() or not (data / "test.jsonl").exists():
        parser.error(f"no GSM8K train.jsonl / test.jsonl in {data} (give --data)")
    cores = os.cpu_count() or 1
    cfg.update({"data": str(data), "device": args.device, "quick": args.quick, "seeds": seeds, "parallel": parallel,
                # on a CPU, one thread per process: tiny models on shared cores only contend with more
                "threads": args.threads or (max(1, cores // parallel) if cuda else 1)})
    return cfg


def run_seeds(run_seed, cfg: dict) -> tuple[list, float]:
    """``run_seed(seed, cfg)`` for every seed, ``cfg["parallel"]`` spawned processes at once; (results, seconds)."""
    started = time.perf_counter()
    seeds = range(cfg["seeds"])
    if cfg["parallel"] > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=cfg["parallel"], mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(run_seed, seeds, [cfg] * len(seeds)))
    else:
        results = [run_seed(seed, cfg) for seed in seeds]
    return results, time.perf_counter() - started


def write_text_atomic(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
