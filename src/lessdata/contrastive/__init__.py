"""Small contrastive trainers to measure contrastive data selection with: SimCLR and a tiny CLIP.

- **SimCLR** (Chen, Kornblith, Norouzi & Hinton, ICML 2020, "A Simple Framework for Contrastive Learning of
  Visual Representations"): a small CNN encoder and an MLP projection head trained with the NT-Xent loss on
  two augmented views of each image (random resized crops, flips, brightness/contrast jitter, Gaussian noise,
  all batched on the training device). :func:`linear_probe` measures the frozen features; :func:`embed`
  gives the embeddings a selection method needs (SAS averages them over augmented views, ``augmentations=k``).
- **SafeCLIP** (Yang et al., ICML 2024): :func:`train_safeclip` pre-trains the tiny CLIP on poisoned pairs,
  keeping low-similarity (risky) pairs out of the CLIP loss; :func:`clip_poisoning_run` attacks and measures.
- **Tiny CLIP** (Radford et al., ICML 2021, "Learning Transferable Visual Models From Natural Language
  Supervision"): the same CNN for images, token embeddings + a one-layer transformer + mean pooling for
  text, a symmetric InfoNCE loss with a learnable temperature. :func:`make_captions` writes Fashion-MNIST
  captions from varied templates with a given fraction mismatched (the noisy web pairs that ClipCov and
  CLIP-score filtering should drop); :func:`zero_shot_accuracy` scores a model with class-name prompts.

Both trainers take the full data plus an optional ``subset`` (a :class:`~lessdata.Coreset` or indices) and
optional per-example ``weights`` (e.g. ``coreset.weights``), so a selection is trained on exactly as the
full data is. Proxy models for selection are short runs of the same trainers; ``train_clip(snapshots=(e,))``
also keeps the model after epoch ``e`` (C-RHO's partially trained model).

Modules: :mod:`~lessdata.contrastive.models` (networks), :mod:`~lessdata.contrastive.losses`,
:mod:`~lessdata.contrastive.images` (tensors, augmentations), :mod:`~lessdata.contrastive.simclr`,
:mod:`~lessdata.contrastive.clip`, :mod:`~lessdata.contrastive.captions`; ``lessdata contrastive ...`` on the
command line (:mod:`~lessdata.contrastive.cli`). This package is the API: import from ``lessdata.contrastive``.

Example::

    from lessdata.contrastive import embed, linear_probe, train_simclr

    run = train_simclr(X_train, epochs=20, device="cuda")          # uint8 (n, 28, 28) images
    linear_probe(run.encoder, (X_train, y_train), (X_test, y_test))
    emb = embed(run.encoder, X_train, augmentations=4)              # SAS's proxy embeddings
"""

from .captions import ADJECTIVES, CAPTION_TEMPLATES, FASHION_MNIST_NAMES, PROMPT_TEMPLATES, Captions, make_captions
from .checkpoint import load_model, save_model
from .clip import class_prompt_embeddings, clip_embeddings, train_clip, zero_shot_accuracy, zero_shot_classify
from .images import augment, image_tensor
from .loop import ContrastiveRun
from .losses import clip_loss, nt_xent
from .models import ConvEncoder, SimCLR, TextEncoder, TinyCLIP, Vocabulary
from .poisoning import clip_poisoning_run
from .safeclip import SafeClipRun, clean_probability, safe_ratios, safe_split, train_safeclip
from .simclr import embed, linear_probe, train_simclr

__all__ = [
    "ADJECTIVES",
    "CAPTION_TEMPLATES",
    "FASHION_MNIST_NAMES",
    "PROMPT_TEMPLATES",
    "Captions",
    "ContrastiveRun",
    "ConvEncoder",
    "SafeClipRun",
    "SimCLR",
    "TextEncoder",
    "TinyCLIP",
    "Vocabulary",
    "augment",
    "class_prompt_embeddings",
    "clean_probability",
    "clip_embeddings",
    "clip_loss",
    "clip_poisoning_run",
    "embed",
    "image_tensor",
    "linear_probe",
    "load_model",
    "make_captions",
    "nt_xent",
    "safe_ratios",
    "safe_split",
    "save_model",
    "train_clip",
    "train_safeclip",
    "train_simclr",
    "zero_shot_accuracy",
    "zero_shot_classify",
]
