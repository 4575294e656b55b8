import copy
import sys

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import lessdata.training  # noqa: E402
from lessdata.errors import LessdataError, MissingExtraError  # noqa: E402
from lessdata.training.transformers import (  # noqa: E402
    ColmSelector,
    ColmTrainer,
    response_losses,
    select_minibatch,
)

VOCAB = 40


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=VOCAB, n_positions=32,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


class Examples(torch.utils.data.Dataset):
    """Tokenized instruction-like examples of different lengths: 3 prompt tokens, then the response; every
    tenth example comes from source 1, the rest from source 0."""

    def __init__(self, n: int = 48):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        ids = torch.randint(1, VOCAB, (6 + i % 7,), generator=g).tolist()
        return {"input_ids": ids, "labels": [-100] * 3 + ids[3:], "index": i, "source": int(i % 10 == 0)}


def collate(items):
    length = max(len(x["input_ids"]) for x in items)
    ids = torch.zeros(len(items), length, dtype=torch.long)
    labels = torch.full((len(items), length), -100)
    mask = torch.zeros(len(items), length, dtype=torch.long)
    for row, x in enumerate(items):
        k = len(x["input_ids"])
        ids[row, :k], labels[row, :k], mask[row, :k] = torch.tensor(x["input_ids"]), torch.tensor(x["labels"]), 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    for key in ("index", "source"):
        if key in items[0]:
            batch[key] = torch.tensor([x[key] for x in items])
    return batch


def arguments(tmp_path, **kw):
    base = {"per_device_train_batch_size": 8, "max_steps": 3, "learning_rate": 1e-2, "logging_steps": 1,
            "report_to": [], "save_strategy": "no", "use_cpu": True, "disable_tqdm": True, "seed": 0}
    return transformers.TrainingArguments(str(tmp_path), **{**base, **kw})


def training_batch_sizes(model):
    """Record the batch size of every forward that builds a graph (a backward follows) and of the others."""
    seen = {"grad": [], "no_grad": []}

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen["grad" if torch.is_grad_enabled() else "no_grad"].append(int(ids.shape[0]))

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


# ------------------------------------------------------------------------------------------ the Trainer
def test_trainer_draws_b_and_trains_on_b(tmp_path):
    model = tiny_gpt2()
    before = copy.deepcopy(model.state_dict())
    seen = training_batch_sizes(model)
    trainer = ColmTrainer(model=model, args=arguments(tmp_path), train_dataset=Examples(), data_collator=collate,
                          colm=ColmSelector(b=4))
    trainer.train()
    assert [(r["step"], r["batch_size"], r["selected"]) for r in trainer.colm_history] == [(0, 8, 4), (1, 8, 4),
                                                                                            (2, 8, 4)]
    assert seen["grad"] == [4, 4, 4]  # one weighted backward on b = 4 per step
    assert 8 in seen["no_grad"]  # the zeroth-order pass ran on the whole batch B = 8
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3 and all(entry["colm_selected"] == 4 and entry["colm_batch_size"] == 8 for entry in logged)
    assert all(entry["colm_selection_seconds"] > 0 for entry in logged)
    assert trainer.state.global_step == 3
    assert not torch.equal(before["transformer.h.1.attn.c_attn.weight"],
                           model.state_dict()["transformer.h.1.attn.c_attn.weight"])


def test_trainer_keeps_gradient_accumulation_and_the_source_column(tmp_path):
    calls = []

    class Recording(ColmSelector):
        def __call__(self, model, batch, sources=None, b=None):
            calls.append(None if sources is None else sources.tolist())
            return super().__call__(model, batch, sources=sources, b=b)

    trainer = ColmTrainer(model=tiny_gpt2(), args=arguments(tmp_path, max_steps=2, gradient_accumulation_steps=2),
                          train_dataset=Examples(), data_collator=collate, colm=Recording(fraction=0.5))
    trainer.train()
    assert [r["step"] for r in trainer.colm_history] == [0, 0, 1, 1]  # 2 micro-batches per optimizer step
    assert all(r["batch_size"] == 8 and r["selected"] == 4 for r in trainer.colm_history)
    assert len(calls) == 4 and all(c is not None and len(c) == 8 for c in calls)  # sources survived the Trainer
    assert sum(sum(c) for c in calls) > 0


def test_short_last_batch_is_trained_whole(tmp_path):
    trainer = ColmTrainer(model=tiny_gpt2(), args=arguments(tmp_path, max_steps=-1, num_train_epochs=1),
                          train_dataset=Examples(20), data_collator=collate, colm=ColmSelector(b=4))
    trainer.train()
    assert [(r["batch_size"], r["selected"]) for r in trainer.colm_history] == [(8, 4), (8, 4), (4, 4)]


def test_trainer_with_a_lora_adapter_trains_only_the_adapter(tmp_path):
    peft = pytest.importorskip("peft")
    model = peft.get_peft_model(tiny_gpt2(), peft.LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = training_batch_sizes(model)
    trainer = ColmTrainer(model=model, args=arguments(tmp_path), train_dataset=Examples(), data_collator=collate,
                          colm=ColmSelector(b=4))
    trainer.train()
    assert [r["selected"] for r in trainer.colm_history] == [4, 4, 4] and seen["grad"] == [4, 4, 4]
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)  # base weights (perturbed by SPSA) restored exactly


def test_weighted_loss_and_evaluation_loss(tmp_path):
    model = tiny_gpt2().eval()
    trainer = ColmTrainer(model=model, args=arguments(tmp_path), train_dataset=Examples(), data_collator=collate)
    batch = collate([Examples()[i] for i in range(4)])
    w = torch.tensor([0.5, 1.5, 1.0, 1.0])
    got = trainer.compute_loss(model, {**batch, "colm_weights": w})
    losses = response_losses(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                             batch["labels"])
    assert torch.allclose(got, (w * losses).sum() / 4)
    plain = {k: v for k, v in batch.items() if k not in ("index", "source")}
    assert torch.allclose(trainer.compute_loss(model, batch), model(**plain).loss)  # the Trainer's own loss


def test_trainer_rejects_a_wrong_selector(tmp_path):
    with pytest.raises(LessdataError, match="colm must be a ColmSelector"):
        ColmTrainer(model=tiny_gpt2(), args=arguments(tmp_path), train_dataset=Examples(), colm=4)


# ------------------------------------------------------------------------------------------ select_minibatch
def test_select_minibatch_returns_b_weighted_examples_deterministically():
    model = tiny_gpt2()
    batch = collate([Examples()[i] for i in range(12)])
    idx, w = select_minibatch(model, batch, 5, seed=1)
    assert idx.dtype == torch.long and len(idx) == 5 and len(set(idx.tolist())) == 5
    assert 0 <= int(idx.min()) and int(idx.max()) < 12
    assert torch.allclose(w.mean(), torch.tensor(1.0)) and (w > 0).all()
    idx2, w2 = select_minibatch(model, batch, 5, seed=1)
    assert torch.equal(idx, idx2) and torch.equal(w, w2)
    assert 0 in idx.tolist() and 10 in idx.tolist()  # source 1 has two examples in this batch: kept whole


def test_selector_keeps_moments_across_steps_and_records_history():
    model = tiny_gpt2()
    selector = ColmSelector(b=4, zo_dim=64)
    for start in (0, 8):
        selector(model, collate([Examples()[i] for i in range(start, start + 8)]))
    assert selector.normalizer.steps == 2 and selector.normalizer.m.shape == (16 * 16,)
    assert [h["selected"] for h in selector.history] == [4, 4]
    plain = ColmSelector(b=4, adam=False, num_directions=2, distribution="gaussian", metric="cosine")
    idx, w = plain(model, collate([Examples()[i] for i in range(8)]), sources=np.zeros(8))
    assert plain.normalizer is None and len(idx) == 4


def test_selector_without_prefix_reuse_selects_the_same():
    model = tiny_gpt2()
    batch = collate([Examples()[i] for i in range(8)])
    fast = ColmSelector(b=4, seed=3)(model, batch)
    slow = ColmSelector(b=4, seed=3, reuse_prefix=False)(model, batch)
    assert torch.equal(fast[0], slow[0]) and torch.allclose(fast[1], slow[1])


def test_unsupported_head_is_detected_on_the_first_call():
    model = tiny_gpt2()
    selector = ColmSelector(b=2)
    runner = selector._runner_for(model)
    runner.tail.norm = torch.nn.Identity()  # as if the model did something the shortcut does not know about
    with pytest.raises(LessdataError, match="does not reproduce this model's loss"):
        selector(model, collate([Examples()[i] for i in range(4)]))


def test_bad_inputs_raise_clear_errors():
    model = tiny_gpt2()
    batch = collate([Examples()[i] for i in range(6)])
    with pytest.raises(LessdataError, match="b=6 must be smaller than the batch"):
        select_minibatch(model, batch, 6)
    with pytest.raises(LessdataError, match="b must be a positive integer"):
        select_minibatch(model, batch, 0)
    with pytest.raises(LessdataError, match="b must be a positive integer"):
        select_minibatch(model, batch, 2.5)
    with pytest.raises(LessdataError, match="either selector= or selector options"):
        select_minibatch(model, batch, 2, selector=ColmSelector(), seed=1)
    with pytest.raises(LessdataError, match="one entry per example"):
        select_minibatch(model, batch, 2, sources=[0, 1])
    with pytest.raises(LessdataError, match="2-D 'input_ids'"):
        select_minibatch(model, {"labels": batch["labels"]}, 2)
    with pytest.raises(LessdataError, match="could not find an attention value projection"):
        select_minibatch(torch.nn.Linear(3, 3), batch, 2)
    for kwargs, message in (({"b": 0}, "b must be"), ({"fraction": 1.0}, "fraction"), ({"epsilon": -1}, "epsilon"),
                            ({"zo_dim": 0}, "zo_dim"), ({"num_directions": 0}, "num_directions"),
                            ({"distribution": "uniform"}, "distribution"), ({"metric": "hamming"}, "metric"),
                            ({"small_source_size": -1}, "small_source_size")):
        with pytest.raises(LessdataError, match=message):
            ColmSelector(**kwargs)


def test_lazy_import_and_missing_extra(monkeypatch):
    assert lessdata.training.ColmTrainer is ColmTrainer
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    monkeypatch.delitem(sys.modules, "lessdata.training.transformers", raising=False)
    with pytest.raises(MissingExtraError, match=r"lessdata\[llm\]"):
        lessdata.training.ColmTrainer  # noqa: B018


def test_importing_lessdata_training_does_not_import_transformers():
    import subprocess

    code = "import sys, lessdata.training, lessdata.signals; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
