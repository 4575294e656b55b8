import numpy as np
import pytest

pytest.importorskip("transformers")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.llm import (  # noqa: E402
    InstructionCollator,
    get_tokenizer,
    iterative_kmq,
    load_instructions,
    tiny_causal_lm,
    tokenize_instructions,
    train_causal_lm,
)


def fake_examples(n):
    return [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3], "index": i} for i in range(n)]


def test_rounds_take_their_exact_share_and_follow_the_scores():
    """Per-round size = budget / rounds (the reference code's rounds draw K times fewer), no repeats, and later
    rounds favour the clusters whose picked examples score high."""
    rng = np.random.default_rng(0)
    sizes = [100, 100, 100, 100]
    E = np.concatenate([rng.normal(size=(s, 3)) * 0.01 + 5 * i for i, s in enumerate(sizes)]).astype("float32")
    truth = np.repeat(np.arange(4), sizes)
    examples = fake_examples(400)
    trained = []

    def score(model, picked):  # the model "falls short" on cluster 3 only
        return np.array([5.0 if truth[ex["index"]] == 3 else 0.0 for ex in picked])

    cs = iterative_kmq(examples, E, 160, make_model=lambda r: None, train=lambda m, sub: trained.append(len(sub)),
                       score=score, rounds=4, n_clusters=4, seed=0)
    assert len(cs) == 160 and len(np.unique(cs.indices)) == 160
    assert np.bincount(cs.partition).tolist() == [40, 40, 40, 40]
    assert trained == [40, 80, 120]                                       # cumulative picks per round
    first = np.bincount(truth[cs.indices[cs.partition == 0]], minlength=4)
    assert first.tolist() == [10, 10, 10, 10]                             # round 1: even over clusters
    later = np.bincount(truth[cs.indices[cs.partition > 0]], minlength=4)
    # softmax(5 vs 0) sends ~98% of each round to cluster 3 until it runs out (all 100 picked); the overflow of
    # the last round goes to the other clusters, so the round still takes its full share
    assert later[3] == 90
    assert cs.params["round_sizes"] == [40, 40, 40, 40]


def test_misaligned_embeddings_and_bad_budget():
    with pytest.raises(LessdataError, match="row-aligned"):
        iterative_kmq(fake_examples(10), np.zeros((9, 2)), 4, make_model=lambda r: None, train=lambda m, s: None,
                      score=lambda m, s: np.zeros(len(s)))
    with pytest.raises(LessdataError, match="budget"):
        iterative_kmq(fake_examples(10), np.zeros((10, 2)), 11, make_model=lambda r: None, train=lambda m, s: None,
                      score=lambda m, s: np.zeros(len(s)))
    with pytest.raises(LessdataError, match="collator"):
        iterative_kmq(fake_examples(10), np.zeros((10, 2)), 4, make_model=lambda r: None, train=lambda m, s: None)


@pytest.mark.slow
def test_with_tiny_language_models_and_perplexity_scores():
    rows = [{"question": f"{i} plus {i % 5}?", "answer": f"{i + i % 5}"} for i in range(60)]
    data = load_instructions(rows)
    tok = get_tokenizer(texts=data.texts(), vocab_size=300)
    examples = tokenize_instructions(data, tok, max_length=32)
    coll = InstructionCollator(tok, keep_index=False)
    E = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    cs = iterative_kmq(examples, E, 20, collator=coll, rounds=2, n_clusters=4,
                       make_model=lambda r: tiny_causal_lm(vocab_size=len(tok), max_length=32, seed=0),
                       train=lambda m, sub: train_causal_lm(m, sub, collator=coll, max_steps=3, batch_size=4))
    assert len(cs) == 20 and len(set(cs.indices.tolist())) == 20
    assert len(cs.params["cluster_weights"]) == 2
