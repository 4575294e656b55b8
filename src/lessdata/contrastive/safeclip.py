"""SafeCLIP: pre-train CLIP safely on poisoned image–caption data.

Yang, Chen, Mirzasoleiman et al., "Better Safe than Sorry: Pre-training CLIP against Targeted Data Poisoning
and Backdoor Attacks" (ICML 2024); reference code BigML-CS-UCLA/SafeCLIP (``src/main.py``,
``src/samplers.py``, ``src/parser.py``). Poisoned pairs are learnt late: after a short warm-up their
image–caption similarity is low, so a two-component Gaussian mixture on the similarities separates a safe
set (trained with the CLIP loss) from a risky set (trained only with unimodal contrastive losses, which
learn the images and captions without tying the poisoned pairs together).

The schedule, with the reference's defaults:

1. ``unimodal_epochs`` (5) epochs of unimodal contrastive learning on all pairs: image vs augmented image,
   caption vs augmented caption (NT-Xent, in-batch negatives).
2. ``clip_warmup_epochs`` (1) epoch of the CLIP loss on all pairs at a low learning rate.
3. Every later epoch: cosine similarity of every pair, a 1-D two-component GMM (scikit-learn,
   ``random_state=0``), ``p(clean)`` = the posterior of the component with the larger mean. The first such
   epoch the safe set is ``p(clean) ≥ threshold`` (0.9); afterwards the top ``ratio · N`` pairs by
   ``p(clean)``, the ratio starting at the first safe share + ``ratio_step`` (0.01) and growing by
   ``ratio_step`` per epoch up to ``ratio_cap`` (0.85). Unimodal losses on the risky set, then the CLIP
   loss on the safe set.

Deliberate departures:

- Learning rates: one AdamW throughout; the unimodal warm-up at ``lr``, the CLIP warm-up epoch at
  ``lr · warmup_lr_scale`` (0.1), then a cosine from ``lr`` to ``lr / 100`` over the remaining epochs. The
  reference uses a 10,000-step linear warm-up (which keeps its first epochs' rate low) and per-phase cosine
  schedules ending at ``filter_lr = lr / 100``.
- The unimodal losses use NT-Xent with a fixed temperature (0.5, SimCLR's) rather than CLIP's learnable one;
  caption augmentation is a light EDA (random word deletion and one random swap) instead of EDA with
  WordNet synonyms; image augmentation is :func:`lessdata.contrastive.augment`.
- The CLIP loss is computed on unaugmented images (as :func:`train_clip`, the baseline it is compared with);
  the reference also augments during its CLIP epochs.
- No memory bank (off by default in the reference too).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import POSITIVE_INT, Interval, check_param
from ..errors import LessdataError
from ._common import _resolve_device
from .clip import clip_embeddings
from .images import augment, image_tensor
from .loop import _seeded
from .losses import clip_loss, nt_xent
from .models import TinyCLIP, Vocabulary, _texts

__all__ = ["SafeClipRun", "augment_caption", "clean_probability", "safe_ratios", "safe_split", "train_safeclip"]


def clean_probability(similarities, seed: int = 0) -> np.ndarray:
    """Posterior probability of the higher-mean component of a two-component 1-D Gaussian mixture fitted to
    ``similarities`` (SafeCLIP's ``fit_gmm_to_cos_sim``).

    Examples:
        >>> s = np.r_[np.random.default_rng(0).normal(0.8, 0.05, 90), np.random.default_rng(1).normal(0.1, 0.05, 10)]
        >>> p = clean_probability(s)
        >>> bool((p[:90] > 0.9).all() and (p[90:] < 0.1).all())
        True
    """
    from sklearn.mixture import GaussianMixture

    s = np.asarray(similarities, dtype=np.float64).reshape(-1)
    if s.size < 2 or not np.isfinite(s).all():
        raise LessdataError("the similarities must be at least two finite numbers")
    gmm = GaussianMixture(n_components=2, random_state=seed).fit(s[:, None])
    return gmm.predict_proba(s[:, None])[:, int(np.argmax(gmm.means_.ravel()))]


def _check_unit(value, name: str, low_open: bool = True) -> float:
    return float(check_param("SafeCLIP", name, value, [Interval(float, 0, 1, closed="right" if low_open else "both")]))


def safe_split(similarities, *, ratio: float | None = None, threshold: float = 0.9,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(safe, risky, p_clean)``: with ``ratio=None`` the safe pairs are those with ``p_clean ≥ threshold``;
    otherwise the ``int(ratio · N)`` pairs with the highest ``p_clean`` (ties: higher similarity first).

    Examples:
        >>> s = np.r_[np.full(8, 0.9), np.full(2, 0.1)] + np.linspace(0, 0.01, 10)
        >>> safe, risky, _ = safe_split(s)
        >>> sorted(risky.tolist())
        [8, 9]
    """
    s = np.asarray(similarities, dtype=np.float64).reshape(-1)
    threshold = _check_unit(threshold, "threshold", low_open=False)
    p = clean_probability(s, seed)
    if ratio is None:
        safe = np.flatnonzero(p >= threshold)
    else:
        ratio = _check_unit(ratio, "ratio", low_open=False)
        order = np.lexsort((-s, -p))  # by p_clean, then similarity, both descending
        safe = np.sort(order[: int(len(s) * ratio)])
    risky = np.setdiff1d(np.arange(len(s)), safe)
    return safe, risky, p


def safe_ratios(first_share: float, epochs: int, *, step: float = 0.01, cap: float = 0.85) -> list[float]:
    """The share of pairs trained with the CLIP loss in each of ``epochs`` filtering epochs: the first is
    ``first_share`` (the GMM's ``p ≥ threshold`` share), then ``min(previous + step, cap)``.

    Examples:
        >>> safe_ratios(0.5, 4, step=0.1, cap=0.65)
        [0.5, 0.6, 0.65, 0.65]
    """
    first_share = _check_unit(first_share, "first_share", low_open=False)
    step, cap = _check_unit(step, "ratio_step", low_open=False), _check_unit(cap, "ratio_cap")
    out, ratio = [], first_share
    for _ in range(int(check_param("SafeCLIP", "epochs", epochs, POSITIVE_INT))):
        out.append(ratio)
        ratio = min(ratio + step, cap)
    return out


def augment_caption(text: str, rng: np.random.Generator, delete: float = 0.1) -> str:
    """A light EDA view of a caption: each word dropped with probability ``delete`` (at least one kept),
    then, half of the time, two words swapped.

    Examples:
        >>> augment_caption("a striped shirt on a plain background", np.random.default_rng(0)).count(" ") <= 5
        True
    """
    words = text.split()
    kept = [w for w in words if rng.random() >= delete] or [words[int(rng.integers(len(words)))]] if words else []
    if len(kept) > 1 and rng.random() < 0.5:
        i, j = rng.choice(len(kept), size=2, replace=False)
        kept[i], kept[j] = kept[j], kept[i]
    return " ".join(kept)


@dataclass
class SafeClipRun:
    """What :func:`train_safeclip` returns: the ``model`` (eval mode), per-epoch ``losses`` and ``phases``
    (``"unimodal"``, ``"clip-warmup"``, ``"safe"``), and for every filtering epoch the share of pairs in the
    safe set (``safe_ratios``), and, when ``poisoned`` was given, the number of poisons in the safe set
    (``poisons_in_safe``)."""

    model: TinyCLIP
    losses: list[float] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    safe_ratios: list[float] = field(default_factory=list)
    poisons_in_safe: list[int] = field(default_factory=list)
    seconds: float = 0.0


def train_safeclip(images, texts, *, epochs: int = 20, unimodal_epochs: int = 5, clip_warmup_epochs: int = 1,
                   warmup_lr_scale: float = 0.1, threshold: float = 0.9, ratio_step: float = 0.01,
                   ratio_cap: float = 0.85, poisoned=None, vocab: Vocabulary | None = None, batch_size: int = 512,
                   lr: float = 2e-3, weight_decay: float = 0.05, embed_dim: int = 64, width: int = 32,
                   text_dim: int = 64, text_layers: int = 1, device: str | torch.device = "cpu", seed: int = 0,
                   progress=None) -> SafeClipRun:
    """Train a :class:`TinyCLIP` with SafeCLIP's schedule (see the module docstring); the model sizes and
    optimiser match :func:`train_clip`, so the two are compared at equal settings.

    ``poisoned``: optional boolean mask (benchmarks) to count the poisons that reach the safe set.
    """
    device = _resolve_device(device)
    data = image_tensor(images, device)
    texts = _texts(texts)
    n = len(data)
    if len(texts) != n:
        raise LessdataError(f"there are {len(texts)} texts but {n} images; give one caption per image")
    epochs = int(check_param("SafeCLIP", "epochs", epochs, POSITIVE_INT))
    batch_size = int(check_param("SafeCLIP", "batch_size", batch_size, [Interval(int, 2, None)]))
    for name, value in (("unimodal_epochs", unimodal_epochs), ("clip_warmup_epochs", clip_warmup_epochs)):
        check_param("SafeCLIP", name, value, [Interval(int, 0, None)])
    filtering = epochs - unimodal_epochs - clip_warmup_epochs
    if filtering < 1:
        raise LessdataError(f"epochs ({epochs}) must exceed unimodal_epochs + clip_warmup_epochs "
                            f"({unimodal_epochs + clip_warmup_epochs})")
    _check_unit(threshold, "threshold", low_open=False)
    _check_unit(warmup_lr_scale, "warmup_lr_scale")
    safe_ratios(0.5, 1, step=ratio_step, cap=ratio_cap)  # checks step and cap now
    if poisoned is not None:
        poisoned = np.asarray(poisoned)
        if poisoned.dtype != bool or poisoned.shape != (n,):
            raise LessdataError(f"poisoned must be a boolean mask with one entry per pair ({n})")
    vocab = Vocabulary.from_texts(texts) if vocab is None else vocab
    model = _seeded(seed, lambda: TinyCLIP(vocab, embed_dim=embed_dim, width=width, text_dim=text_dim,
                                           text_layers=text_layers, in_channels=data.shape[1])).to(device)
    tokens = model.tokenize(texts)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    order_rng, aug_rng = torch.Generator().manual_seed(seed), torch.Generator(device=device).manual_seed(seed + 1)
    text_rng = np.random.default_rng(seed + 2)
    run, start = SafeClipRun(model), time.perf_counter()
    if progress is not None:
        progress.total = epochs

    def batches(rows: np.ndarray):
        rows_t = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        order = rows_t[torch.randperm(len(rows_t), generator=order_rng)]
        size = min(batch_size, len(order))
        for b in range(len(order) // size if size >= 2 else 0):  # drop the last partial batch, as train_clip
            yield order[b * size:(b + 1) * size].to(device)

    def unimodal(rows):
        x = data[rows]
        views = [texts[i] for i in rows.tolist()]
        t1 = model.tokenize([augment_caption(t, text_rng) for t in views]).to(device)
        t2 = model.tokenize([augment_caption(t, text_rng) for t in views]).to(device)
        return (nt_xent(model.encode_image(augment(x, aug_rng)), model.encode_image(augment(x, aug_rng)))
                + nt_xent(model.encode_text(t1), model.encode_text(t2)))

    def crossmodal(rows):
        return clip_loss(model.encode_image(data[rows]), model.encode_text(tokens[rows]), model.logit_scale)

    def epoch_of(step_loss, rows, rate):
        for group in opt.param_groups:
            group["lr"] = rate
        model.train()
        total, count = 0.0, 0
        for batch in batches(rows):
            loss = step_loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()), count + 1
        if count and not math.isfinite(total):
            raise LessdataError("training diverged (non-finite loss); lower lr")
        return total / max(count, 1)

    everything = np.arange(n)
    ratios: list[float] = []
    for epoch in range(epochs):
        if epoch < unimodal_epochs:
            run.losses.append(epoch_of(unimodal, everything, lr))
            run.phases.append("unimodal")
        elif epoch < unimodal_epochs + clip_warmup_epochs:
            run.losses.append(epoch_of(crossmodal, everything, lr * warmup_lr_scale))
            run.phases.append("clip-warmup")
        else:
            k = epoch - unimodal_epochs - clip_warmup_epochs
            v, t = clip_embeddings(model, data, texts)
            similarity = (v * t).sum(axis=1)
            if k == 0:
                safe, risky, _ = safe_split(similarity, threshold=threshold, seed=0)
                ratios = safe_ratios(len(safe) / n, filtering, step=ratio_step, cap=ratio_cap)
            else:
                safe, risky, _ = safe_split(similarity, ratio=ratios[k], seed=0)
            run.safe_ratios.append(len(safe) / n)
            if poisoned is not None:
                run.poisons_in_safe.append(int(poisoned[safe].sum()))
            rate = lr / 100 + (lr - lr / 100) * 0.5 * (1 + math.cos(math.pi * k / filtering))
            loss = epoch_of(unimodal, risky, rate) if len(risky) >= 2 else 0.0
            run.losses.append(loss + (epoch_of(crossmodal, safe, rate) if len(safe) >= 2 else 0.0))
            run.phases.append("safe")
        if progress is not None:
            progress.update(1)
    model.eval()
    run.seconds = time.perf_counter() - start
    return run
