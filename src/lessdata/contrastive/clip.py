"""A tiny CLIP (Radford et al., ICML 2021): training on image–caption pairs, embeddings, zero-shot accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._validation import POSITIVE_INT, check_param
from ..errors import LessdataError
from ..signals.embeddings import zero_shot_classes
from ._common import _batched, _device_of, _labels, _normalized, _resolve_device, _subset_and_weights
from .captions import FASHION_MNIST_NAMES, PROMPT_TEMPLATES
from .images import augment, image_tensor
from .loop import ContrastiveRun, _seeded, _train
from .losses import clip_loss
from .models import TinyCLIP, Vocabulary, _texts

__all__ = ["class_prompt_embeddings", "clip_embeddings", "train_clip", "zero_shot_accuracy"]


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

    Examples:
        >>> X = np.random.default_rng(0).integers(0, 255, size=(40, 28, 28), dtype=np.uint8)
        >>> from lessdata.contrastive import make_captions
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


@torch.no_grad()
def clip_embeddings(model: TinyCLIP, images, texts, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm image and caption embeddings ``(n, embed_dim)`` of row-aligned pairs: the inputs of
    ``clipcov``, ``clip_score`` and (from two models) ``c_rho``.

    Examples:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=4, embed_dim=8, text_dim=8)
        >>> v, t = clip_embeddings(model, np.zeros((2, 28, 28), np.uint8), ["a bag", "a bag"])
        >>> v.shape, t.shape
        ((2, 8), (2, 8))
    """
    data = image_tensor(images, _device_of(model))
    texts = _texts(texts)
    if len(texts) != len(data):
        raise LessdataError(f"there are {len(texts)} texts but {len(data)} images; give one caption per image")
    batch_size = int(check_param("clip_embeddings", "batch_size", batch_size, POSITIVE_INT))
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

    Examples:
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

    Examples:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=4, embed_dim=8, text_dim=8)
        >>> 0 <= zero_shot_accuracy(model, np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 3])) <= 1
        True
    """
    y = _labels(labels, len(images), "test").numpy()
    if y.max() >= len(class_names):
        raise LessdataError(f"label {int(y.max())} has no class name ({len(class_names)} given)")
    predicted = zero_shot_classify(model, images, class_names, templates, batch_size=batch_size)
    return float((predicted == y).mean())


@torch.no_grad()
def zero_shot_classify(model: TinyCLIP, images, class_names: Sequence[str] = FASHION_MNIST_NAMES,
                       templates: Sequence[str] = PROMPT_TEMPLATES, *, batch_size: int = 1024) -> np.ndarray:
    """The zero-shot class of each image (prompt ensembling, as :func:`zero_shot_accuracy`)."""
    data = image_tensor(images, _device_of(model))
    was_training = model.training
    model.eval()
    try:
        v = _normalized(_batched(lambda s: model.encode_image(data[s]), len(data),
                                 int(check_param("zero_shot_classify", "batch_size", batch_size, POSITIVE_INT))))
    finally:
        model.train(was_training)
    return zero_shot_classes(v, class_prompt_embeddings(model, class_names, templates))
