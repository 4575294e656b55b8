"""The small networks: a CNN image encoder, SimCLR's encoder + projection head, a word vocabulary, a
text encoder and a tiny CLIP."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._validation import POSITIVE_INT, POSITIVE_NUMBER, Interval, check_param, check_params
from ..errors import LessdataError
from ._common import _device_of
from .captions import Captions

__all__ = ["ConvEncoder", "SimCLR", "TextEncoder", "TinyCLIP", "Vocabulary"]


class ConvEncoder(nn.Sequential):
    """A small CNN image encoder: four 3x3 conv-BN-ReLU blocks (``width``, ``2·width`` stride 2, ``4·width``
    stride 2, ``4·width``), global average pooling. ``out_features = 4·width`` (128 by default).

    Examples:
        >>> ConvEncoder(width=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 32])
    """

    def __init__(self, width: int = 32, in_channels: int = 1):
        w = int(check_param("ConvEncoder", "width", width, POSITIVE_INT))
        int(check_param("ConvEncoder", "in_channels", in_channels, POSITIVE_INT))

        def block(c_in, c_out, stride):
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True)]

        super().__init__(*block(in_channels, w, 1), *block(w, 2 * w, 2), *block(2 * w, 4 * w, 2),
                         *block(4 * w, 4 * w, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = 4 * w


class SimCLR(nn.Module):
    """SimCLR network: an image ``encoder`` (its features are what a linear probe reads) and a 2-layer MLP
    projection ``head`` (where the NT-Xent loss is applied), as in Chen et al. (2020).

    Examples:
        >>> SimCLR(width=8, projection_dim=16)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 16])
    """

    def __init__(self, encoder: nn.Module | None = None, *, width: int = 32, projection_dim: int = 64,
                 in_channels: int = 1):
        super().__init__()
        self.encoder = encoder if encoder is not None else ConvEncoder(width, in_channels)
        # what rebuilds it (save_model / load_model); a custom encoder is the caller's to rebuild
        self.config = None if encoder is not None else {"width": width, "projection_dim": projection_dim,
                                                       "in_channels": in_channels}
        features = self.encoder.out_features
        projection_dim = int(check_param("SimCLR", "projection_dim", projection_dim, POSITIVE_INT))
        self.head = nn.Sequential(nn.Linear(features, features), nn.ReLU(inplace=True),
                                  nn.Linear(features, projection_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class Vocabulary:
    """A word vocabulary for short captions: lower-case words (hyphenated words stay one token), id 0 is
    padding and id 1 unknown words.

    Examples:
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
        max_len = int(check_param("Vocabulary.encode", "max_len", max_len, POSITIVE_INT))
        out = np.zeros((len(texts), max_len), dtype=np.int64)
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

    Examples:
        >>> TextEncoder(vocab_size=10, dim=16)(torch.tensor([[2, 3, 0], [4, 0, 0]])).shape
        torch.Size([2, 16])
    """

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 1, heads: int = 4, max_len: int = 16):
        super().__init__()
        check_params("TextEncoder", {"vocab_size": vocab_size, "dim": dim, "layers": layers, "heads": heads,
                                     "max_len": max_len},
                     {"vocab_size": [Interval(int, 2, None)], "dim": POSITIVE_INT, "layers": [Interval(int, 0, None)],
                      "heads": POSITIVE_INT, "max_len": POSITIVE_INT})
        self.tokens = nn.Embedding(int(vocab_size), int(dim), padding_idx=0)
        self.position = nn.Parameter(0.02 * torch.randn(int(max_len), dim))
        layers = int(layers)
        if layers and dim % heads:
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

    Examples:
        >>> model = TinyCLIP(Vocabulary.from_texts(["a bag"]), width=8, embed_dim=16, text_dim=16)
        >>> model.encode_text(model.tokenize(["a bag"])).shape
        torch.Size([1, 16])
    """

    def __init__(self, vocab: Vocabulary, *, embed_dim: int = 64, width: int = 32, text_dim: int = 64,
                 text_layers: int = 1, max_len: int = 16, temperature: float = 0.07, in_channels: int = 1):
        super().__init__()
        if not isinstance(vocab, Vocabulary):
            raise LessdataError("TinyCLIP needs a Vocabulary (Vocabulary.from_texts(captions))")
        self.vocab, self.max_len = vocab, int(check_param("TinyCLIP", "max_len", max_len, POSITIVE_INT))
        self.image_encoder = ConvEncoder(width, in_channels)
        check_params("TinyCLIP", {"embed_dim": embed_dim, "temperature": temperature},
                     {"embed_dim": POSITIVE_INT, "temperature": POSITIVE_NUMBER})
        self.image_projection = nn.Linear(self.image_encoder.out_features, int(embed_dim), bias=False)
        self.text_encoder = TextEncoder(len(vocab), text_dim, text_layers, max_len=max_len)
        self.text_projection = nn.Linear(text_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / float(temperature))))
        self.config = {"embed_dim": embed_dim, "width": width, "text_dim": text_dim, "text_layers": text_layers,
                       "max_len": max_len, "temperature": temperature, "in_channels": in_channels}

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_projection(self.image_encoder(x))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text_projection(self.text_encoder(tokens))

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.vocab.encode(texts, self.max_len).to(_device_of(self))
