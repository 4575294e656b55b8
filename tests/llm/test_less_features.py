import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

import lessdata  # noqa: E402
from lessdata.errors import LessdataError  # noqa: E402
from lessdata.llm import (  # noqa: E402
    InstructionCollator,
    get_tokenizer,
    load_instructions,
    tiny_causal_lm,
    tokenize_instructions,
)
from lessdata.llm.less import LessFeatures, RandomProjection, gradient_features, lora_model  # noqa: E402


def test_projection_preserves_inner_products_within_the_jl_bound():
    rng = np.random.default_rng(0)
    n, d, k = 24, 3000, 1024
    X = torch.as_tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    X[1] = X[0] + 0.1 * X[1]                                   # some correlated pairs too
    P = RandomProjection(d, k, seed=3).project(X)
    exact, approx = X @ X.T, P @ P.T
    norms = X.norm(dim=1)
    scaled = ((approx - exact) / torch.outer(norms, norms)).abs()
    # each entry's error has std <= sqrt(2/k) ~ 0.044; 276 pairs: 5 std is a bound they all meet
    assert float(scaled.max()) < 5 * np.sqrt(2 / k)
    assert float(scaled.mean()) < 1.2 * np.sqrt(2 / k)         # and typical errors are at the JL scale
    # the matrix depends on the seed only, not on the block size used to apply it
    assert torch.allclose(RandomProjection(d, k, seed=3, block_size=64).project(X), P, atol=1e-3)
    assert not torch.allclose(RandomProjection(d, k, seed=4).project(X), P, atol=1e-3)


@pytest.mark.parametrize("dim", [0, -3, 2.5])
def test_projection_dimension_must_be_positive(dim):
    with pytest.raises(LessdataError, match="proj_dim must be a positive integer"):
        RandomProjection(10, dim)


@pytest.fixture(scope="module")
def tiny():
    rows = [{"question": f"What is {i} plus {i % 7}?", "answer": f"{i} + {i % 7} = {i + i % 7} #### {i + i % 7}"}
            for i in range(24)]
    data = load_instructions(rows)
    tok = get_tokenizer(texts=data.texts(), vocab_size=300)
    return data, tok, tokenize_instructions(data, tok, max_length=48), InstructionCollator(tok, keep_index=False)


@pytest.mark.slow
def test_features_adam_preconditioning_store_and_reuse(tiny, tmp_path):
    data, tok, examples, coll = tiny
    model = tiny_causal_lm(vocab_size=len(tok), max_length=48, seed=0)
    feats, peft_model = LessFeatures.compute(model, examples, collator=coll, proj_dim=32, fraction=0.25, epochs=2,
                                             batch_size=3, learning_rate=1e-3, lora_r=4, lora_alpha=8, seed=0)
    assert feats.train.shape == (24, 64) and len(feats.weights) == 2 and np.isfinite(feats.train).all()
    assert len(feats.warmup_subset) == 6
    # the last checkpoint's block is m' / sqrt(v' + eps) of the plain gradient, projected (a direct computation)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    projection = RandomProjection(sum(p.numel() for p in params), 32, seed=0)
    plain = gradient_features(peft_model, examples[:2], collator=coll, projection=projection)
    loss = lessdata.llm.per_example_loss(peft_model.eval(), coll([examples[0]]))[0]
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss, params)])
    assert np.allclose(plain[0], (g @ projection.matrix()).numpy(), atol=1e-4)
    path = feats.save(tmp_path / "train.less.npz")
    again = LessFeatures.load(path)
    assert np.array_equal(again.train, feats.train) and np.allclose(again.weights, feats.weights)
    target = again.target_features(peft_model, examples[:4], collator=coll)
    assert target.shape == (4, 64)
    cs = lessdata.select(again.train, budget=5, method="less", target=target, checkpoint_weights=again.weights)
    assert len(cs) == 5
    # a target example's own training features are similar to its target features: it ranks high
    assert set(cs.indices.tolist()) & {0, 1, 2, 3}


def test_bad_inputs(tiny, tmp_path):
    data, tok, examples, coll = tiny
    model = lora_model(tiny_causal_lm(vocab_size=len(tok), max_length=48, seed=0), r=2, alpha=4)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    no_response = dict(examples[0], labels=[-100] * len(examples[0]["labels"]))
    with pytest.raises(LessdataError, match="no response tokens"):
        gradient_features(model, [no_response], collator=coll, projection=RandomProjection(n_params, 8))
    with pytest.raises(LessdataError, match="expects 5 gradient entries"):
        gradient_features(model, examples[:1], collator=coll, projection=RandomProjection(5, 8))
    with pytest.raises(LessdataError, match="proj_dim"):
        LessFeatures.compute(tiny_causal_lm(vocab_size=len(tok), max_length=48), examples, collator=coll, proj_dim=0)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(2))
    with pytest.raises(LessdataError, match="not a LESS feature file"):
        LessFeatures.load(bad)
