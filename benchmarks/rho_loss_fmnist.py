"""Experiment: RHO-LOSS vs uniform batches on a Fashion-MNIST subset, with and without 20% label noise.

Mindermann et al. (ICML 2022) report that training on the b = 10% points of each large batch B with the largest
reducible loss (training loss − irreducible loss of a model trained on a holdout split) reaches a given
accuracy in far fewer steps than uniform batches, most of all under label noise. Here, per seed and noise rate:

1. disjoint random splits of the Fashion-MNIST train set: a training pool, a holdout split (both get the same
   symmetric label noise), and a clean test slice of the test set;
2. the irreducible-loss model (the same MLP) is trained on the holdout (AdamW, 10 epochs); its loss on every
   pool example is computed once (the reference's precomputed table);
3. three arms train the same seeded MLP (784-256-256-10, AdamW lr 1e-3) for the same number of steps:
   RHO-LOSS (draw B, train on its b top reducible losses), uniform b (draw b), uniform B (draw B, train on all);
   test accuracy every ``eval_every`` steps; the clock counts training + selection (not evaluation), and the
   irreducible model's training is reported apart.

    python benchmarks/rho_loss_fmnist.py                # 3 seeds x {0, 20%} noise, CPU
    python benchmarks/rho_loss_fmnist.py --quick        # 1 seed, fewer steps

Writes ``rho_loss_fmnist.{md,png,json}`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ARMS = ("rho_loss", "uniform_b", "uniform_B")
LABELS = {"rho_loss": "RHO-LOSS (b of B)", "uniform_b": "uniform, batch b", "uniform_B": "uniform, batch B"}


def mlp(seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def accuracy(model, X, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        acc = float((model(X).argmax(1) == y).float().mean())
    model.train()
    return acc


def run_one(seed: int, noise: float, cfg: dict) -> dict:
    import torch
    from torch.nn import functional as F
    from torch.utils.data import TensorDataset

    from lessdata.data import fashion_mnist, symmetric_label_noise
    from lessdata.training.rho_loss import RhoLossSelector, irreducible_losses, train_irreducible_model

    torch.set_num_threads(1)
    X, y = fashion_mnist(split="train")
    Xt, yt = fashion_mnist(split="test")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    pool_idx, hold_idx = order[:cfg["pool"]], order[cfg["pool"]:cfg["pool"] + cfg["holdout"]]
    test_idx = rng.permutation(len(yt))[:cfg["test"]]
    to_x = lambda a: torch.as_tensor(a, dtype=torch.float32).div_(255.0)  # noqa: E731
    y_noisy = y.copy()
    if noise > 0:
        y_noisy[order[:cfg["pool"] + cfg["holdout"]]] = symmetric_label_noise(
            y[order[:cfg["pool"] + cfg["holdout"]]], noise, seed=seed, num_classes=10)[0]
    Xp, yp = to_x(X[pool_idx]), torch.as_tensor(y_noisy[pool_idx])
    Xh, yh = to_x(X[hold_idx]), torch.as_tensor(y_noisy[hold_idx])
    Xte, yte = to_x(Xt[test_idx]), torch.as_tensor(yt[test_idx])
    clean = torch.as_tensor(y_noisy[pool_idx] == y[pool_idx])

    start = time.perf_counter()
    irr = train_irreducible_model(mlp(1000 + seed), TensorDataset(Xh, yh), holdout_indices=hold_idx,
                                  train_indices=pool_idx, epochs=cfg["irreducible_epochs"], batch_size=128,
                                  lr=1e-3, seed=seed)
    table = irreducible_losses(irr, (Xp, yp))
    irreducible_seconds = time.perf_counter() - start
    irreducible_acc = accuracy(irr, Xte, yte)

    runs = {}
    for arm in ARMS:
        model = mlp(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        selector = RhoLossSelector(table, b=cfg["b"])
        draw = torch.Generator().manual_seed(seed)
        size = cfg["b"] if arm == "uniform_b" else cfg["B"]
        clock, curve, noisy_share = 0.0, [], []
        perm, pos = torch.randperm(len(yp), generator=draw), 0
        for step in range(1, cfg["steps"] + 1):
            tick = time.perf_counter()
            if pos + size > len(perm):  # a fresh shuffled epoch of the pool
                perm, pos = torch.randperm(len(yp), generator=draw), 0
            idx = perm[pos:pos + size]
            pos += size
            xb, yb = Xp[idx], yp[idx]
            if arm == "rho_loss":
                picks = selector.select_batch(model, (xb, yb), cfg["b"], index=idx)
                idx, xb, yb = idx[picks], xb[picks], yb[picks]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            clock += time.perf_counter() - tick
            noisy_share.append(float((~clean[idx]).float().mean()))
            if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
                curve.append({"step": step, "seconds": clock, "test_accuracy": accuracy(model, Xte, yte)})
        runs[arm] = {"curve": curve, "seconds": clock, "final_accuracy": curve[-1]["test_accuracy"],
                     "best_accuracy": max(c["test_accuracy"] for c in curve),
                     "noisy_share_trained": float(np.mean(noisy_share)),
                     "selection_seconds": float(sum(r["seconds"] for r in selector.history))}
        print(f"[seed {seed} noise {noise:.0%}] {arm:>10}: acc {runs[arm]['final_accuracy']:.4f}, "
              f"{clock:.1f} s, noisy share trained {runs[arm]['noisy_share_trained']:.3f}", flush=True)
    return {"seed": seed, "noise": noise, "irreducible_seconds": irreducible_seconds,
            "irreducible_test_accuracy": irreducible_acc, "runs": runs}


def steps_to(curve, target: float):
    for c in curve:
        if c["test_accuracy"] >= target:
            return c["step"], c["seconds"]
    return None, None


def summarize(results, cfg):
    rows = []
    for noise in cfg["noises"]:
        group = [r for r in results if r["noise"] == noise]
        # target: 95% of the best accuracy uniform-b reaches (mean over seeds)
        ref = float(np.mean([g["runs"]["uniform_b"]["best_accuracy"] for g in group]))
        target = round(0.95 * ref, 4)
        for arm in ARMS:
            finals = np.array([g["runs"][arm]["final_accuracy"] for g in group])
            reach = [steps_to(g["runs"][arm]["curve"], target) for g in group]
            steps = [s for s, _ in reach if s is not None]
            secs = [t for _, t in reach if t is not None]
            rows.append({"noise": noise, "arm": arm, "seeds": len(group), "final_mean": float(finals.mean()),
                         "final_std": float(finals.std()), "target": target,
                         "steps_to_target": float(np.mean(steps)) if len(steps) == len(group) else None,
                         "seconds_to_target": float(np.mean(secs)) if len(secs) == len(group) else None,
                         "reached": f"{len(steps)}/{len(group)}",
                         "seconds_total": float(np.mean([g["runs"][arm]["seconds"] for g in group])),
                         "selection_seconds": float(np.mean([g["runs"][arm]["selection_seconds"] for g in group])),
                         "noisy_share_trained": float(np.mean([g["runs"][arm]["noisy_share_trained"]
                                                               for g in group]))})
    return rows


def write_outputs(result, out: Path, stem: str):
    from _common import header

    cfg, rows = result["settings"], result["summary"]
    js = out / f"{stem}.json"
    tmp = js.with_name(f".{js.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, js)
    plot_ok = False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(cfg["noises"]), 2, figsize=(11, 4 * len(cfg["noises"])), squeeze=False)
        for r, noise in enumerate(cfg["noises"]):
            group = [x for x in result["seed_results"] if x["noise"] == noise]
            for arm in ARMS:
                steps = np.array([c["step"] for c in group[0]["runs"][arm]["curve"]])
                acc = np.array([[c["test_accuracy"] for c in g["runs"][arm]["curve"]] for g in group])
                sec = np.array([[c["seconds"] for c in g["runs"][arm]["curve"]] for g in group]).mean(0)
                axes[r, 0].plot(steps, acc.mean(0), label=LABELS[arm])
                axes[r, 0].fill_between(steps, acc.mean(0) - acc.std(0), acc.mean(0) + acc.std(0), alpha=0.2)
                axes[r, 1].plot(sec, acc.mean(0), label=LABELS[arm])
            axes[r, 0].set_title(f"label noise {noise:.0%}: test accuracy vs steps")
            axes[r, 1].set_title(f"label noise {noise:.0%}: vs seconds (training + selection)")
            axes[r, 0].set_xlabel("gradient steps")
            axes[r, 1].set_xlabel("seconds (shared 2-core CPU)")
            for ax in axes[r]:
                ax.set_ylabel("test accuracy")
                ax.legend(fontsize=8)
        fig.tight_layout()
        png = out / f"{stem}.png"
        tmp = png.with_name(f".{stem}.tmp.png")
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, png)
        plot_ok = True
    except ImportError:
        pass
    lines = [header("RHO-LOSS vs uniform batches on Fashion-MNIST" + (" (quick)" if cfg["quick"] else "")).rstrip(),
             f"- Wall-clock of the whole benchmark: {result['wall_seconds']:.0f} s (2-core CPU shared with other "
             "jobs: timings were NOT taken on a quiet machine)", "",
             f"Training pool {cfg['pool']} / holdout {cfg['holdout']} (disjoint random splits of the Fashion-MNIST "
             f"train set, the same symmetric label noise on both) / clean test slice {cfg['test']}. MLP "
             f"784-256-256-10, AdamW lr 1e-3, {cfg['steps']} steps per arm, B = {cfg['B']}, b = {cfg['b']} "
             f"(the paper's 10%). Irreducible-loss model: the same MLP, {cfg['irreducible_epochs']} epochs on the "
             f"holdout, losses precomputed once for the pool. Seeds: {cfg['seeds']}. Scale: a reduced setting "
             "(the paper: full datasets, larger models, many epochs) sized to a small CPU budget.", "",
             "## Final test accuracy (mean ± std) and steps / seconds to a target", "",
             "Target = 95% of the best test accuracy of uniform batches of size b (mean over seeds).", "",
             "| noise | arm | final accuracy | target | steps to target | seconds to target | reached | "
             "seconds total (selection) | mislabelled share trained |", "|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in rows:
        lines.append(f"| {r['noise']:.0%} | {LABELS[r['arm']]} | {r['final_mean']:.4f} ± {r['final_std']:.4f} | "
                     f"{r['target']:.4f} | {fmt(r['steps_to_target'], '.0f')} | {fmt(r['seconds_to_target'], '.1f')} | "
                     f"{r['reached']} | {r['seconds_total']:.1f} ({r['selection_seconds']:.1f}) | "
                     f"{r['noisy_share_trained']:.3f} |")
    irr = result["seed_results"]
    lines += ["", f"Irreducible-loss model: {np.mean([x['irreducible_seconds'] for x in irr]):.1f} s to train and "
              f"score the pool (not in the clocks above); its test accuracy "
              f"{np.mean([x['irreducible_test_accuracy'] for x in irr]):.4f}.", "", "## Verdict", ""]
    lines += result["verdict"] + [""]
    if plot_ok:
        lines += [f"![accuracy vs steps and seconds]({stem}.png)", ""]
    lines += [f"Raw results: `{stem}.json`.", ""]
    md = out / f"{stem}.md"
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, md)


def verdict(rows, cfg):
    get = {(r["noise"], r["arm"]): r for r in rows}
    lines = []
    for noise in cfg["noises"]:
        rho, ub = get[noise, "rho_loss"], get[noise, "uniform_b"]
        if rho["steps_to_target"] is not None and ub["steps_to_target"] is not None:
            speed = ub["steps_to_target"] / rho["steps_to_target"]
            lines.append(f"- noise {noise:.0%}: RHO-LOSS reaches the target in {speed:.2f}x fewer steps than "
                         f"uniform batches of size b ({rho['steps_to_target']:.0f} vs {ub['steps_to_target']:.0f}); "
                         f"in wall-clock {ub['seconds_to_target'] / rho['seconds_to_target']:.2f}x (selection cost "
                         f"included); final accuracy {rho['final_mean']:.4f} vs {ub['final_mean']:.4f}.")
        else:
            lines.append(f"- noise {noise:.0%}: RHO-LOSS reached the target in {rho['reached']} seeds, uniform b in "
                         f"{ub['reached']}; final accuracy {rho['final_mean']:.4f} vs {ub['final_mean']:.4f}.")
        if noise > 0:
            fewer = rho["noisy_share_trained"] < ub["noisy_share_trained"]
            lines.append(f"- noise {noise:.0%}: share of mislabelled points trained on, averaged over the run: "
                         f"RHO-LOSS "
                         f"{rho['noisy_share_trained']:.3f} vs uniform {ub['noisy_share_trained']:.3f} — the paper's "
                         f"\"RHO-LOSS skips noisy points\" {'holds' if fewer else 'does not hold over the whole run'}"
                         + ("" if fewer else ": at the start the irreducible model's high loss on mislabelled points "
                            "keeps them out, but once the trained model is more confident than the irreducible model, "
                            "its loss on a mislabelled point exceeds the irreducible loss and the point is picked "
                            "again (a small MLP irreducible model trained on a noisy holdout)") + ".")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--report", type=Path, default=None, help="rewrite the report from a results .json")
    args = parser.parse_args(argv)
    if args.report is not None:
        result = json.loads(args.report.read_text())
        result["verdict"] = verdict(result["summary"], result["settings"])
        write_outputs(result, args.out, args.report.stem)
        return result
    cfg = {"pool": 10000, "holdout": 5000, "test": 2000, "B": 320, "b": 32, "steps": 1200, "eval_every": 50,
           "irreducible_epochs": 10, "noises": [0.0, 0.2], "seeds": args.seeds or (1 if args.quick else 3),
           "quick": args.quick}
    if args.quick:
        cfg.update({"pool": 3000, "holdout": 1500, "test": 1000, "steps": 200, "eval_every": 25,
                    "irreducible_epochs": 3})
    if args.steps:
        cfg["steps"] = args.steps
    started = time.perf_counter()
    results = [run_one(seed, noise, cfg) for noise in cfg["noises"] for seed in range(cfg["seeds"])]
    rows = summarize(results, cfg)
    result = {"settings": cfg, "seed_results": results, "summary": rows, "verdict": verdict(rows, cfg),
              "wall_seconds": time.perf_counter() - started}
    args.out.mkdir(parents=True, exist_ok=True)
    write_outputs(result, args.out, "rho_loss_fmnist" + ("_quick" if args.quick else ""))
    print("\n".join(result["verdict"]))
    return result


if __name__ == "__main__":
    main()
