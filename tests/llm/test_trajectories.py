import numpy as np
import pytest
import torch

from lessdata.errors import LessdataError
from lessdata.llm import (
    InstructionCollator,
    TrajectoryCallback,
    checkpoint_steps,
    get_tokenizer,
    load_causal_lm,
    load_instructions,
    loss_trajectories,
    per_example_loss,
    record_losses,
    tiny_causal_lm,
    tokenize_instructions,
    train_causal_lm,
)
from lessdata.signals.dynamics import DynamicsRecorder

ROWS = [{"question": f"What is {i} plus {i % 3}?", "answer": f"{i} + {i % 3} = {i + i % 3}\n#### {i + i % 3}",
         "src": "ab"[i % 2]} for i in range(12)]


@pytest.fixture(scope="module")
def setup():
    data = load_instructions(ROWS, source_field="src")
    tok = get_tokenizer(texts=data.texts(), vocab_size=300)
    return data, tok, tokenize_instructions(data, tok, max_length=48)


def recompute(model, examples, tok):
    model.eval()
    with torch.no_grad():
        return per_example_loss(model, InstructionCollator(tok)(examples)).numpy()


def test_checkpoint_steps():
    assert checkpoint_steps(10, 3) == [3, 7, 10]
    assert checkpoint_steps(5, 5) == [1, 2, 3, 4, 5]
    assert checkpoint_steps(7, 1) == [7]
    with pytest.raises(LessdataError, match="cannot record 6 checkpoints in 5"):
        checkpoint_steps(5, 6)
    with pytest.raises(LessdataError, match="checkpoint_steps: checkpoints must be an int ≥ 1, got 0"):
        checkpoint_steps(5, 0)


def test_trajectories_match_saved_checkpoints(setup, tmp_path):
    data, tok, examples = setup
    res = loss_trajectories(data, tok, checkpoints=3, epochs=2, batch_size=4, max_length=48, seed=0,
                            save_dir=tmp_path, eval_batch_size=5)
    assert res.trajectories.shape == (12, 3) and res.trajectories.dtype == np.float32
    assert res.steps == [2, 4, 6] and res.recorder.columns == ["step 2", "step 4", "step 6"]
    assert res.sources.tolist() == data.sources.tolist()
    for col, step in enumerate(res.steps):
        model = load_causal_lm(tmp_path / f"step-{step}")
        np.testing.assert_allclose(res.trajectories[:, col], recompute(model, examples, tok), rtol=1e-4, atol=1e-5)
    # the proxy learns: mean loss goes down from the first to the last checkpoint
    assert res.trajectories[:, -1].mean() < res.trajectories[:, 0].mean()
    # same seed, same trajectories
    again = loss_trajectories(data, tok, checkpoints=3, epochs=2, batch_size=4, max_length=48, seed=0)
    np.testing.assert_allclose(again.trajectories, res.trajectories, rtol=1e-5)


def test_trainer_callback_matches_saved_checkpoints(setup, tmp_path):
    transformers = pytest.importorskip("transformers")
    data, tok, examples = setup
    model = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=48, seed=0)
    callback = TrajectoryCallback(examples, collator=InstructionCollator(tok), checkpoints=3, batch_size=5)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=4,
                                          learning_rate=1e-3, save_strategy="steps", save_steps=2, report_to=[],
                                          logging_strategy="no", disable_tqdm=True, use_cpu=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=examples,
                                   data_collator=InstructionCollator(tok, keep_index=False), callbacks=[callback])
    trainer.train()
    traj = callback.trajectories()
    assert traj.shape == (12, 3) and callback.steps == [2, 4, 6]
    for col, step in enumerate(callback.steps):
        saved = load_causal_lm(tmp_path / f"checkpoint-{step}")
        np.testing.assert_allclose(traj[:, col], recompute(saved, examples, tok), rtol=1e-4, atol=1e-5)


def test_use_trainer_path(setup):
    data, tok, _ = setup
    res = loss_trajectories(data, tok, checkpoints=2, epochs=1, batch_size=4, max_length=48, use_trainer=True)
    assert res.trajectories.shape == (12, 2) and res.steps == [2, 3]
    assert np.isfinite(res.trajectories).all() and (res.trajectories > 0).all()


def test_record_losses_restores_mode_and_fills_nan(setup):
    _, tok, examples = setup
    model = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=48)
    model.train()
    rec = DynamicsRecorder(len(examples), fields=("loss",))
    assert record_losses(model, examples, rec, collator=InstructionCollator(tok), batch_size=5) == 0
    assert model.training
    np.testing.assert_allclose(rec.loss[:, 0], recompute(model, examples, tok), rtol=1e-4)
    with pytest.raises(LessdataError, match="already exists"):
        record_losses(model, examples, rec, collator=InstructionCollator(tok), name="checkpoint 0")
    with pytest.raises(LessdataError, match="holds 12 examples but 3"):
        record_losses(model, examples[:3], rec, collator=InstructionCollator(tok))
    # a column where nothing was recorded reads as 0 in the trajectories
    rec.start_column("empty")
    cb = TrajectoryCallback(examples, rec, collator=InstructionCollator(tok))
    assert cb.trajectories().shape == (12, 2) and (cb.trajectories()[:, 1] == 0).all()


def test_train_wraps_small_subsets_and_learns(setup):
    _, tok, examples = setup
    model = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=48, seed=2)
    before = recompute(model, examples[:3], tok).mean()
    seen = []
    out = train_causal_lm(model, examples[:3], collator=InstructionCollator(tok, keep_index=False), max_steps=8,
                          batch_size=2, learning_rate=3e-3, on_step=lambda step, m: seen.append(step))
    assert out["steps"] == 8 and seen == list(range(1, 9)) and np.isfinite(out["loss"])
    assert recompute(model, examples[:3], tok).mean() < before
    assert train_causal_lm(model, examples, collator=InstructionCollator(tok), epochs=1.5, batch_size=4)["steps"] == 5


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"),
    ({"max_steps": 0}, "max_steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": -1.0}, "learning_rate"),
])
def test_train_errors(setup, kwargs, match):
    _, tok, examples = setup
    model = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=48)
    with pytest.raises(LessdataError, match=match):
        train_causal_lm(model, examples, collator=InstructionCollator(tok), **kwargs)
    with pytest.raises(LessdataError, match="zero examples"):
        train_causal_lm(model, [], collator=InstructionCollator(tok))


def test_loss_trajectories_errors(setup):
    data, tok, _ = setup
    with pytest.raises(LessdataError, match="InstructionData"):
        loss_trajectories(ROWS, tok)
    with pytest.raises(LessdataError, match="cannot record 10 checkpoints in 3"):
        loss_trajectories(data, tok, checkpoints=10, batch_size=4, max_length=48)
    with pytest.raises(LessdataError, match="at least one example"):
        TrajectoryCallback([], collator=None)


def test_callback_steps_beyond_the_run(setup):
    from types import SimpleNamespace

    _, tok, examples = setup
    cb = TrajectoryCallback(examples, collator=InstructionCollator(tok), steps=[2, 50])
    with pytest.raises(LessdataError, match="step 50 is beyond the run's 10 steps"):
        cb.on_train_begin(None, SimpleNamespace(max_steps=10), None)
    cb = TrajectoryCallback(examples, collator=InstructionCollator(tok), checkpoints=4)
    cb.on_train_begin(None, SimpleNamespace(max_steps=10), None)
    assert cb.steps == [2, 5, 8, 10]
