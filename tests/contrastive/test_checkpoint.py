"""save_model / load_model: the same network and outputs back, for SimCLR and TinyCLIP; clear errors."""

import numpy as np
import pytest
import torch

from lessdata.contrastive import (
    ConvEncoder,
    SimCLR,
    TinyCLIP,
    Vocabulary,
    clip_embeddings,
    load_model,
    make_captions,
    save_model,
)
from lessdata.errors import LessdataError


def test_simclr_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SimCLR(width=4, projection_dim=8).eval()
    back = load_model(save_model(model, tmp_path / "m.pt"))
    x = torch.rand(3, 1, 28, 28)
    assert isinstance(back, SimCLR) and not back.training
    torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)


def test_clip_round_trip_keeps_the_vocabulary(tmp_path):
    caps = make_captions(np.arange(10), mismatch=0.0)
    torch.manual_seed(0)
    model = TinyCLIP(Vocabulary.from_texts(caps.texts), width=4, embed_dim=8, text_dim=8, text_layers=1).eval()
    back = load_model(save_model(model, tmp_path / "clip.pt"))
    assert back.vocab.words == model.vocab.words
    X = np.random.default_rng(0).integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    for got, want in zip(clip_embeddings(back, X, caps), clip_embeddings(model, X, caps), strict=True):
        np.testing.assert_array_equal(got, want)


def test_errors(tmp_path):
    with pytest.raises(LessdataError, match="use a .pt file name"):
        save_model(SimCLR(width=4), tmp_path / "m.bin")
    with pytest.raises(LessdataError, match="custom encoder"):
        save_model(SimCLR(ConvEncoder(width=4)), tmp_path / "m.pt")
    with pytest.raises(LessdataError, match="SimCLR or TinyCLIP"):
        save_model(ConvEncoder(width=4), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(LessdataError, match="not a lessdata contrastive model"):
        load_model(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(LessdataError, match="not a readable"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(LessdataError, match="no such model file"):
        load_model(tmp_path / "missing.pt")
