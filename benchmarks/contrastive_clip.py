"""Image-text selection for a tiny CLIP on noisy Fashion-MNIST captions: ClipCov vs CLIP score vs SemDeDup vs
C-RHO vs random at 10% and 30%; zero-shot test accuracy and the share of mismatched pairs kept.

The data imitates noisy web pairs: each training image gets a generated caption (class name in one of ten
templates with random adjectives, e.g. "a striped shirt on a plain background"), and 30% of the captions name
another class. Per seed (captions, proxy, selections and initialisation all follow the seed):

1. proxy: a tiny CLIP trained on all the noisy pairs for a few epochs; its image and caption embeddings feed
   ``clipcov``, ``clip_score`` and ``semdedup`` (image embeddings), and a snapshot after the first epoch is the
   partially trained model of ``c_rho`` (score = CLIP score under the proxy minus under the snapshot);
2. ClipCov (Joshi et al., AISTATS 2024) selects per latent class, here the proxy's zero-shot classes from
   class-name prompts (``--latent kmeans``: spherical k-means on the image embeddings), lambda = 2;
3. target: a tiny CLIP from scratch on each subset for the same number of epochs (fewer steps), the same
   initialisation for every method of a seed; zero-shot accuracy on the test split with class-name prompts
   (4 templates averaged). References: all noisy pairs, and an oracle that keeps exactly the matched pairs.

    PYTHONPATH=src python3 benchmarks/contrastive_clip.py --device cuda      # 3 seeds in parallel processes
    PYTHONPATH=src python3 benchmarks/contrastive_clip.py --quick            # tiny end-to-end check on a CPU

Writes contrastive_clip.{md,png,json} (contrastive_clip_quick.* with --quick) into --out.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _contrastive as common  # noqa: E402

FRACTIONS = (0.1, 0.3)
METHODS = ("random", "clipcov", "clip_score", "semdedup", "c_rho")


def run_seed(seed: int, config: dict) -> dict:
    import numpy as np

    import lessdata
    from lessdata.contrastive import (
        FASHION_MNIST_NAMES,
        PROMPT_TEMPLATES,
        Vocabulary,
        class_prompt_embeddings,
        clip_embeddings,
        make_captions,
        train_clip,
        zero_shot_accuracy,
    )

    X, y, Xt, yt = common.load_data(config["train_size"], config["test_size"])
    caps = make_captions(y, mismatch=config["mismatch"], seed=seed)
    prompts = [t.format(name=c) for c in FASHION_MNIST_NAMES for t in PROMPT_TEMPLATES]
    vocab = Vocabulary.from_texts(caps.texts + prompts)
    train_kwargs = {"vocab": vocab, "batch_size": config["batch_size"], "width": config["width"],
                    "embed_dim": config["embed_dim"], "device": config["device"], "lr": config["lr"]}

    warm = slice(0, 2 * config["batch_size"])  # one-time costs (kernels, cuDNN autotuning) off the clock
    train_clip(X[warm], caps.texts[warm], epochs=1, seed=seed, **train_kwargs)
    clock = common.timer()
    proxy = train_clip(X, caps, epochs=config["proxy_epochs"], snapshots=(config["partial_epochs"],),
                       seed=10_000 + seed, **train_kwargs)
    partial = proxy.snapshots[config["partial_epochs"]]
    v, t = clip_embeddings(proxy.model, X, caps)
    pv, pt = clip_embeddings(partial, X, caps)
    class_prompts = class_prompt_embeddings(proxy.model)
    proxy_seconds = clock()
    proxy_info = {"seed": seed, "proxy_seconds": proxy_seconds,
                  "proxy_zero_shot": zero_shot_accuracy(proxy.model, Xt, yt),
                  "partial_zero_shot": zero_shot_accuracy(partial, Xt, yt),
                  "clip_score_matched": float((v * t).sum(1)[~caps.mismatched].mean()),
                  "clip_score_mismatched": float((v * t).sum(1)[caps.mismatched].mean())}
    common.log(seed, f"proxy {proxy_seconds:.1f} s, zero-shot {proxy_info['proxy_zero_shot']:.4f} (partial "
                     f"{proxy_info['partial_zero_shot']:.4f})")
    latent = {"class_prompts": class_prompts} if config["latent"] == "zero_shot" else {"n_clusters": 10}
    params = {"random": {}, "clipcov": {"text": t, **latent}, "clip_score": {"text": t}, "semdedup": {},
              "c_rho": {"text": t, "partial_image": pv, "partial_text": pt}}
    runs = []

    def train_and_score(method, fraction, subset, selection_seconds):
        run = train_clip(X, caps, subset=subset, epochs=config["epochs"], seed=seed, **train_kwargs)
        kept = np.arange(len(X)) if subset is None else np.asarray(subset)
        # the worst-covered class: its share of the subset relative to its share of the data (1 = balanced)
        balance = np.bincount(y[kept], minlength=10) / (np.bincount(y, minlength=10) * len(kept) / len(X))
        record = {"seed": seed, "method": method, "fraction": fraction,
                  "accuracy": zero_shot_accuracy(run.model, Xt, yt),
                  "mismatched_kept": float(caps.mismatched[kept].mean()), "class_balance": float(balance.min()),
                  "selection_seconds": selection_seconds, "train_seconds": run.seconds, "steps": run.steps,
                  "final_loss": run.losses[-1], "n_train": run.n_train}
        common.log(seed, f"{method:>10} {fraction:.0%}: zero-shot {record['accuracy']:.4f}, mismatched kept "
                         f"{record['mismatched_kept']:.3f}, train {run.seconds:.1f} s, selection "
                         f"{selection_seconds:.1f} s")
        runs.append(record)

    train_and_score("full (noisy)", 1.0, None, 0.0)
    matched = np.flatnonzero(~caps.mismatched)
    train_and_score("oracle (matched only)", len(matched) / len(X), matched, 0.0)
    for fraction in config["fractions"]:
        for method in METHODS:
            clock = common.timer()
            cs = lessdata.select(None if method == "random" else v, n=len(X), fraction=fraction, method=method,
                                 seed=seed, **params[method])
            train_and_score(method, fraction, cs.indices, clock() + (proxy_seconds if method != "random" else 0.0))
    return {"seed": seed, "runs": runs, "proxy": proxy_info}


def main(argv=None) -> dict:
    parser = common.common_parser(__doc__)
    parser.set_defaults(batch_size=256)
    parser.add_argument("--epochs", type=int, default=30, help="CLIP epochs of every target run")
    parser.add_argument("--proxy-epochs", type=int, default=10, help="epochs of the proxy (longer-trained) CLIP")
    parser.add_argument("--partial-epochs", type=int, default=1, help="C-RHO's partially trained snapshot")
    parser.add_argument("--mismatch", type=float, default=0.3, help="share of mismatched captions")
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--latent", choices=("zero_shot", "kmeans"), default="zero_shot",
                        help="ClipCov latent classes: the proxy's zero-shot classes (default) or k-means")
    args = parser.parse_args(argv)
    config = {k: v for k, v in vars(args).items() if k not in ("out", "quick", "seeds", "workers")}
    config["fractions"] = list(FRACTIONS)
    seeds = list(range(args.seeds))
    if args.quick:
        seeds = [0]
        config.update(train_size=800, test_size=1_000, epochs=2, proxy_epochs=2, width=4, embed_dim=16,
                      batch_size=128, fractions=[0.3])
    info = common.machine(args.device)
    wall = common.timer()
    per_seed = common.run_seeds(run_seed, seeds, config, args.workers, args.device)
    seconds = wall()
    runs = [r for s in per_seed for r in s["runs"]]
    rows = common.summarize(runs, ["accuracy", "mismatched_kept", "class_balance"])
    proxies = [s["proxy"] for s in per_seed]
    result = {"settings": config, "seeds": seeds, "machine": info, "command": " ".join(sys.argv),
              "wall_seconds": seconds, "runs": runs, "rows": rows, "proxy": proxies}

    def mean(key):
        return sum(p[key] for p in proxies) / len(proxies)

    title = "Image-text selection for a tiny CLIP on noisy Fashion-MNIST captions" + (" (quick)" if args.quick else "")
    full = next(r for r in rows if r["method"] == "full (noisy)")
    oracle = next(r for r in rows if r["method"].startswith("oracle"))
    latent = "the proxy's zero-shot classes" if config["latent"] == "zero_shot" else "k-means (10 clusters)"
    md = common.header(title, info, seconds)
    md += (f"\n## Setting\n\n- Data: {config['train_size']:,} Fashion-MNIST training images (a fixed random "
           f"subsample) with generated captions, {config['mismatch']:.0%} of them naming another class; "
           f"{config['test_size']:,} test images; seeds {seeds}.\n"
           f"- Tiny CLIP: CNN image encoder width {config['width']}, word embeddings + 1 transformer layer + mean "
           f"pooling for text, {config['embed_dim']}-d joint space, learnable temperature, batch "
           f"{config['batch_size']}, AdamW + cosine, {config['epochs']} epochs on every subset.\n"
           f"- Proxy: {config['proxy_epochs']} epochs on all noisy pairs (mean {mean('proxy_seconds'):.1f} s per "
           f"seed, zero-shot {mean('proxy_zero_shot') * 100:.2f}%; mean CLIP score {mean('clip_score_matched'):.3f} "
           f"on matched vs {mean('clip_score_mismatched'):.3f} on mismatched pairs); C-RHO's partial model: its "
           f"snapshot after epoch {config['partial_epochs']} (zero-shot {mean('partial_zero_shot') * 100:.2f}%). "
           "The proxy's time is counted in every non-random method's selection seconds.\n"
           f"- ClipCov latent classes: {latent}; SemDeDup on the proxy image embeddings (budget mode, keep "
           "hard).\n"
           f"- References: all noisy pairs {common._pm(full, 'accuracy')}% zero-shot; the matched pairs only "
           f"(oracle, {oracle['fraction']:.0%} of the data) {common._pm(oracle, 'accuracy')}%.\n"
           "- Least-kept class: min over the 10 true classes of (class share in the subset) / (class share in "
           "the data); 100% is perfectly balanced, low values mean a class was mostly dropped.\n")
    md += "\n## Results\n\n" + common.table(rows, "accuracy", "zero-shot test accuracy (%)",
                                             [("mismatched_kept", "mismatched pairs kept (%)"),
                                              ("class_balance", "least-kept class, vs its share (%)")])
    md += "\n## Verdict against random (paired by seed)\n\n" + "".join(
        f"- {line}\n" for line in common.verdicts(rows, "of zero-shot accuracy"))
    md += "".join(f"- {r['method']} at {r['fraction']:.0%} keeps {r['mismatched_kept_mean'] * 100:.1f}% mismatched "
                  f"pairs (random: {config['mismatch'] * 100:.0f}%).\n" for r in rows
                  if r["method"] in METHODS[1:])
    reference = {"accuracy": {"all noisy pairs": full["accuracy_mean"], "matched only": oracle["accuracy_mean"]},
                 "mismatched_kept": {"all noisy pairs": config["mismatch"]}}
    files = common.write_report("contrastive_clip" + ("_quick" if args.quick else ""), args.out, result, md,
                                [r for r in rows if r["method"] in METHODS],
                                [("accuracy", "zero-shot test accuracy (%)"),
                                 ("mismatched_kept", "mismatched pairs kept (%)")], title, reference)
    print(md)
    print(f"wrote {files['markdown']}")
    return result


if __name__ == "__main__":
    main()
