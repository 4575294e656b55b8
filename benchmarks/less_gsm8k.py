"""Experiment: LESS (target-aware LoRA-gradient selection) vs random vs embedding similarity on GSM8K.

Xia et al. (ICML 2024) report that training on the 5% of the data whose LoRA gradients best match a small
target set's matches or beats training on all of it, on that target. Here the target task is a question type:
GSM8K questions about percentages ("%" or "percent" in the question). Per seed, on a CPU-sized slice:

1. a "pretrained" base: the tiny LM (GPT-2 style, 2 layers, width 128) trained one epoch on GSM8K train rows
   400..1199 (disjoint from the selection pool);
2. the selection pool: GSM8K train rows 0..399 (about 16% percentage questions); the target set: the first
   16 percentage questions of GSM8K test; the evaluation: the other percentage questions of test (target
   loss) and 100 other test questions (general loss);
3. LESS: LoRA warm-up on 5% of the pool, per-example LoRA gradient features at every warm-up epoch (randomly
   projected, Adam-preconditioned), cosine to the target set's gradients (``lessdata.select(method="less")``);
   embedding similarity: the same score on all-MiniLM-L6-v2 embeddings; random;
4. each arm fine-tunes a copy of the base on its subset for the same number of epochs (the paper's protocol:
   a 5% subset gets 5% of the steps), and the full pool is the reference.

    python benchmarks/less_gsm8k.py           # 3 seeds, CPU

Writes ``less_gsm8k.{md,png,json}`` into ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gsm8k import TEMPLATE, default_data_dir, test_loss, write_text_atomic  # noqa: E402

ARMS = ("random", "less", "embedding_similarity")
LABELS = {"random": "random", "less": "LESS (LoRA gradients)", "embedding_similarity": "embedding similarity (MiniLM)",
          "full": "full pool"}


def is_target(question: str) -> bool:
    return "%" in question or "percent" in question.lower()


def run_seed(seed, cfg, pool, pretrain, target, target_eval, general, E_pool, E_target):
    import torch

    import lessdata
    from lessdata._validation import resolve_budget
    from lessdata.llm import (
        InstructionCollator,
        LessFeatures,
        get_tokenizer,
        tiny_causal_lm,
        tokenize_instructions,
        train_causal_lm,
    )
    from lessdata.methods.less import less_scores

    torch.set_num_threads(1)
    L = cfg["max_length"]
    tok = get_tokenizer(texts=pretrain.texts(TEMPLATE) + pool.texts(TEMPLATE), vocab_size=cfg["vocab_size"])
    ex = {name: tokenize_instructions(d, tok, max_length=L, template=TEMPLATE)
          for name, d in (("pool", pool), ("pretrain", pretrain), ("target", target), ("eval", target_eval),
                          ("general", general))}
    coll = InstructionCollator(tok, keep_index=False)
    base = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=L, seed=seed, pad_token_id=tok.pad_token_id,
                          eos_token_id=tok.eos_token_id)
    t = time.perf_counter()
    train_causal_lm(base, ex["pretrain"], collator=coll, epochs=1.0, batch_size=16, learning_rate=2e-3, seed=seed)
    base_seconds = time.perf_counter() - t
    n = len(ex["pool"])
    t = time.perf_counter()
    feats, peft_model = LessFeatures.compute(copy.deepcopy(base), ex["pool"], collator=coll, proj_dim=cfg["proj_dim"],
                                             seed=seed, fraction=0.05, epochs=cfg["warmup_epochs"],
                                             learning_rate=cfg["warmup_lr"], batch_size=4, lora_r=cfg["lora_r"],
                                             lora_alpha=4 * cfg["lora_r"], lora_dropout=0.1)
    target_feats = feats.target_features(peft_model, ex["target"], collator=coll)
    less_seconds = time.perf_counter() - t
    del peft_model
    emb_scores = less_scores(E_pool, E_target)
    sel = {}
    for f in cfg["fractions"]:
        k = resolve_budget(n, fraction=f)
        sel["random", f] = lessdata.select(n=n, budget=k, method="random", seed=seed).indices
        sel["less", f] = lessdata.select(feats.train, budget=k, method="less", target=target_feats,
                                         checkpoint_weights=feats.weights).indices
        sel["embedding_similarity", f] = np.argsort(-emb_scores, kind="stable")[:k]
    runs = []
    on_target = np.array([is_target(q) for q in pool.prompts])
    for arm, f in [("full", 1.0)] + [(a, f) for f in cfg["fractions"] for a in ARMS]:
        idx = np.arange(n) if arm == "full" else sel[arm, f]
        model = copy.deepcopy(base)
        steps = math.ceil(len(idx) / cfg["batch_size"]) * cfg["epochs"]
        train_causal_lm(model, [ex["pool"][i] for i in idx], collator=coll, max_steps=steps,
                        batch_size=cfg["batch_size"], learning_rate=cfg["finetune_lr"], seed=seed)
        tl = test_loss(model, ex["eval"], coll, 64)[0]
        gl = test_loss(model, ex["general"], coll, 64)[0]
        runs.append({"arm": arm, "fraction": f, "size": len(idx), "steps": steps, "target_loss": tl,
                     "general_loss": gl, "on_target_share": float(on_target[idx].mean())})
        print(f"[seed {seed}] {arm:>22} {f:4.0%}: target loss {tl:.4f}, general {gl:.4f}, "
              f"on-target share {on_target[idx].mean():.2f}", flush=True)
    base_tl = test_loss(base, ex["eval"], coll, 64)[0]
    return {"seed": seed, "runs": runs, "base_target_loss": base_tl, "base_seconds": base_seconds,
            "less_seconds": less_seconds, "pool_on_target_share": float(on_target.mean())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (1 seed, small slices)")
    args = parser.parse_args(argv)
    cfg = {"pool": 400, "pretrain": 800, "target": 16, "general": 100, "max_length": 96, "vocab_size": 768,
           "proj_dim": 512, "lora_r": 8, "warmup_epochs": 2, "warmup_lr": 1e-3, "finetune_lr": 1e-3, "epochs": 4,
           "batch_size": 8, "fractions": [0.05, 0.1], "seeds": args.seeds}
    if args.quick:
        cfg.update({"pool": 100, "pretrain": 100, "general": 20, "max_length": 48, "proj_dim": 64, "seeds": 1,
                    "fractions": [0.1]})
    from lessdata.llm import load_instructions, sentence_embeddings

    data = args.data or default_data_dir()
    rows = [json.loads(line) for line in open(data / "train.jsonl") if line.strip()]
    test_rows = [json.loads(line) for line in open(data / "test.jsonl") if line.strip()]
    pool = load_instructions(rows[:cfg["pool"]])
    pretrain = load_instructions(rows[cfg["pool"]:cfg["pool"] + cfg["pretrain"]])
    tgt_rows = [r for r in test_rows if is_target(r["question"])]
    other = [r for r in test_rows if not is_target(r["question"])]
    target, target_eval = load_instructions(tgt_rows[:cfg["target"]]), load_instructions(tgt_rows[cfg["target"]:])
    general = load_instructions(other[:cfg["general"]])
    started = time.perf_counter()
    cache = Path("/tmp") / f"lessdata_gsm8k_minilm_{cfg['pool']}.npy"
    E_pool = np.load(cache) if cache.exists() and np.load(cache).shape[0] == cfg["pool"] else None
    if E_pool is None:
        E_pool = sentence_embeddings(pool.texts(), batch_size=64, max_tokens=128)
    E_target = sentence_embeddings(target.texts(), batch_size=64, max_tokens=128)
    results = [run_seed(s, cfg, pool, pretrain, target, target_eval, general, E_pool, E_target)
               for s in range(cfg["seeds"])]
    groups = {}
    for r in results:
        for run in r["runs"]:
            groups.setdefault((run["arm"], run["fraction"]), []).append(run)
    table = [{"arm": a, "fraction": f, "target_mean": float(np.mean([g["target_loss"] for g in v])),
              "target_std": float(np.std([g["target_loss"] for g in v])),
              "general_mean": float(np.mean([g["general_loss"] for g in v])),
              "general_std": float(np.std([g["general_loss"] for g in v])),
              "on_target_share": float(np.mean([g["on_target_share"] for g in v])), "steps": v[0]["steps"]}
             for (a, f), v in groups.items()]
    get = {(t["arm"], t["fraction"]): t for t in table}
    full = get["full", 1.0]
    verdict = []
    for f in cfg["fractions"]:
        le, ra, em = get["less", f], get["random", f], get["embedding_similarity", f]
        verdict.append(f"- {f:.0%}: LESS target loss {le['target_mean']:.4f} vs random {ra['target_mean']:.4f}, "
                       f"embedding similarity {em['target_mean']:.4f}, full pool {full['target_mean']:.4f}: LESS "
                       f"{'beats' if le['target_mean'] < ra['target_mean'] else 'does not beat'} random, "
                       f"{'beats' if le['target_mean'] < em['target_mean'] else 'does not beat'} embedding "
                       f"similarity, {'matches or beats' if le['target_mean'] <= full['target_mean'] else 'trails'} "
                       f"the full pool (LESS picks {le['on_target_share']:.0%} percentage questions; the pool has "
                       f"{results[0]['pool_on_target_share']:.0%}).")
    result = {"settings": cfg, "seed_results": results, "summary": table, "verdict": verdict,
              "wall_seconds": time.perf_counter() - started}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "less_gsm8k" + ("_quick" if args.quick else "")
    write_text_atomic(json.dumps(result, indent=1), args.out / f"{stem}.json")
    plot = False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2))
        ax.axhline(full["target_mean"], color="black", lw=1, label="full pool")
        fr = np.array(cfg["fractions"])
        for i, a in enumerate(ARMS):
            ax.errorbar(fr * 100 + (i - 1) * 0.2, [get[a, f]["target_mean"] for f in fr],
                        yerr=[get[a, f]["target_std"] for f in fr], marker="o", capsize=3, label=LABELS[a])
        ax.set_xlabel("subset size (% of the pool), same number of epochs")
        ax.set_ylabel("loss on held-out percentage questions")
        ax.set_xticks(fr * 100)
        ax.legend(fontsize=8)
        fig.tight_layout()
        tmp = args.out / f".{stem}.tmp.png"
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, args.out / f"{stem}.png")
        plot = True
    except ImportError:
        pass
    from _common import header

    r0 = results[0]
    lines = [header("LESS vs random vs embedding similarity on a GSM8K question type").rstrip(),
             f"- Wall-clock: {result['wall_seconds']:.0f} s on a 2-core CPU shared with other jobs (timings were NOT "
             "taken on a quiet machine)", "",
             f"Target task: percentage questions. Pool: GSM8K train rows 0..{cfg['pool'] - 1} "
             f"({r0['pool_on_target_share']:.0%} on target); target set: {cfg['target']} percentage questions of "
             f"test; target loss: the other {len(target_eval)} percentage questions of test; general loss: "
             f"{cfg['general']} other test questions. Base: tiny LM (2 layers, width 128) trained one epoch on "
             f"train rows {cfg['pool']}..{cfg['pool'] + cfg['pretrain'] - 1}. LESS: LoRA r={cfg['lora_r']} "
             f"(alpha {4 * cfg['lora_r']}), warm-up on 5% of the pool for {cfg['warmup_epochs']} epochs (lr "
             f"{cfg['warmup_lr']:g}), projection to {cfg['proj_dim']} dimensions, Adam-preconditioned pool "
             "gradients, checkpoints weighted by mean learning rate. Reduced from the reference (r=128, 4 warm-up "
             "epochs, 8192 dimensions, lr 2e-5 for 7B models) to this CPU budget. Every arm fine-tunes a copy of "
             f"the base for {cfg['epochs']} epochs over its data (batch {cfg['batch_size']}, lr "
             f"{cfg['finetune_lr']:g}). Seeds: {cfg['seeds']}.", "",
             "## Loss on held-out percentage questions (target) and on other questions (mean ± std; lower is "
             "better)", "",
             "| arm | size | steps | target loss | general loss | on-target share |", "|---|---|---|---|---|---|"]
    for t in sorted(table, key=lambda t: (t["fraction"] != 1.0, t["fraction"], t["arm"])):
        lines.append(f"| {LABELS[t['arm']]} | {t['fraction']:.0%} | {t['steps']} | {t['target_mean']:.4f} ± "
                     f"{t['target_std']:.4f} | {t['general_mean']:.4f} ± {t['general_std']:.4f} | "
                     f"{t['on_target_share']:.0%} |")
    base_loss = np.mean([r["base_target_loss"] for r in results])
    less_seconds = np.mean([r["less_seconds"] for r in results])
    lines += ["", f"Base model before fine-tuning: target loss {base_loss:.4f}. LESS features (warm-up + pool and "
              f"target gradients): {less_seconds:.0f} s per seed.", "", "## Verdict", "", *verdict, ""]
    if plot:
        lines += [f"![target loss]({stem}.png)", ""]
    lines += [f"Raw results: `{stem}.json`.", ""]
    write_text_atomic("\n".join(lines), args.out / f"{stem}.md")
    print("\n".join(verdict))


if __name__ == "__main__":
    main()
