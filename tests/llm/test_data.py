import json

import numpy as np
import pytest
import torch

from lessdata.errors import LessdataError
from lessdata.llm import (
    IGNORE_INDEX,
    InstructionCollator,
    InstructionData,
    get_tokenizer,
    load_instructions,
    per_example_loss,
    tiny_causal_lm,
    tokenize_instructions,
)

ROWS = [
    {"question": "What is 2 plus 3?", "answer": "2 + 3 = 5\n#### 5", "src": "math"},
    {"question": "Say hi.", "answer": "hi", "src": "chat"},
    {"question": "A long question " * 20, "answer": "A long answer " * 20, "src": "math"},
    {"question": "", "answer": "", "src": "chat"},
]


@pytest.fixture(scope="module")
def tok():
    data = load_instructions(ROWS)
    return get_tokenizer(texts=data.texts() * 3, vocab_size=320)


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_list_and_dataset_load_the_same(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    a = load_instructions(path, source_field="src")
    b = load_instructions(ROWS, source_field="src")
    c = load_instructions(datasets.Dataset.from_list(ROWS), source_field="src")
    for other in (b, c):
        assert other.prompts == a.prompts and other.responses == a.responses
        assert other.sources.tolist() == a.sources.tolist() == [1, 0, 1, 0]
        assert other.source_names == a.source_names == ["chat", "math"]
    assert load_instructions(path, limit=2).prompts == a.prompts[:2]
    assert load_instructions(datasets.Dataset.from_list(ROWS), limit=3).sources.tolist() == [0, 0, 0]


def test_field_names_and_subset():
    rows = [{"instruction": f"p{i}", "output": f"r{i}"} for i in range(6)]
    data = load_instructions(rows, prompt_field="instruction", response_field="output")
    assert len(data) == 6 and data.source_names == ["all"] and data.sources.tolist() == [0] * 6
    sub = data.subset([5, 2])
    assert sub.prompts == ["p5", "p2"] and sub.responses == ["r5", "r2"]
    assert data.texts(template="Q: {prompt}\nA: ")[1] == "Q: p1\nA: r1"


@pytest.mark.parametrize("source, kwargs, match", [
    ([{"question": "a"}], {}, "no field 'answer'"),
    ([{"question": "a", "answer": None}], {}, "must be text"),
    ([{"q": "a", "answer": "b"}], {"prompt_field": "question"}, "no field 'question'"),
    ([], {}, "no examples"),
    (42, {}, "JSONL path"),
    ([{"question": "a", "answer": "b"}], {"limit": 0}, "limit"),
    ([{"question": "a", "answer": "b"}], {"source_field": "src"}, "no field 'src'"),
])
def test_load_errors(source, kwargs, match):
    with pytest.raises(LessdataError, match=match):
        load_instructions(source, **kwargs)


def test_jsonl_errors(tmp_path):
    with pytest.raises(LessdataError, match="no such file"):
        load_instructions(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n{oops\n')
    with pytest.raises(LessdataError, match=r"bad.jsonl:2 is not valid JSON"):
        load_instructions(bad)
    bad.write_text('{"question": "a"}\n')
    with pytest.raises(LessdataError, match=r":1 has no field 'answer'"):
        load_instructions(bad)
    with pytest.raises(LessdataError, match="directory"):
        load_instructions(tmp_path)


def test_dataset_dict_and_missing_column():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    with pytest.raises(LessdataError, match="DatasetDict"):
        load_instructions(datasets.DatasetDict({"train": ds}))
    with pytest.raises(LessdataError, match="no column 'prompt'"):
        load_instructions(ds, prompt_field="prompt")


def test_tokenizer_round_trip_and_specials(tok, tmp_path):
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<|pad|>" and tok.pad_token_id != tok.eos_token_id
    text = "What is 2 plus 3? 2 + 3 = 5"
    assert tok.decode(tok(text)["input_ids"]) == text
    tok.save_pretrained(tmp_path)
    again = get_tokenizer(tmp_path)
    assert again(text)["input_ids"] == tok(text)["input_ids"] and again.pad_token_id == tok.pad_token_id
    # deterministic training
    data = load_instructions(ROWS)
    assert get_tokenizer(texts=data.texts() * 3, vocab_size=320).get_vocab() == tok.get_vocab()


@pytest.mark.parametrize("kwargs, match", [
    ({}, "needs a tokenizer name"),
    ({"texts": "one string"}, "not one string"),
    ({"texts": []}, "non-empty"),
    ({"texts": ["a"], "vocab_size": 10}, "vocab_size"),
])
def test_tokenizer_errors(kwargs, match):
    with pytest.raises(LessdataError, match=match):
        get_tokenizer(**kwargs)


def test_tokenizer_missing_path(tmp_path):
    with pytest.raises(LessdataError, match="cannot load a tokenizer"):
        get_tokenizer(tmp_path / "nope")


def test_labels_mask_exactly_the_prompt(tok):
    data = load_instructions(ROWS)
    examples = tokenize_instructions(data, tok, max_length=512)
    for i, ex in enumerate(examples):
        prompt = tok(data.prompts[i] + "\n", add_special_tokens=False)["input_ids"]
        response = tok(data.responses[i], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert ex["input_ids"] == prompt + response
        assert ex["labels"] == [IGNORE_INDEX] * len(prompt) + response
        assert ex["index"] == i


def test_truncation_keeps_response_tokens(tok):
    data = load_instructions(ROWS)
    examples = tokenize_instructions(data, tok, max_length=16)
    for ex in examples:
        assert len(ex["input_ids"]) <= 16 and len(ex["labels"]) == len(ex["input_ids"])
        assert sum(label != IGNORE_INDEX for label in ex["labels"]) >= 1
    long = examples[2]
    assert sum(label != IGNORE_INDEX for label in long["labels"]) == 8  # max_length // 2 response tokens


def test_tokenize_errors(tok):
    data = load_instructions(ROWS)
    with pytest.raises(LessdataError, match="max_length"):
        tokenize_instructions(data, tok, max_length=1)
    with pytest.raises(LessdataError, match="InstructionData"):
        tokenize_instructions(ROWS, tok)
    with pytest.raises(LessdataError, match="template"):
        tokenize_instructions(data, tok, template="no placeholder")


def test_collator_pads_labels_with_ignore_index(tok):
    data = load_instructions(ROWS, source_field="src")
    examples = tokenize_instructions(data, tok, max_length=64)
    batch = InstructionCollator(tok)(examples)
    lengths = [len(ex["input_ids"]) for ex in examples]
    assert batch["input_ids"].shape == (4, max(lengths))
    for row, ex in enumerate(examples):
        k = len(ex["input_ids"])
        assert batch["attention_mask"][row].tolist() == [1] * k + [0] * (max(lengths) - k)
        assert batch["labels"][row, k:].eq(IGNORE_INDEX).all()
        assert batch["input_ids"][row, k:].eq(tok.pad_token_id).all()
    assert batch["index"].tolist() == [0, 1, 2, 3] and batch["source"].tolist() == [1, 0, 1, 0]
    padded = InstructionCollator(tok, pad_to_multiple_of=8, keep_index=False)(examples[:2])
    assert padded["input_ids"].shape[1] % 8 == 0 and "index" not in padded
    with pytest.raises(LessdataError, match="empty batch"):
        InstructionCollator(tok)([])


def test_per_example_loss_matches_response_only_cross_entropy(tok):
    data = load_instructions(ROWS)
    examples = tokenize_instructions(data, tok, max_length=64)
    batch = InstructionCollator(tok)(examples)
    model = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=64, seed=1)
    with torch.no_grad():
        losses = per_example_loss(model, batch)
        for row, ex in enumerate(examples):  # slow path: each example alone, unpadded, token by token
            ids = torch.tensor([ex["input_ids"]])
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            terms = [-logp[t - 1, ex["labels"][t]] for t in range(1, len(ex["labels"]))
                     if ex["labels"][t] != IGNORE_INDEX]
            assert losses[row].item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-4)
    # changing a prompt-token label to a real id changes the loss; padding labels never matter
    assert losses.shape == (4,) and torch.isfinite(losses).all()


def test_per_example_loss_no_label_tokens_is_nan(tok):
    model = tiny_causal_lm("proxy", vocab_size=len(tok), max_length=8)
    batch = {"input_ids": torch.tensor([[5, 6, 7], [5, 6, 7]]), "attention_mask": torch.ones(2, 3, dtype=torch.long),
             "labels": torch.tensor([[-100, -100, -100], [-100, 6, 7]])}
    with torch.no_grad():
        out = per_example_loss(model, batch)
    assert torch.isnan(out[0]) and torch.isfinite(out[1])


def test_instruction_data_validation():
    with pytest.raises(LessdataError, match="prompts but"):
        InstructionData(["a"], [])
    with pytest.raises(LessdataError, match="source ids"):
        InstructionData(["a"], ["b"], np.array([3]), ["x"])
    data = InstructionData(["a", "b"], ["c", "d"])
    with pytest.raises(LessdataError, match="out of range"):
        data.subset([2])
