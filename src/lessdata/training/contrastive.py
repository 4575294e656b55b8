"""Small contrastive trainers to measure contrastive data selection with: SimCLR and a tiny CLIP.

- **SimCLR** (Chen, Kornblith, Norouzi & Hinton, ICML 2020, "A Simple Framework for Contrastive Learning of
  Visual Representations"): a small CNN encoder and an MLP projection head trained with the NT-Xent loss on
  two augmented views of each image (random resized crops, flips, brightness/contrast jitter, Gaussian noise,
  all batched on the training device). :func:`linear_probe` measures the frozen features; :func:`embed`
  gives the embeddings a selection method needs (SAS averages them over augmented views, ``augmentations=k``).
- **Tiny CLIP** (Radford et al., ICML 2021, "Learning Transferable Visual Models From Natural Language
  Supervision"): the same CNN for images, token embeddings + a one-layer transformer + mean pooling for
  text, a symmetric InfoNCE loss with a learnable temperature. :func:`make_captions` writes Fashion-MNIST
  captions from varied templates with a given fraction mismatched (the noisy web pairs that ClipCov and
  CLIP-score filtering should drop); :func:`zero_shot_accuracy` scores a model with class-name prompts.

Both trainers take the full data plus an optional ``subset`` (a :class:`~lessdata.Coreset` or indices) and
optional per-example ``weights`` (e.g. ``coreset.weights``), so a selection is trained on exactly as the
full data is. Proxy models for selection are short runs of the same trainers; ``train_clip(snapshots=(e,))``
also keeps the model after epoch ``e`` (C-RHO's partially trained model).

Example::

    from lessdata.training.contrastive import embed, linear_probe, train_simclr

    run = train_simclr(X_train, epochs=20, device="cuda")          # uint8 (n, 28, 28) images
    linear_probe(run.encoder, (X_train, y_train), (X_test, y_test))
    emb = embed(run.encoder, X_train, augmentations=4)              # SAS's proxy embeddings
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LessdataError

__all__ = [
    "ADJECTIVES",
    "CAPTION_TEMPLATES",
    "FASHION_MNIST_NAMES",
    "PROMPT_TEMPLATES",
    "Captions",
    "ContrastiveRun",
    "ConvEncoder",
    "SimCLR",
    "TextEncoder",
    "TinyCLIP",
    "Vocabulary",
    "augment",
    "class_prompt_embeddings",
    "clip_embeddings",
    "clip_loss",
    "embed",
    "image_tensor",
    "linear_probe",
    "make_captions",
    "nt_xent",
    "train_clip",
    "train_simclr",
    "zero_shot_accuracy",
]


# ----------------------------------------------------------------------------------------------- checks
def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise LessdataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0 \
            or not math.isfinite(value):
        raise LessdataError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def image_tensor(images, device: str | torch.device = "cpu") -> torch.Tensor:
    """Images as a float32 ``(n, C, H, W)`` tensor on ``device``.

    Accepts numpy arrays or tensors of shape ``(n, H, W)``, ``(n, C, H, W)`` or flat square ``(n, H*W)``;
    ``uint8`` images are scaled to ``[0, 1]``, other numeric types are cast.

    Example:
        >>> image_tensor(np.zeros((2, 28, 28), dtype=np.uint8)).shape
        torch.Size([2, 1, 28, 28])
    """
    if isinstance(images, torch.Tensor):
        x = images.detach()
    else:
        arr = np.asarray(images)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise LessdataError(f"images must be a numeric array, got dtype {arr.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise LessdataError(f"flat images must have a square number of pixels, got {x.shape[1]}")
        x = x.reshape(len(x), 1, side, side)
    elif x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim != 4:
        raise LessdataError(f"images must have shape (n, H, W), (n, C, H, W) or (n, H*W), got {tuple(x.shape)}")
    if 0 in x.shape:
        raise LessdataError(f"images are empty (shape {tuple(x.shape)})")
    x = x.to(device)
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if not torch.isfinite(x).all():
        raise LessdataError("images contain NaN or infinite values")
    return x.contiguous()


def _subset_and_weights(n: int, subset, weights) -> tuple[np.ndarray, np.ndarray | None]:
    """Training positions (into the data) and their weights (or ``None``), checked."""
    from ..coreset import Coreset

    if subset is None:
        idx = np.arange(n)
    else:
        idx = np.asarray(subset.indices if isinstance(subset, Coreset) else subset)
        if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise LessdataError(f"subset must be a Coreset or a 1-D array of integer indices, got {idx.dtype} "
                                f"of shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise LessdataError(f"subset index {int(idx.min() if idx.min() < 0 else idx.max())} is out of range "
                                f"for {n} examples")
        idx = idx.astype(np.int64)
    if len(idx) < 2:
        raise LessdataError(f"contrastive training needs at least 2 examples, the subset has {len(idx)}")
    if weights is None:
        return idx, None
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(idx):
        raise LessdataError(f"weights has {len(w)} entries but there are {len(idx)} training examples "
                            "(one weight per subset index)")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise LessdataError("weights must be finite, non-negative and not all zero")
    return idx, (w / w.mean()).astype(np.float32)


# ------------------------------------------------------------------------------------------ augmentations
def augment(x: torch.Tensor, generator: torch.Generator | None = None, *, scale=(0.5, 1.0),
            ratio=(3 / 4, 4 / 3), flip: float = 0.5, jitter: float = 0.4, noise: float = 0.1) -> torch.Tensor:
    """One random view of each image of a batch ``(n, C, H, W)``, all on the batch's device (no PIL).

    Per image: a random resized crop (area share in ``scale``, aspect ratio in ``ratio``, resampled
    bilinearly to the full size), a horizontal flip with probability ``flip``, brightness and contrast
    jitter (factors in ``1 ± jitter``) and Gaussian noise with a standard deviation drawn from
    ``[0, noise]``: SimCLR's augmentations (Chen et al., 2020) for grayscale images. Returns a new tensor of
    the same shape and dtype.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> v = augment(torch.rand(4, 1, 28, 28), g)
        >>> v.shape, v.dtype
        (torch.Size([4, 1, 28, 28]), torch.float32)
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise LessdataError("augment needs a floating-point image batch of shape (n, C, H, W); "
                            "convert images with image_tensor() first")
    if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
        raise LessdataError(f"scale must satisfy 0 < min <= max <= 1 and ratio 0 < min <= max, got {scale}, "
                            f"{ratio}")
    n, dev = x.shape[0], x.device
    u = torch.rand(n, 7, generator=generator, device=dev)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    # affine_grid maps output coordinates in [-1, 1] to input ones: a crop of width sx, centred at tx
    sx = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)
    sy = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)
    tx, ty = (1 - sx) * (2 * u[:, 2] - 1), (1 - sy) * (2 * u[:, 3] - 1)
    sign = torch.where(u[:, 4] < flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sx * sign, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    contrast = (1 + jitter * (2 * u[:, 5] - 1)).view(n, 1, 1, 1).to(x.dtype)
    brightness = (1 + jitter * (2 * u[:, 6] - 1)).view(n, 1, 1, 1).to(x.dtype)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean) * brightness
    sigma = noise * torch.rand(n, 1, 1, 1, generator=generator, device=dev, dtype=x.dtype)
    return out + sigma * torch.randn(out.shape, generator=generator, device=dev, dtype=x.dtype)


# ------------------------------------------------------------------------------------------------ models
class ConvEncoder(nn.Sequential):
    """A small CNN image encoder: four 3x3 conv-BN-ReLU blocks (``width``, ``2·width`` stride 2, ``4·width``
    stride 2, ``4·width``), global average pooling. ``out_features = 4·width`` (128 by default).

    Example:
        >>> ConvEncoder(width=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 32])
    """

    def __init__(self, width: int = 32, in_channels: int = 1):
        w = _positive_int(width, "width")
        _positive_int(in_channels, "in_channels")

        def block(c_in, c_out, stride):
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]

        super().__init__(*block(in_channels, w, 1), *block(w, 2 * w, 2), *block(2 * w, 4 * w, 2),
                         *block(4 * w, 4 * w, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = 4 * w


class SimCLR(nn.Module):
    """SimCLR network: an image ``encoder`` (its features are what a linear probe reads) and a 2-layer MLP
    projection ``head`` (where the NT-Xent loss is applied), as in Chen et al. (2020).

    Example:
        >>> SimCLR(width=8, projection_dim=16)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 16])
    """

    def __init__(self, encoder: nn.Module | None = None, *, width: int = 32, projection_dim: int = 64,
                 in_channels: int = 1):
        super().__init__()
        self.encoder = encoder if encoder is not None else ConvEncoder(width, in_channels)
        features = self.encoder.out_features
        self.head = nn.Sequential(nn.Linear(features, features), nn.ReLU(inplace=True),
                                  nn.Linear(features, _positive_int(projection_dim, "projection_dim")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class Vocabulary:
    """A word vocabulary for short captions: lower-case words (hyphenated words stay one token), id 0 is
    padding and id 1 unknown words.

    Example:
        >>> vocab = Vocabulary.from_texts(["a photo of a t-shirt", "a bag"])
        >>> vocab.words
        ['<pad>', '<unk>', 'a', 'bag', 'of', 'photo', 't-shirt']
        >>> vocab.encode(["a bag", "a red bag"], max_len=4).tolist()
        [[2, 3, 0, 0], [2, 1, 3, 0]]
    """

    PAD, UNK = 0, 1
    _WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

    def __init__(self, words: Sequence[str]):
        specials = ["<pad>", "<unk>"]
        self.words = specials + sorted(set(words) - set(specials))
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def split(cls, text: str) -> list[str]:
        return cls._WORD.findall(str(text).lower())

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> Vocabulary:
        return cls([word for text in _texts(texts) for word in cls.split(text)])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts: Sequence[str], max_len: int = 16) -> torch.Tensor:
        """Token ids ``(n, max_len)`` (int64), padded with 0 and truncated; an empty text becomes ``<unk>``."""
        texts = _texts(texts)
        out = np.zeros((len(texts), _positive_int(max_len, "max_len")), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.index.get(word, self.UNK) for word in self.split(text)][:max_len] or [self.UNK]
            out[row, : len(ids)] = ids
        return torch.from_numpy(out)


def _texts(texts) -> list[str]:
    if isinstance(texts, Captions):
        texts = texts.texts
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise LessdataError("texts must be a non-empty list of strings")
    return [str(t) for t in texts]


class TextEncoder(nn.Module):
    """Token embeddings plus learned positions, ``layers`` pre-norm transformer layers (0: none, a bag of
    words), and a mean over the non-padding tokens. ``out_features = dim``.

    Example:
        >>> TextEncoder(vocab_size=10, dim=16)(torch.tensor([[2, 3, 0], [4, 0, 0]])).shape
        torch.Size([2, 16])
    """

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 1, heads: int = 4, max_len: int = 16):
        super().__init__()
        self.tokens = nn.Embedding(_positive_int(vocab_size, "vocab_size", 2), _positive_int(dim, "dim"),
                                   padding_idx=0)
        self.position = nn.Parameter(0.02 * torch.randn(_positive_int(max_len, "max_len"), dim))
        layers = _positive_int(layers, "layers", 0)
        if layers and dim % _positive_int(heads, "heads"):
            raise LessdataError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.layers = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True),
            layers, enable_nested_tensor=False) if layers else None
        self.out_features = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.position.shape[0]:
            raise LessdataError(f"texts of {tokens.shape[1]} tokens are longer than max_len={self.position.shape[0]}")
        mask = tokens != Vocabulary.PAD
        h = self.tokens(tokens) + self.position[: tokens.shape[1]]
        if self.layers is not None:
            h = self.layers(h, src_key_padding_mask=~mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1)


class TinyCLIP(nn.Module):
    """A tiny CLIP (Radford et al., 2021): a :class:`ConvEncoder` and a :class:`TextEncoder`, each followed
    by a linear projection into a joint ``embed_dim`` space, and a learnable ``logit_scale`` (the log of
    the inverse temperature, initialised at ``log(1/temperature)``). It keeps its :class:`Vocabulary`, so
    ``model.tokenize(texts)`` turns captions or prompts into token ids.

    Example:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=8, embed_dim=16, text_dim=16)
        >>> model.encode_text(model.tokenize(["a bag"])).shape
        torch.Size([1, 16])
    """

    def __init__(self, vocab: Vocabulary, *, embed_dim: int = 64, width: int = 32, text_dim: int = 64,
                 text_layers: int = 1, max_len: int = 16, temperature: float = 0.07, in_channels: int = 1):
        super().__init__()
        if not isinstance(vocab, Vocabulary):
            raise LessdataError("TinyCLIP needs a Vocabulary (Vocabulary.from_texts(captions))")
        self.vocab, self.max_len = vocab, _positive_int(max_len, "max_len")
        self.image_encoder = ConvEncoder(width, in_channels)
        self.image_projection = nn.Linear(self.image_encoder.out_features, _positive_int(embed_dim, "embed_dim"),
                                          bias=False)
        self.text_encoder = TextEncoder(len(vocab), text_dim, text_layers, max_len=max_len)
        self.text_projection = nn.Linear(text_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / _positive_float(temperature, "temperature"))))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_projection(self.image_encoder(x))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text_projection(self.text_encoder(tokens))

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.vocab.encode(texts, self.max_len).to(_device_of(self))


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


# ------------------------------------------------------------------------------------------------ losses
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, weights: torch.Tensor | None = None,
            reduction: str = "mean") -> torch.Tensor:
    """NT-Xent loss of SimCLR (Chen et al., 2020) for two views ``z1[i]``, ``z2[i]`` of each example.

    Each of the ``2B`` projections is an anchor whose positive is the other view of its example and whose
    negatives are the other ``2B − 2`` projections; the similarity is cosine over ``temperature``. An
    example's loss is the mean over its two anchors. ``reduction="none"`` returns the ``B`` per-example
    losses; ``"mean"`` their mean, weighted by ``weights`` when given.

    Example:
        >>> z = torch.eye(4)
        >>> round(float(nt_xent(z, z, temperature=0.1)), 4)   # positives identical, negatives orthogonal
        0.0003
    """
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise LessdataError(f"nt_xent needs two views of the same shape (B >= 2, d), got {tuple(z1.shape)} and "
                            f"{tuple(z2.shape)}")
    temperature = _positive_float(temperature, "temperature")
    b = z1.shape[0]
    with torch.autocast(device_type=z1.device.type, enabled=False):  # the loss in float32, also under amp
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        sim = (z @ z.T) / temperature
        sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
        positives = torch.arange(2 * b, device=z.device).roll(b)  # anchor i's positive: i + b (mod 2b)
        losses = F.cross_entropy(sim, positives, reduction="none")
        return _reduce((losses[:b] + losses[b:]) / 2, weights, reduction)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale, weights: torch.Tensor | None = None,
              reduction: str = "mean") -> torch.Tensor:
    """CLIP's symmetric InfoNCE loss (Radford et al., 2021) for a batch of ``B`` aligned image–text pairs.

    ``logits = exp(logit_scale) · cos(image_i, text_j)``; example ``i``'s loss is the mean of the
    image→text cross-entropy of row ``i`` and the text→image cross-entropy of column ``i``.
    ``logit_scale`` (the log inverse temperature, a float or CLIP's learnable scalar) is clamped at
    ``log(100)`` as in CLIP. Reduction and ``weights`` as in :func:`nt_xent`.

    Example:
        >>> e = torch.eye(3)
        >>> float(clip_loss(e, e, logit_scale=0.0)) > float(clip_loss(e, e, logit_scale=3.0))
        True
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape or image_emb.shape[0] < 2:
        raise LessdataError(f"clip_loss needs aligned image and text embeddings of the same shape (B >= 2, d), "
                            f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    with torch.autocast(device_type=image_emb.device.type, enabled=False):  # the loss in float32
        scale = torch.as_tensor(logit_scale, device=image_emb.device).float().clamp(max=math.log(100))
        v, t = F.normalize(image_emb.float(), dim=1), F.normalize(text_emb.float(), dim=1)
        logits = scale.exp() * (v @ t.T)
        target = torch.arange(len(v), device=v.device)
        losses = (F.cross_entropy(logits, target, reduction="none")
                  + F.cross_entropy(logits.T, target, reduction="none")) / 2
        return _reduce(losses, weights, reduction)


def _reduce(losses: torch.Tensor, weights, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return losses
    if reduction != "mean":
        raise LessdataError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if weights is None:
        return losses.mean()
    w = torch.as_tensor(weights, dtype=losses.dtype, device=losses.device).reshape(-1)
    if w.shape[0] != losses.shape[0]:
        raise LessdataError(f"got {w.shape[0]} weights for a batch of {losses.shape[0]} examples")
    return (losses * w).sum() / w.sum().clamp(min=1e-12)


# --------------------------------------------------------------------------------------------- training
@dataclass
class ContrastiveRun:
    """What :func:`train_simclr` / :func:`train_clip` return.

    Attributes:
        model: the trained :class:`SimCLR` or :class:`TinyCLIP` (on the training device, eval mode).
        losses: mean training loss of each epoch.
        seconds: wall-clock training time.
        steps: optimizer steps taken.
        n_train: number of training examples (the subset's size).
        snapshots: ``{epoch: copy of the model after that epoch}`` for the epochs asked for.
    """

    model: nn.Module
    losses: list[float]
    seconds: float
    steps: int
    n_train: int
    snapshots: dict[int, nn.Module] = field(default_factory=dict)

    @property
    def encoder(self) -> nn.Module:
        """The image encoder (what :func:`embed` and :func:`linear_probe` take)."""
        return self.model.encoder if isinstance(self.model, SimCLR) else self.model.image_encoder


def _seeded(seed: int, build):
    """Build a model from ``seed`` without touching the global torch random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _train(model: nn.Module, n_train: int, step_loss, *, epochs, batch_size, lr, weight_decay, seed, device,
           amp, snapshots, progress) -> ContrastiveRun:
    """AdamW with a cosine learning rate over all steps; ``step_loss(positions, weights_or_None)`` gives the
    loss of one batch of positions into the training subset."""
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size", 2)
    lr = _positive_float(lr, "lr")
    snapshots = sorted({_positive_int(e, "snapshot epoch") for e in snapshots})
    if snapshots and snapshots[-1] > epochs:
        raise LessdataError(f"snapshot epoch {snapshots[-1]} is after the last epoch ({epochs})")
    batch_size = min(batch_size, n_train)
    per_epoch = n_train // batch_size  # drop the last partial batch: a tiny batch has too few negatives
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * per_epoch)
    order_rng = torch.Generator().manual_seed(seed)
    if progress is not None:
        progress.total = epochs * per_epoch
    losses, kept, start = [], {}, time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n_train, generator=order_rng).to(device)
        total = torch.zeros((), device=device)
        for b in range(per_epoch):
            positions = order[b * batch_size:(b + 1) * batch_size]
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
                loss = step_loss(positions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach()
            if progress is not None:
                progress.update(1)
        losses.append(float(total) / per_epoch)  # one device sync per epoch
        if not math.isfinite(losses[-1]):
            raise LessdataError(f"training diverged (loss {losses[-1]} in epoch {epoch}); lower lr")
        if epoch in snapshots:
            kept[epoch] = copy.deepcopy(model).eval()
    model.eval()
    return ContrastiveRun(model=model, losses=losses, seconds=time.perf_counter() - start,
                          steps=epochs * per_epoch, n_train=n_train, snapshots=kept)


def _resolve_device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise LessdataError(f"unknown device {device!r}: {exc}") from None


def train_simclr(images, *, subset=None, weights=None, epochs: int = 20, batch_size: int = 512,
                 temperature: float = 0.5, lr: float = 2e-3, weight_decay: float = 1e-4, width: int = 32,
                 projection_dim: int = 64, device: str | torch.device = "cpu", seed: int = 0,
                 snapshots: Sequence[int] = (), amp: bool | None = None, progress=None) -> ContrastiveRun:
    """Train SimCLR (Chen et al., 2020) from scratch on ``images`` (or on ``subset`` of them).

    Args:
        images: the whole image set, e.g. uint8 ``(n, 28, 28)`` (see :func:`image_tensor`); it is moved to
            ``device`` once and augmented there, batch by batch.
        subset: a :class:`~lessdata.Coreset` or an index array: train on those rows only.
        weights: optional per-example weights aligned with ``subset`` (e.g. ``coreset.weights``): the NT-Xent
            loss of each anchor is weighted (normalised to mean 1).
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule over all steps; each epoch sees
            the training examples once in ``n // batch_size`` full batches (one batch when fewer).
        temperature: NT-Xent temperature (0.5, SimCLR's choice for small batches).
        width, projection_dim: encoder width (features ``4·width``) and projection size.
        snapshots: epochs after which to keep a copy of the model (``run.snapshots``).
        amp: bfloat16 autocast (default: on for CUDA).
        progress: tqdm-compatible object, advanced once per step.

    Example:
        >>> X = np.random.default_rng(0).integers(0, 255, size=(64, 28, 28), dtype=np.uint8)
        >>> run = train_simclr(X, epochs=1, batch_size=32, width=4)
        >>> len(run.losses), run.steps, run.encoder.out_features
        (1, 2, 16)
    """
    device = _resolve_device(device)
    data = image_tensor(images, device)
    idx, w = _subset_and_weights(len(data), subset, weights)
    temperature = _positive_float(temperature, "temperature")
    model = _seeded(seed, lambda: SimCLR(width=width, projection_dim=projection_dim,
                                         in_channels=data.shape[1])).to(device)
    idx_t = torch.from_numpy(idx).to(device)
    w_t = None if w is None else torch.from_numpy(w).to(device)
    aug_rng = torch.Generator(device=device).manual_seed(seed + 1)

    def step_loss(positions):
        x = data[idx_t[positions]]
        views = torch.cat([augment(x, aug_rng), augment(x, aug_rng)])
        z1, z2 = model(views).chunk(2)
        return nt_xent(z1, z2, temperature, None if w_t is None else w_t[positions])

    return _train(model, len(idx), step_loss, epochs=epochs, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, seed=seed, device=device, amp=device.type == "cuda" if amp is None
                  else bool(amp), snapshots=snapshots, progress=progress)


@torch.no_grad()
def _batched(fn, n: int, batch_size: int) -> torch.Tensor:
    return torch.cat([fn(slice(s, s + batch_size)).float() for s in range(0, n, batch_size)])


@torch.no_grad()
def embed(encoder: nn.Module, images, *, augmentations: int = 0, batch_size: int = 1024, seed: int = 0,
          **augment_kwargs) -> np.ndarray:
    """Encoder features of ``images`` as float32 numpy ``(n, features)``, in eval mode.

    ``augmentations=k > 0`` returns the mean feature of ``k`` random augmented views of each image
    (:func:`augment`, seeded): SAS (Joshi & Mirzasoleiman, 2023) approximates the augmentation distance
    between examples by a proxy model's embeddings of their augmented views. A :class:`SimCLR` model or a
    :class:`TinyCLIP` may be passed for their image encoder.

    Example:
        >>> enc = ConvEncoder(width=4)
        >>> embed(enc, np.zeros((3, 28, 28), np.uint8), augmentations=2).shape
        (3, 16)
    """
    encoder = encoder.encoder if isinstance(encoder, SimCLR) else encoder
    encoder = encoder.image_encoder if isinstance(encoder, TinyCLIP) else encoder
    augmentations = _positive_int(augmentations, "augmentations", 0)
    batch_size = _positive_int(batch_size, "batch_size")
    device = _device_of(encoder)
    data = image_tensor(images, device)
    was_training = encoder.training
    encoder.eval()
    try:
        if not augmentations:
            out = _batched(lambda s: encoder(data[s]), len(data), batch_size)
        else:
            rng = torch.Generator(device=device).manual_seed(seed)
            out = sum(_batched(lambda s: encoder(augment(data[s], rng, **augment_kwargs)), len(data), batch_size)
                      for _ in range(augmentations)) / augmentations
    finally:
        encoder.train(was_training)
    return out.cpu().numpy().astype(np.float32)


def _labels(labels, n: int, what: str) -> torch.Tensor:
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise LessdataError(f"{what} labels must be 1-D with one label per image ({n}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise LessdataError(f"{what} labels must be non-negative integer class ids, got dtype {y.dtype}")
    return torch.from_numpy(y.astype(np.int64))


def linear_probe(encoder: nn.Module, train, test, *, max_iter: int = 200, weight_decay: float = 1e-4,
                 batch_size: int = 1024) -> float:
    """Test accuracy of a linear classifier on frozen encoder features (the standard SimCLR evaluation).

    ``train`` and ``test`` are ``(images, labels)`` pairs. Features are standardised with the training
    mean and std; multinomial logistic regression (L2 penalty ``weight_decay``) is fitted from zero by
    full-batch L-BFGS on the encoder's device: deterministic, and a second or two for 60,000 examples.

    Example:
        >>> X = np.random.default_rng(0).integers(0, 255, size=(40, 28, 28), dtype=np.uint8)
        >>> y = np.arange(40) % 2
        >>> 0.0 <= linear_probe(ConvEncoder(width=4), (X, y), (X, y), max_iter=5) <= 1.0
        True
    """
    for name, pair in (("train", train), ("test", test)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise LessdataError(f"{name} must be an (images, labels) pair")
    max_iter = _positive_int(max_iter, "max_iter")
    device = _device_of(encoder.encoder if isinstance(encoder, SimCLR) else encoder)
    Z = torch.from_numpy(embed(encoder, train[0], batch_size=batch_size)).to(device)
    Zt = torch.from_numpy(embed(encoder, test[0], batch_size=batch_size)).to(device)
    y = _labels(train[1], len(Z), "train").to(device)
    yt = _labels(test[1], len(Zt), "test").to(device)
    mean, std = Z.mean(0), Z.std(0).clamp(min=1e-6)
    Z, Zt = (Z - mean) / std, (Zt - mean) / std
    classes = int(max(y.max(), yt.max())) + 1
    W = torch.zeros(Z.shape[1], classes, device=device, requires_grad=True)
    b = torch.zeros(classes, device=device, requires_grad=True)
    lbfgs = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = F.cross_entropy(Z @ W + b, y) + weight_decay * (W * W).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        lbfgs.step(closure)
    with torch.no_grad():
        return float(((Zt @ W + b).argmax(1) == yt).float().mean())


# --------------------------------------------------------------------------------------------- captions
FASHION_MNIST_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                       "ankle boot")
PROMPT_TEMPLATES = ("a photo of a {name}", "a picture of a {name}", "an image showing a {name}",
                    "a product photo of a {name}")
CAPTION_TEMPLATES = PROMPT_TEMPLATES + ("a {adj} {name}", "a {adj} {name} on a plain background",
                                        "a photo of a {adj} {name}", "close-up of a {adj} {name}",
                                        "my new {adj} {name}", "{adj} {name} for sale")
ADJECTIVES = ("black", "white", "grey", "dark", "light", "striped", "plain", "cotton", "leather", "casual",
              "vintage", "stylish")


@dataclass
class Captions:
    """Generated captions (see :func:`make_captions`).

    Attributes:
        texts: one caption per image.
        classes: int64, the class each caption names.
        mismatched: bool, True where the caption names another class than the image's label.
    """

    texts: list[str]
    classes: np.ndarray
    mismatched: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


def make_captions(labels, class_names: Sequence[str] = FASHION_MNIST_NAMES, *, mismatch: float = 0.3,
                  seed: int = 0, templates: Sequence[str] = CAPTION_TEMPLATES,
                  adjectives: Sequence[str] = ADJECTIVES) -> Captions:
    """Captions for labelled images, a given fraction of them mismatched: noisy image–text pairs.

    Each caption fills a random template (``{name}``: the class name, ``{adj}``: a random adjective, e.g.
    "a striped shirt on a plain background"). Exactly ``round(mismatch · n)`` captions, at seeded random
    positions, name a class other than the image's (uniform over the other classes), as web-scraped pairs
    whose text does not describe the image. Deterministic given ``seed``.

    Example:
        >>> caps = make_captions(np.array([0, 1, 2, 3]), mismatch=0.5, seed=0)
        >>> int(caps.mismatched.sum()), len(caps.texts)
        (2, 4)
    """
    y = np.asarray(labels)
    n_classes = len(class_names)
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer):
        raise LessdataError(f"labels must be a non-empty 1-D integer array, got {y.dtype} of shape {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise LessdataError(f"labels must be class ids in 0..{n_classes - 1} (one per class name), got "
                            f"{int(y.min())}..{int(y.max())}")
    if isinstance(mismatch, bool) or not isinstance(mismatch, (int, float, np.number)) or not 0 <= mismatch <= 1:
        raise LessdataError(f"mismatch must be a fraction in [0, 1], got {mismatch!r}")
    if mismatch > 0 and n_classes < 2:
        raise LessdataError("mismatched captions need at least 2 class names")
    if not templates or any("{name}" not in t for t in templates):
        raise LessdataError("every caption template must contain {name}")
    if any("{adj}" in t for t in templates) and not adjectives:
        raise LessdataError("templates use {adj} but no adjectives were given")
    rng = np.random.default_rng(seed)
    n = len(y)
    mismatched = np.zeros(n, dtype=bool)
    mismatched[rng.choice(n, size=int(round(mismatch * n)), replace=False)] = True
    classes = y.astype(np.int64).copy()
    classes[mismatched] = (classes[mismatched] + rng.integers(1, max(n_classes, 2), size=mismatched.sum())) \
        % n_classes
    which = rng.integers(len(templates), size=n)
    adjective = rng.integers(max(len(adjectives), 1), size=n)
    texts = [templates[t].format(name=class_names[c], adj=adjectives[a] if adjectives else "")
             for t, c, a in zip(which, classes, adjective, strict=True)]
    return Captions(texts=texts, classes=classes, mismatched=mismatched)


# -------------------------------------------------------------------------------------------------- CLIP
def train_clip(images, texts, *, subset=None, weights=None, vocab: Vocabulary | None = None, epochs: int = 20,
               batch_size: int = 512, lr: float = 2e-3, weight_decay: float = 0.05, embed_dim: int = 64,
               width: int = 32, text_dim: int = 64, text_layers: int = 1, augment_images: bool = False,
               device: str | torch.device = "cpu", seed: int = 0, snapshots: Sequence[int] = (),
               amp: bool | None = None, progress=None) -> ContrastiveRun:
    """Train a :class:`TinyCLIP` (Radford et al., 2021) from scratch on image–caption pairs.

    Args:
        images: all images (see :func:`image_tensor`); ``texts``: one caption per image (a list of strings
            or :class:`Captions`).
        subset, weights: train on these rows only, with these per-example loss weights (as in
            :func:`train_simclr`).
        vocab: the word vocabulary; default: built from all ``texts`` (words outside it become ``<unk>``).
        epochs, batch_size, lr, weight_decay: AdamW, cosine schedule over all steps (no weight decay on
            biases, norms and the temperature).
        embed_dim, width, text_dim, text_layers: model sizes (:class:`TinyCLIP`).
        augment_images: also apply :func:`augment` to the images of each batch.
        snapshots: epochs after which to keep a copy of the model (e.g. ``(1,)``: C-RHO's partially trained
            model, while the returned model is the longer-trained one).

    Example:
        >>> X = np.random.default_rng(0).integers(0, 255, size=(40, 28, 28), dtype=np.uint8)
        >>> caps = make_captions(np.arange(40) % 10, mismatch=0.3)
        >>> run = train_clip(X, caps, epochs=2, batch_size=20, width=4, embed_dim=8, text_dim=8, snapshots=(1,))
        >>> run.steps, sorted(run.snapshots)
        (4, [1])
    """
    device = _resolve_device(device)
    data = image_tensor(images, device)
    texts = _texts(texts)
    if len(texts) != len(data):
        raise LessdataError(f"there are {len(texts)} texts but {len(data)} images; give one caption per image")
    vocab = Vocabulary.from_texts(texts) if vocab is None else vocab
    model = _seeded(seed, lambda: TinyCLIP(vocab, embed_dim=embed_dim, width=width, text_dim=text_dim,
                                           text_layers=text_layers, in_channels=data.shape[1])).to(device)
    tokens = model.tokenize(texts)
    idx, w = _subset_and_weights(len(data), subset, weights)
    idx_t = torch.from_numpy(idx).to(device)
    w_t = None if w is None else torch.from_numpy(w).to(device)
    aug_rng = torch.Generator(device=device).manual_seed(seed + 1)

    def step_loss(positions):
        rows = idx_t[positions]
        x = augment(data[rows], aug_rng) if augment_images else data[rows]
        return clip_loss(model.encode_image(x), model.encode_text(tokens[rows]), model.logit_scale,
                         None if w_t is None else w_t[positions])

    return _train(model, len(idx), step_loss, epochs=epochs, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, seed=seed, device=device, amp=device.type == "cuda" if amp is None
                  else bool(amp), snapshots=snapshots, progress=progress)


def _normalized(x: torch.Tensor) -> np.ndarray:
    return F.normalize(x.float(), dim=-1).cpu().numpy().astype(np.float32)


@torch.no_grad()
def clip_embeddings(model: TinyCLIP, images, texts, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm image and caption embeddings ``(n, embed_dim)`` of row-aligned pairs: the inputs of
    ``clipcov``, ``clip_score`` and (from two models) ``c_rho``.

    Example:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=4, embed_dim=8, text_dim=8)
        >>> v, t = clip_embeddings(model, np.zeros((2, 28, 28), np.uint8), ["a bag", "a bag"])
        >>> v.shape, t.shape
        ((2, 8), (2, 8))
    """
    data = image_tensor(images, _device_of(model))
    texts = _texts(texts)
    if len(texts) != len(data):
        raise LessdataError(f"there are {len(texts)} texts but {len(data)} images; give one caption per image")
    batch_size = _positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    try:
        tokens = model.tokenize(texts)
        v = _batched(lambda s: model.encode_image(data[s]), len(data), batch_size)
        t = _batched(lambda s: model.encode_text(tokens[s]), len(tokens), batch_size)
    finally:
        model.train(was_training)
    return _normalized(v), _normalized(t)


@torch.no_grad()
def class_prompt_embeddings(model: TinyCLIP, class_names: Sequence[str] = FASHION_MNIST_NAMES,
                            templates: Sequence[str] = PROMPT_TEMPLATES) -> np.ndarray:
    """Unit-norm text embeddings ``(classes, templates, embed_dim)`` of the prompts "template with each
    class name": the ``class_prompts=`` of zero-shot latent classes (see
    :func:`lessdata.signals.embeddings.zero_shot_classes`).

    Example:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=4, embed_dim=8, text_dim=8)
        >>> class_prompt_embeddings(model, ["bag", "coat"], ["a {name}"]).shape
        (2, 1, 8)
    """
    if isinstance(class_names, str) or not class_names or isinstance(templates, str) or not templates:
        raise LessdataError("class_names and templates must be non-empty lists of strings")
    if any("{name}" not in t for t in templates):
        raise LessdataError("every prompt template must contain {name}")
    prompts = [t.format(name=c, adj="") for c in class_names for t in templates]
    was_training = model.training
    model.eval()
    try:
        emb = model.encode_text(model.tokenize(prompts))
    finally:
        model.train(was_training)
    return _normalized(emb).reshape(len(class_names), len(templates), -1)


@torch.no_grad()
def zero_shot_accuracy(model: TinyCLIP, images, labels, class_names: Sequence[str] = FASHION_MNIST_NAMES,
                       templates: Sequence[str] = PROMPT_TEMPLATES, *, batch_size: int = 1024) -> float:
    """Zero-shot classification accuracy (Radford et al., 2021): each image gets the class whose prompt
    embedding, averaged over ``templates`` ("a photo of a {name}", ...), is most cosine-similar.

    Example:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=4, embed_dim=8, text_dim=8)
        >>> 0 <= zero_shot_accuracy(model, np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 3])) <= 1
        True
    """
    from ..signals.embeddings import zero_shot_classes

    data = image_tensor(images, _device_of(model))
    y = _labels(labels, len(data), "test").numpy()
    if y.max() >= len(class_names):
        raise LessdataError(f"label {int(y.max())} has no class name ({len(class_names)} given)")
    was_training = model.training
    model.eval()
    try:
        v = _normalized(_batched(lambda s: model.encode_image(data[s]), len(data),
                                 _positive_int(batch_size, "batch_size")))
    finally:
        model.train(was_training)
    predicted = zero_shot_classes(v, class_prompt_embeddings(model, class_names, templates))
    return float((predicted == y).mean())
