"""Experiment: CoLM mini-batch coresets vs plain training with batch b and with batch B, on GSM8K.

Nguyen et al. (ICLR 2025), "Mini-batch Coresets for Memory-efficient Language Model Training on Data
Mixtures" (CoLM), train on ``b`` examples per step chosen from a random batch of ``B = 2b`` so that their
weighted gradient matches the big batch's, and report about 2x less memory than training with batch ``B`` at
similar quality. Here, per seed, the same target model (GPT-2 style, 4 layers, width 256, from
``lessdata.llm.tiny_causal_lm``, byte-level BPE from ``lessdata.llm.get_tokenizer``) is trained from the same
seeded initialisation, through the Hugging Face ``Trainer``, for the same number of steps in three arms:

- ``batch b``: plain training, batch ``b``;
- ``batch B``: plain training, batch ``B = 2b``;
- ``CoLM B -> b``: ``lessdata.training.transformers.ColmTrainer`` draws ``B``, trains on ``b`` (zeroth-order
  estimates on the last block's V projection, Adam-normalised, top-2560 coordinates, facility location).

All arms minimise the same loss (per-example mean response-token cross-entropy, averaged over the batch;
CoLM's weighted). Reported: GSM8K test loss of the reference answers (response tokens), peak memory during
training (``torch.cuda.max_memory_allocated``; on CPU the peak resident set size above the level at the start
of training), training wall-clock and CoLM's selection time, all in the same run.

    PYTHONPATH=src python3 benchmarks/colm_gsm8k.py --device cuda --out $OUT     # 3 seeds as parallel processes
    python benchmarks/colm_gsm8k.py --quick                                       # CPU, small slice, 1 seed

Writes ``colm_gsm8k.{md,png,json}`` (``colm_gsm8k_quick.*`` with ``--quick``) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gsm8k import (  # noqa: E402
    TEMPLATE,
    add_common_arguments,
    device_description,
    resolve_common,
    run_seeds,
    test_loss,
    write_text_atomic,
)

ARMS = ("batch_b", "batch_B", "colm")
LABELS = {"batch_b": "batch b", "batch_B": "batch B", "colm": "CoLM B -> b"}
COLORS = {"batch_b": "tab:blue", "batch_B": "black", "colm": "tab:red"}

FULL = {"train_limit": None, "test_limit": None, "max_length": 320, "vocab_size": 4096, "b": 32, "steps": 500,
        "lr": 1e-3, "eval_every": 100, "curve_examples": 256, "eval_batch_size": 64}
QUICK = {"train_limit": 400, "test_limit": 64, "max_length": 96, "vocab_size": 1024, "b": 4, "steps": 20,
         "lr": 1e-3, "eval_every": 10, "curve_examples": 32, "eval_batch_size": 32}


# ------------------------------------------------------------------------------------------------ measuring
class PeakMemory:
    """Peak memory of a stretch of training: the CUDA allocator's peak, or on CPU the resident set's high-water
    mark (``VmHWM``, reset through ``/proc/self/clear_refs`` after ``malloc_trim``) minus the resident set at the
    start."""

    def __init__(self, device):
        import torch

        self.torch, self.cuda = torch, device.type == "cuda"
        self.base = 0
        self.peak = 0

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        return 0

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            return
        try:  # hand freed heap memory back first, so that the resident set is what is live
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:  # no reset: the high-water mark then covers the whole process
            pass

    def start(self) -> None:
        self.reset()
        self.peak = 0
        self.base = 0 if self.cuda else self._status("VmRSS")

    def read(self) -> None:
        """Fold the peak since the last reset into ``peak``."""
        if self.cuda:
            self.torch.cuda.synchronize()
            now = self.torch.cuda.max_memory_allocated()
        else:
            now = self._status("VmHWM") - self.base
        self.peak = max(self.peak, now)


def make_probe(device, every: int, evaluate):
    """A TrainerCallback: test-loss curve every ``every`` steps, peak memory outside those evaluations (their
    time is not counted as training time)."""
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        def __init__(self):
            self.memory = PeakMemory(device)
            self.curve, self.eval_seconds = [], 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.memory.start()

        def on_step_end(self, args, state, control, model=None, **kwargs):
            evaluating = state.global_step % every == 0 or state.global_step == state.max_steps
            if evaluating or not self.memory.cuda:  # CPU: trim the heap after every step (see PeakMemory)
                start = time.perf_counter()
                self.memory.read()
                if evaluating:
                    self.curve.append((state.global_step, evaluate(model)))
                self.memory.reset()
                self.eval_seconds += time.perf_counter() - start

        def on_train_end(self, args, state, control, **kwargs):
            self.memory.read()

    return Probe()


# ------------------------------------------------------------------------------------------- one run
def prepare(cfg: dict) -> dict:
    """Tokenizer (BPE trained on the training text) and tokenized train / test examples."""
    from lessdata.llm import InstructionCollator, get_tokenizer, load_instructions, tokenize_instructions

    data_dir = Path(cfg["data"])
    train = load_instructions(data_dir / "train.jsonl", limit=cfg["train_limit"])
    test = load_instructions(data_dir / "test.jsonl", limit=cfg["test_limit"])
    tok = get_tokenizer(texts=train.texts(TEMPLATE), vocab_size=cfg["vocab_size"])
    return {"tok": tok, "collator": InstructionCollator(tok),
            "train": tokenize_instructions(train, tok, max_length=cfg["max_length"], template=TEMPLATE),
            "test": tokenize_instructions(test, tok, max_length=cfg["max_length"], template=TEMPLATE)}


def train_arm(seed: int, arm: str, cfg: dict, data: dict) -> dict:
    """Train one arm from the seed's initialisation; test loss, peak memory and timings."""
    import torch
    import transformers

    from lessdata.llm import tiny_causal_lm
    from lessdata.training.transformers import ColmSelector, ColmTrainer, response_losses

    class PlainTrainer(transformers.Trainer):
        """The baselines: the same loss as ColmTrainer (mean over examples of their response-token mean)."""

        loss_is_scaled_for_ga = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {k: v for k, v in inputs.items() if k not in ("index", "source")}
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = response_losses(outputs.logits, labels).mean()
            return (loss, outputs) if return_outputs else loss

    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    tok, collator = data["tok"], data["collator"]
    curve_ex = data["test"][:cfg["curve_examples"]]
    # load the selection engine's compiled code in every arm before measuring (on CPU it is resident memory)
    import lessdata

    lessdata.select(np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32), budget=4, method="colm")
    b, big = cfg["b"], 2 * cfg["b"]
    model = tiny_causal_lm("target", vocab_size=len(tok), max_length=cfg["max_length"], seed=seed,
                           pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id).to(device)
    probe = make_probe(device, cfg["eval_every"], lambda m: test_loss(m, curve_ex, collator, cfg["eval_batch_size"])[0])
    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(
            out, per_device_train_batch_size=b if arm == "batch_b" else big, max_steps=cfg["steps"],
            learning_rate=cfg["lr"], lr_scheduler_type="cosine", warmup_steps=max(1, cfg["steps"] // 20),
            weight_decay=0.0, max_grad_norm=1.0, logging_steps=max(1, cfg["steps"] // 10), report_to=[],
            save_strategy="no", disable_tqdm=True, seed=seed, data_seed=seed, dataloader_drop_last=True,
            use_cpu=device.type == "cpu")
        common = {"model": model, "args": args, "train_dataset": data["train"], "data_collator": collator,
                  "callbacks": [probe]}
        if arm == "colm":
            trainer = ColmTrainer(**common, colm=ColmSelector(b=b, seed=seed))
        else:
            trainer = PlainTrainer(**common)
        trainer.remove_callback(transformers.PrinterCallback)  # no per-log dict on stdout
        start = time.perf_counter()
        stats = trainer.train()
        wall = time.perf_counter() - start
    token_loss, example_loss = test_loss(model, data["test"], collator, cfg["eval_batch_size"])
    selection = float(sum(r["seconds"] for r in getattr(trainer, "colm_history", [])))
    run = {"seed": seed, "arm": arm, "drawn": b if arm == "batch_b" else big, "trained": big if arm == "batch_B" else b,
           "steps": cfg["steps"], "train_loss": float(stats.training_loss), "test_loss": token_loss,
           "test_loss_per_example": example_loss, "peak_memory_bytes": int(probe.memory.peak),
           "train_seconds": wall - probe.eval_seconds, "selection_seconds": selection, "curve": probe.curve,
           "parameters": int(sum(p.numel() for p in model.parameters())), "n_train": len(data["train"]),
           "n_test": len(data["test"]), "vocab": len(tok)}
    print(f"[seed {seed}] {LABELS[arm]:>12}: test loss {token_loss:.4f}, peak memory "
          f"{run['peak_memory_bytes'] / 2**20:.0f} MiB, train {run['train_seconds']:.1f} s "
          f"(selection {selection:.1f} s)", flush=True)
    return run


def run_arm_alone(seed: int, arm: str, cfg: dict) -> dict:
    """One arm in a fresh process (CPU: the resident-set peak then belongs to this arm alone)."""
    return train_arm(seed, arm, cfg, prepare(cfg))


def run_seed(seed: int, cfg: dict) -> dict:
    """The three arms for one seed, one after the other."""
    if cfg["isolate_arms"]:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        runs = []
        for arm in ARMS:
            with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
                runs.append(pool.submit(run_arm_alone, seed, arm, cfg).result())
    else:
        data = prepare(cfg)
        runs = []
        for arm in ARMS:
            runs.append(train_arm(seed, arm, cfg, data))
            if cfg["device"].startswith("cuda"):
                import torch

                torch.cuda.empty_cache()
    first = runs[0]
    return {"seed": seed, "n_train": first["n_train"], "n_test": first["n_test"], "vocab": first["vocab"],
            "runs": runs}


# ------------------------------------------------------------------------------------------------ report
def summarize(seed_results: list[dict]) -> dict:
    runs = [r for s in seed_results for r in s["runs"]]
    rows = {}
    for arm in ARMS:
        group = [r for r in runs if r["arm"] == arm]
        loss = np.array([g["test_loss"] for g in group])
        rows[arm] = {"arm": arm, "seeds": len(group), "drawn": group[0]["drawn"], "trained": group[0]["trained"],
                     "test_loss_mean": float(loss.mean()), "test_loss_std": float(loss.std()),
                     "train_loss_mean": float(np.mean([g["train_loss"] for g in group])),
                     "peak_memory_mib_mean": float(np.mean([g["peak_memory_bytes"] for g in group]) / 2**20),
                     "train_seconds_mean": float(np.mean([g["train_seconds"] for g in group])),
                     "selection_seconds_mean": float(np.mean([g["selection_seconds"] for g in group]))}
    colm, small, big = rows["colm"], rows["batch_b"], rows["batch_B"]
    ratio = big["peak_memory_mib_mean"] / max(colm["peak_memory_mib_mean"], 1e-9)
    gap = colm["test_loss_mean"] / big["test_loss_mean"] - 1
    checks = [
        {"check": "CoLM needs about 2x less peak memory than batch B (paper)", "met": bool(ratio >= 1.6),
         "detail": f"{colm['peak_memory_mib_mean']:.0f} vs {big['peak_memory_mib_mean']:.0f} MiB ({ratio:.2f}x less)"},
        {"check": "CoLM test loss within 2% of batch B", "met": bool(gap <= 0.02),
         "detail": f"{colm['test_loss_mean']:.4f} vs {big['test_loss_mean']:.4f} ({gap:+.1%})"},
        {"check": "CoLM test loss below batch b", "met": bool(colm["test_loss_mean"] < small["test_loss_mean"]),
         "detail": f"{colm['test_loss_mean']:.4f} vs {small['test_loss_mean']:.4f}"},
    ]
    return {"rows": [rows[a] for a in ARMS], "checks": checks}


def write_plot(seed_results: list[dict], summary: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    runs = [r for s in seed_results for r in s["runs"]]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for arm in ARMS:
        curves = [np.array(r["curve"]) for r in runs if r["arm"] == arm]
        steps = curves[0][:, 0]
        values = np.stack([c[:, 1] for c in curves])
        ax.plot(steps, values.mean(0), marker="o", color=COLORS[arm], label=LABELS[arm])
        ax.fill_between(steps, values.min(0), values.max(0), color=COLORS[arm], alpha=0.15)
    ax.set_xlabel("training step")
    ax.set_ylabel("GSM8K test answer loss (nats / token)")
    ax.set_title("test loss at equal steps (mean, min-max over seeds)")
    ax.legend(fontsize=8)
    rows = summary["rows"]
    names = [LABELS[r["arm"]] for r in rows]
    mem = [r["peak_memory_mib_mean"] for r in rows]
    bars = bx.bar(names, mem, color=[COLORS[r["arm"]] for r in rows], alpha=0.8)
    for bar, r in zip(bars, rows):
        bx.annotate(f"{r['train_seconds_mean']:.0f} s", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    bx.set_ylabel("peak memory during training (MiB)")
    bx.set_title("peak memory (labels: training wall-clock)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def write_markdown(result: dict, path: Path, plot_ok: bool) -> None:
    from _common import header

    cfg, summary = result["settings"], result["summary"]
    s0 = result["seed_results"][0]
    cuda = cfg["device"].startswith("cuda")
    memory_kind = "torch.cuda.max_memory_allocated" if cuda else "peak RSS above the start of training"
    title = "CoLM mini-batch coresets on GSM8K" + (" (quick)" if cfg["quick"] else "")
    params = s0["runs"][0]["parameters"]
    lines = [header(title).rstrip(), f"- Device: {result['device']}",
             f"- Wall-clock of the whole benchmark: {result['wall_seconds']:.0f} s "
             f"({cfg['parallel']} seed process(es) in parallel)", ""]
    lines += [
        f"GSM8K: {s0['n_train']} train / {s0['n_test']} test examples; prompt `{TEMPLATE!r}` + question, response = "
        f"answer + end-of-sequence, loss on response tokens only; byte-level BPE ({s0['vocab']} tokens), max length "
        f"{cfg['max_length']}. Target model: GPT-2 style, 4 layers, width 256 ({params / 1e6:.1f} M parameters), "
        f"trained from the same seeded initialisation in every arm with the Hugging Face Trainer: AdamW lr "
        f"{cfg['lr']:g}, 5% warm-up, cosine decay, **{cfg['steps']} steps in every arm**, b = {cfg['b']}, "
        f"B = {2 * cfg['b']}, fp32. Seeds: {cfg['seeds']}.",
        "CoLM: `ColmTrainer` with `ColmSelector(b)`: per step, two-sided SPSA estimates (one Rademacher z, "
        "eps = 1e-3) of every drawn example's gradient on the last block's V projection (256 x 256), reusing the "
        "forward up to the last block; Adam-normalised with running moments; top 2560 coordinates; facility "
        "location (max d - d), weights = cluster sizes rescaled to mean 1. GSM8K has one source, so the "
        "small-source rule never applies here.",
        "",
        "## Results (mean ± std over seeds)",
        "",
        f"| arm | drawn / trained per step | test loss | final train loss | peak memory (MiB, {memory_kind}) | "
        "training wall-clock (s) | of which selection (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(f"| {LABELS[r['arm']]} | {r['drawn']} / {r['trained']} | {r['test_loss_mean']:.4f} ± "
                     f"{r['test_loss_std']:.4f} | {r['train_loss_mean']:.4f} | {r['peak_memory_mib_mean']:.0f} | "
                     f"{r['train_seconds_mean']:.1f} | {r['selection_seconds_mean']:.1f} |")
    lines += ["", "Test loss: token-weighted response loss of the reference answers over the whole test split "
              f"({s0['n_test']} questions). Wall-clock excludes the periodic test-loss evaluations of the curve; "
              "with parallel seed processes it includes their contention for the device.", "", "## Checks", ""]
    for c in summary["checks"]:
        lines.append(f"- {c['check']}: **{'met' if c['met'] else 'not met'}** ({c['detail']})")
    static = params * 16 / 2**20
    rows = {r["arm"]: r for r in summary["rows"]}
    lines += ["", "## Reading the memory numbers", "",
              f"Parameters, gradients and AdamW's two moments take about {static:.0f} MiB here (16 bytes per fp32 "
              "parameter); the rest of the peak is activation memory, which grows with the number of examples "
              f"that are backpropagated (the logits alone are batch x length x {s0['vocab']} floats, kept for the "
              "backward pass together with their gradient). CoLM's extra work per step is a forward pass of B "
              "without gradients (activations freed block by block), two re-runs of the last block, and logits at "
              "response tokens in chunks; none of it is kept for a backward pass. The paper's 2x is for LLMs "
              "fine-tuned with LoRA, where the fixed part (frozen weights) is large but activations dominate at "
              "its batch sizes; a model this small is in the same activation-dominated regime.", ""]
    if cuda:
        above = {arm: rows[arm]["peak_memory_mib_mean"] - static for arm in ARMS}
        lines += [f"Above the fixed part: batch b {above['batch_b']:.0f} MiB, batch B {above['batch_B']:.0f} MiB, "
                  f"CoLM {above['colm']:.0f} MiB (CoLM / batch B = {above['colm'] / max(above['batch_B'], 1e-9):.2f}, "
                  f"CoLM / batch b = {above['colm'] / max(above['batch_b'], 1e-9):.2f}).", ""]
    else:
        lines += ["On CPU the peak resident set size is a coarse measure (heap caching, the Python heap, freed "
                  "memory kept by the allocator; the heap is trimmed after every step to limit that); the GPU "
                  "run's allocator statistics are the numbers to read.", ""]
    if plot_ok:
        lines += [f"![test loss and memory]({path.with_suffix('.png').name})", ""]
    lines += [f"Raw results: `{path.with_suffix('.json').name}`.", ""]
    write_text_atomic("\n".join(lines), path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, FULL, QUICK, "small slice of GSM8K, 1 seed (CPU, ~1-2 minutes)")
    args = parser.parse_args(argv)
    cfg = resolve_common(parser, args, FULL, QUICK)
    if cfg["b"] < 1 or cfg["steps"] < 1:
        parser.error("--b and --steps must be positive")
    cfg["isolate_arms"] = not args.device.startswith("cuda")
    seed_results, wall = run_seeds(run_seed, cfg)
    summary = summarize(seed_results)
    from lessdata.bench.tta import machine_info

    result = {"settings": cfg, "device": device_description(args.device), "machine": machine_info(cfg["threads"]),
              "command": " ".join(["python", "benchmarks/colm_gsm8k.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "wall_seconds": wall, "summary": summary, "seed_results": seed_results}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "colm_gsm8k" + ("_quick" if args.quick else "")
    json_path = args.out / f"{stem}.json"
    write_text_atomic(json.dumps(result, indent=1, default=float) + "\n", json_path)
    plot_ok = write_plot(seed_results, summary, args.out / f"{stem}.png")
    write_markdown(result, args.out / f"{stem}.md", plot_ok)
    for r in summary["rows"]:
        print(f"{LABELS[r['arm']]:>12}: test loss {r['test_loss_mean']:.4f} ± {r['test_loss_std']:.4f}, "
              f"peak {r['peak_memory_mib_mean']:.0f} MiB, train {r['train_seconds_mean']:.1f} s "
              f"(selection {r['selection_seconds_mean']:.1f} s)")
    for c in summary["checks"]:
        print(f"{c['check']}: {'met' if c['met'] else 'not met'} ({c['detail']})")
    print(f"wrote {args.out / (stem + '.md')} in {wall:.0f} s")
    return result


if __name__ == "__main__":
    main()
