import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from lessdata.errors import LessdataError  # noqa: E402
from lessdata.training.rho_loss import RhoLossSelector  # noqa: E402
from lessdata.training.transformers import RhoLossTrainer, SelectiveTrainer, response_losses  # noqa: E402

VOCAB = 40


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=VOCAB, n_positions=32,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


class Examples(torch.utils.data.Dataset):
    def __init__(self, n: int = 24):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        ids = torch.randint(1, VOCAB, (6 + i % 5,), generator=g).tolist()
        return {"input_ids": ids, "labels": [-100] * 3 + ids[3:], "index": i}


def collate(items):
    length = max(len(x["input_ids"]) for x in items)
    ids = torch.zeros(len(items), length, dtype=torch.long)
    labels = torch.full((len(items), length), -100)
    mask = torch.zeros(len(items), length, dtype=torch.long)
    for row, x in enumerate(items):
        k = len(x["input_ids"])
        ids[row, :k], labels[row, :k], mask[row, :k] = torch.tensor(x["input_ids"]), torch.tensor(x["labels"]), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "index": torch.tensor([x["index"] for x in items])}


def arguments(tmp_path, **kw):
    base = {"per_device_train_batch_size": 8, "max_steps": 2, "learning_rate": 1e-2, "logging_steps": 1,
            "report_to": [], "save_strategy": "no", "use_cpu": True, "disable_tqdm": True, "seed": 0}
    return transformers.TrainingArguments(str(tmp_path), **{**base, **kw})


def test_rho_trainer_trains_on_the_top_reducible_losses(tmp_path):
    model, irreducible = tiny_gpt2(0), tiny_gpt2(1)
    data = Examples()
    table = np.empty(len(data), dtype=np.float32)
    with torch.no_grad():
        batch = collate([data[i] for i in range(len(data))])
        table[:] = response_losses(irreducible(input_ids=batch["input_ids"],
                                               attention_mask=batch["attention_mask"]).logits, batch["labels"])
    trained = []
    model.register_forward_pre_hook(
        lambda m, a, k: trained.append(int(k["input_ids"].shape[0])) if torch.is_grad_enabled() else None,
        with_kwargs=True)
    picks = []

    class Spy(RhoLossSelector):
        def __call__(self, model, batch, sources=None, b=None, index=None):
            out = super().__call__(model, batch, sources=sources, b=b, index=index)
            red, _ = self.reducible_losses(model, batch, index)
            picks.append((out[0].tolist(), torch.argsort(-red, stable=True)[:3].tolist()))
            return out

    spy = Spy(table, b=3)
    trainer = RhoLossTrainer(model=model, args=arguments(tmp_path), train_dataset=data, data_collator=collate, rho=spy)
    trainer.train()
    assert [(r["batch_size"], r["selected"]) for r in trainer.rho_history] == [(8, 3), (8, 3)]
    assert trained == [3, 3]
    assert all(a == b for a, b in picks)
    assert any("rho_selection_seconds" in h for h in trainer.state.log_history)


def test_trainer_rejects_bad_selectors(tmp_path):
    with pytest.raises(LessdataError, match="RhoLossSelector"):
        RhoLossTrainer(model=tiny_gpt2(), args=arguments(tmp_path), train_dataset=Examples(), rho=3)
    with pytest.raises(LessdataError, match="per-step selector"):
        SelectiveTrainer(model=tiny_gpt2(), args=arguments(tmp_path), train_dataset=Examples(), selector=None)
