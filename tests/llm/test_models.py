import pytest
import torch

from lessdata.errors import LessdataError
from lessdata.llm import load_causal_lm, tiny_causal_lm


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox"])
def test_sizes_seeds_and_no_dropout(family):
    proxy = tiny_causal_lm("proxy", vocab_size=300, max_length=32, family=family, seed=0)
    target = tiny_causal_lm("target", vocab_size=300, max_length=32, family=family, seed=0)
    cfg_p, cfg_t = proxy.config, target.config
    assert (cfg_p.num_hidden_layers, cfg_p.hidden_size) == (2, 128)
    assert (cfg_t.num_hidden_layers, cfg_t.hidden_size) == (4, 256)
    state = torch.random.get_rng_state()
    again = tiny_causal_lm("proxy", vocab_size=300, max_length=32, family=family, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    other = tiny_causal_lm("proxy", vocab_size=300, max_length=32, family=family, seed=1)
    p0, p1, p2 = (next(iter(m.parameters())) for m in (proxy, again, other))
    assert torch.equal(p0, p1) and not torch.equal(p0, p2)
    ids = torch.randint(0, 300, (2, 10))
    proxy.train()
    a = proxy(input_ids=ids).logits
    proxy.eval()
    assert torch.allclose(a, proxy(input_ids=ids).logits, atol=1e-5)  # dropout off


@pytest.mark.parametrize("kwargs, match", [
    ({"size": "huge"}, "unknown model size"),
    ({"family": "llama"}, "unknown model family"),
    ({"vocab_size": 1}, "vocab_size"),
    ({"max_length": 1.5}, "max_length"),
    ({"seed": -1}, "seed"),
])
def test_errors(kwargs, match):
    args = {"size": "proxy", "vocab_size": 300, **kwargs}
    size = args.pop("size")
    with pytest.raises(LessdataError, match=match):
        tiny_causal_lm(size, **args)


def test_load_round_trip(tmp_path):
    model = tiny_causal_lm("proxy", vocab_size=300, max_length=16, seed=3)
    model.save_pretrained(tmp_path)
    loaded = load_causal_lm(tmp_path)
    ids = torch.randint(0, 300, (1, 8))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, loaded(input_ids=ids).logits, atol=1e-6)
    with pytest.raises(LessdataError, match="cannot load a causal LM"):
        load_causal_lm(tmp_path / "missing")
