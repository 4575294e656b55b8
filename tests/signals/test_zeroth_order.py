import copy

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.signals.zeroth_order import (  # noqa: E402
    AdamNormalizer,
    LastBlockRunner,
    ValueProjection,
    ZerothOrderEstimate,
    find_value_projection,
    random_directions,
    response_losses,
    sparse_features,
    spsa_coefficients,
    zeroth_order_gradients,
)

VOCAB = 40


def tiny(family: str, width: int = 16, heads: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    if family == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_embd=width, n_head=heads, vocab_size=VOCAB, n_positions=32,
                                         bos_token_id=0, eos_token_id=0)
        model = transformers.GPT2LMHeadModel(config)
    elif family == "gpt_neox":
        config = transformers.GPTNeoXConfig(num_hidden_layers=2, hidden_size=width, num_attention_heads=heads,
                                            intermediate_size=2 * width, vocab_size=VOCAB, max_position_embeddings=32,
                                            bos_token_id=0, eos_token_id=0)
        model = transformers.GPTNeoXForCausalLM(config)
    else:
        config = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=width, num_attention_heads=heads,
                                          num_key_value_heads=1, intermediate_size=2 * width, vocab_size=VOCAB,
                                          max_position_embeddings=32, bos_token_id=0, eos_token_id=0)
        model = transformers.LlamaForCausalLM(config)
    return model.eval()


def make_batch(n: int = 5, length: int = 10, seed: int = 0):
    """Random tokens, the first 3 positions prompt (-100), right padding of different lengths, one example
    without any response token."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    labels = ids.clone()
    labels[:, :3] = -100
    for row in range(n):
        stop = length - (row % 3)
        mask[row, stop:] = 0
        labels[row, stop:] = -100
    labels[n - 1] = -100  # no response tokens at all
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def autograd_value_grads(model, batch, vp: ValueProjection) -> torch.Tensor:
    """Per-example gradients of the response loss w.r.t. the V slice, by backpropagation (the slow truth)."""
    rows = []
    for i in range(batch["input_ids"].shape[0]):
        model.zero_grad()
        one = {k: v[i:i + 1] for k, v in batch.items()}
        logits = model(input_ids=one["input_ids"], attention_mask=one["attention_mask"]).logits
        loss = response_losses(logits, one["labels"])[0]
        if loss.requires_grad:
            loss.backward()
            grad = vp.weight.grad
        else:
            grad = torch.zeros_like(vp.weight)
        rows.append(ValueProjection(vp.name, torch.nn.Parameter(grad.clone()), vp.layout, vp.heads).view()
                    .reshape(-1).clone())
    model.zero_grad()
    return torch.stack(rows)


# ------------------------------------------------------------------------------------ finding the V slice
@pytest.mark.parametrize("family, name, layout, shape", [
    ("gpt2", "transformer.h.1.attn.c_attn", "gpt2_fused", (16, 16)),
    ("gpt_neox", "gpt_neox.layers.1.attention.query_key_value", "per_head_fused", (2, 8, 16)),
    ("llama", "model.layers.1.self_attn.v_proj", "whole", (8, 16)),
])
def test_value_projection_is_found_for_each_family(family, name, layout, shape):
    vp = find_value_projection(tiny(family))
    assert (vp.name, vp.layout, tuple(vp.view().shape)) == (name, layout, shape)
    assert vp.dim == int(np.prod(shape))


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox"])
def test_fused_slice_is_the_value_part(family):
    """With the V weights (and V bias) zeroed, attention outputs nothing but the output projection's bias:
    true only if the slice really is V, not Q or K."""
    model = tiny(family)
    vp = find_value_projection(model)
    vp.view().zero_()
    attn = model.transformer.h[1].attn if family == "gpt2" else model.gpt_neox.layers[1].attention
    if family == "gpt2":
        attn.c_attn.bias.data[2 * 16:] = 0
        out_bias = attn.c_proj.bias
    else:
        attn.query_key_value.bias.data.view(2, 3, 8)[:, 2] = 0
        out_bias = attn.dense.bias
    seen = {}

    def hook(module, args, out):
        seen["out"] = out[0]

    attn.register_forward_hook(hook)
    with torch.no_grad():
        model(input_ids=make_batch()["input_ids"])
    assert torch.allclose(seen["out"], out_bias.expand_as(seen["out"]), atol=1e-6)


@pytest.mark.parametrize("family, target", [("gpt2", "c_attn"), ("llama", "v_proj")])
def test_value_projection_of_a_lora_wrapped_model_is_the_base_weight(family, target):
    peft = pytest.importorskip("peft")
    base = tiny(family)
    expected = find_value_projection(base)
    lora = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=2, target_modules=[target],
                                                                      fan_in_fan_out=family == "gpt2"))
    vp = find_value_projection(lora)
    assert vp.name.endswith(expected.name) and vp.layout == expected.layout
    assert vp.weight is lora.get_base_model().get_submodule(expected.name).base_layer.weight
    assert torch.equal(vp.view(), expected.view())


def test_explicit_layer_and_unknown_structures_raise_clear_errors():
    model = tiny("llama")
    assert find_value_projection(model, layer="model.layers.0.self_attn.v_proj").name.endswith("0.self_attn.v_proj")
    with pytest.raises(LessdataError, match="no module named 'nope'"):
        find_value_projection(model, layer="nope")
    with pytest.raises(LessdataError, match="could not find an attention value projection"):
        find_value_projection(torch.nn.Sequential(torch.nn.Linear(4, 4)))
    with pytest.raises(LessdataError, match="no 2-D weight"):
        find_value_projection(model, layer="model.layers.1.self_attn")
    fake = torch.nn.Module()
    fake.c_attn = torch.nn.Linear(4, 12)
    with pytest.raises(LessdataError, match="not a GPT-2 fused"):
        find_value_projection(fake)
    fake = torch.nn.Module()
    fake.query_key_value = torch.nn.Linear(4, 12)
    with pytest.raises(LessdataError, match="unknown fused q/k/v layout"):
        find_value_projection(fake)
    stray = torch.nn.Module()  # a V projection outside any list of blocks
    stray.v_proj = torch.nn.Linear(4, 4)
    with pytest.raises(LessdataError, match="not inside a ModuleList"):
        LastBlockRunner(stray)


# ------------------------------------------------------------------------------------ last-block reuse
@pytest.mark.parametrize("family", ["gpt2", "gpt_neox", "llama"])
def test_last_block_reuse_equals_the_full_forward(family):
    model = tiny(family)
    batch = make_batch()
    runner = LastBlockRunner(model)
    runner.capture(batch)
    tail, full = runner.losses(), runner.full_losses(batch)
    assert torch.allclose(tail, full, atol=1e-5)
    assert full[-1] == 0 and (full[:-1] > 0).all()  # no response tokens: loss 0
    z = random_directions(3, runner.value.dim, seed=1)
    fast = spsa_coefficients(model, batch, z)
    slow = spsa_coefficients(model, batch, z, reuse_prefix=False)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_tail_losses_in_token_chunks_match():
    model = tiny("gpt2")
    batch = make_batch()
    runner = LastBlockRunner(model, chunk_tokens=3)
    runner.capture(batch)
    assert torch.allclose(runner.losses(), runner.full_losses(batch), atol=1e-5)
    with pytest.raises(LessdataError, match="capture"):
        LastBlockRunner(model).losses()


def test_response_losses_ignore_prompt_and_padding():
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, 3, 6]])
    got = response_losses(logits, labels)
    lp = torch.log_softmax(logits, -1)
    first = -(lp[0, 1, 3] + lp[0, 2, 4]) / 2
    second = -(lp[1, 0, 1] + lp[1, 1, 2] + lp[1, 2, 3] + lp[1, 3, 6]) / 4
    assert torch.allclose(got, torch.stack([first, second]), atol=1e-6)


# ------------------------------------------------------------------------------------ SPSA accuracy
def test_each_coefficient_is_the_directional_derivative():
    """c_i ≈ ∇L_i · z for every example (float64: finite-difference error O(ε²) only)."""
    model = tiny("gpt2").double()
    batch = make_batch()
    vp = find_value_projection(model)
    grads = autograd_value_grads(model, batch, vp)
    z = random_directions(2, vp.dim, seed=3)
    c = spsa_coefficients(model, batch, z)
    assert torch.allclose(c.double(), grads @ z.double().T, rtol=1e-4, atol=1e-7)
    assert (c[-1] == 0).all()


def test_averaging_over_hadamard_directions_recovers_the_gradient_exactly():
    """Rows of a Hadamard matrix are ±1 vectors with Σ_r z_r z_rᵀ = d·I: the average of (∇L·z) z over them is ∇L,
    the exact form of E[(∇L·z) z] = ∇L for Rademacher z."""
    from scipy.linalg import hadamard

    model = tiny("gpt2", width=4, heads=1).double()
    batch = make_batch()
    vp = find_value_projection(model)
    assert vp.dim == 16
    grads = autograd_value_grads(model, batch, vp)
    H = torch.tensor(hadamard(16), dtype=torch.float32)
    est = ZerothOrderEstimate(spsa_coefficients(model, batch, H).double(), H.double())
    assert torch.allclose(est.dense(), grads, rtol=1e-4, atol=1e-7)


def test_rademacher_average_converges_to_the_gradient():
    model = tiny("gpt2", width=4, heads=1).double()
    batch = make_batch(n=3)
    vp = find_value_projection(model)
    grads = autograd_value_grads(model, batch, vp)
    est = zeroth_order_gradients(model, batch, num_directions=500, seed=0)
    dense = est.dense().double()
    for i in range(2):  # the last example has no response tokens
        cos = torch.nn.functional.cosine_similarity(dense[i], grads[i], dim=0)
        assert cos > 0.95, (i, float(cos))  # expected about 1 / sqrt(1 + d / R) = 0.985
    # the error shrinks like 1/sqrt(R): 20 directions are clearly worse than 500
    few = ZerothOrderEstimate(est.coefficients[:, :20], est.directions[:20]).dense().double()
    assert (few[0] - grads[0]).norm() > (dense[0] - grads[0]).norm()


def test_gaussian_directions_and_determinism():
    z = random_directions(4, 1000, "gaussian", seed=5)
    assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.1
    assert torch.equal(z, random_directions(4, 1000, "gaussian", seed=5))
    r = random_directions(2, 50, seed=5)
    assert set(r.unique().tolist()) == {-1.0, 1.0}
    assert not torch.equal(r, random_directions(2, 50, seed=6))


def test_weights_and_modes_are_restored_exactly():
    model = tiny("gpt_neox").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    zeroth_order_gradients(model, make_batch(), num_directions=3, seed=2)
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_lora_wrapped_model_gives_the_base_models_estimates():
    """At initialisation LoRA adds B·A = 0, so the wrapped model is the base model and so are its estimates."""
    peft = pytest.importorskip("peft")
    base = tiny("gpt2")
    lora = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=2, target_modules=["c_attn"],
                                                                      fan_in_fan_out=True))
    batch = make_batch()
    a = zeroth_order_gradients(base, batch, seed=4).coefficients
    b = zeroth_order_gradients(lora, batch, seed=4).coefficients
    assert torch.allclose(a, b, atol=1e-5) and a.abs().sum() > 0
    runner = LastBlockRunner(lora)
    runner.capture(batch)
    assert torch.allclose(runner.losses(), runner.full_losses(batch), atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    model = tiny("gpt2")
    batch = make_batch()
    with pytest.raises(LessdataError, match="epsilon must be a positive"):
        zeroth_order_gradients(model, batch, epsilon=0)
    with pytest.raises(LessdataError, match="num_directions"):
        zeroth_order_gradients(model, batch, num_directions=0)
    with pytest.raises(LessdataError, match="unknown distribution"):
        zeroth_order_gradients(model, batch, distribution="uniform")
    with pytest.raises(LessdataError, match="'input_ids' and 'labels'"):
        zeroth_order_gradients(model, {"input_ids": batch["input_ids"]})
    with pytest.raises(LessdataError, match="same"):
        zeroth_order_gradients(model, {"input_ids": batch["input_ids"], "labels": batch["labels"][:, :4]})
    with pytest.raises(LessdataError, match="must be torch tensors"):
        zeroth_order_gradients(model, {"input_ids": [[1, 2]], "labels": [[1, 2]]})
    with pytest.raises(LessdataError, match="directions must have shape"):
        spsa_coefficients(model, batch, torch.ones(1, 7))


# ------------------------------------------------------------------------------------ Adam + sparsification
def test_adam_normalizer_matches_adam_and_slices():
    norm = AdamNormalizer(beta1=0.9, beta2=0.99)
    g = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.5, -1.0]])
    assert torch.allclose(norm.normalize(g), torch.sign(g), atol=1e-6)  # Adam's first step is the sign
    history = [torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.5, 0.0, -1.0])]
    m = torch.zeros(3)
    v = torch.zeros(3)
    for h in history:
        norm.update(h)
        m, v = 0.9 * m + 0.1 * h, 0.99 * v + 0.01 * h**2
    t = 3
    m_i, v_i = (0.9 * m + 0.1 * g) / (1 - 0.9**t), (0.99 * v + 0.01 * g**2) / (1 - 0.99**t)
    expected = m_i / (v_i.sqrt() + 1e-8)
    assert torch.allclose(norm.normalize(g), expected, atol=1e-6)
    assert torch.allclose(norm.normalize(g[:, 1:], slice(1, 3)), expected[:, 1:], atol=1e-6)
    assert torch.allclose(norm.normalize(g[:, [0, 2]], torch.tensor([0, 2])), expected[:, [0, 2]], atol=1e-6)
    with pytest.raises(LessdataError, match="coordinates"):
        norm.update(torch.zeros(4))
    with pytest.raises(LessdataError, match="beta1"):
        AdamNormalizer(beta1=1.0)
    with pytest.raises(LessdataError, match="eps"):
        AdamNormalizer(eps=0)


@pytest.mark.parametrize("adam", [False, True])
def test_sparse_features_in_chunks_equal_the_dense_computation(adam):
    g = torch.Generator().manual_seed(0)
    est = ZerothOrderEstimate(torch.randn(12, 3, generator=g), torch.randn(3, 50, generator=g))
    sources = torch.tensor([0] * 6 + [1] * 4 + [2] * 2)
    norm = None
    if adam:
        norm = AdamNormalizer()
        norm.update(torch.randn(50, generator=g))
    dense = est.dense() if norm is None else norm.normalize(est.dense())
    expected = set()
    for s in range(3):
        expected |= set(torch.topk(dense[sources == s].abs().mean(0), 7).indices.tolist())
    for chunk in (7, 50, 1000):
        X, cols = sparse_features(est, sources, zo_dim=7, normalizer=norm, chunk_columns=chunk)
        assert cols.tolist() == sorted(expected)
        assert torch.allclose(X, dense[:, cols], atol=1e-5)
    X, cols = sparse_features(est, sources, zo_dim=500)  # capped by the dimension
    assert cols.tolist() == list(range(50))
    with pytest.raises(LessdataError, match="zo_dim"):
        sparse_features(est, sources, zo_dim=0)
    with pytest.raises(LessdataError, match="sources has 3 entries"):
        sparse_features(est, torch.zeros(3), zo_dim=5)
