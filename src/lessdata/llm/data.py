"""Instruction data for causal-LM fine-tuning: load, tokenize with a response-only loss, batch.

Instruction data is a list of (prompt, response) pairs, optionally with a *source* per example (the dataset it
came from: S2L and CoLM balance their budgets across sources). It loads from a JSONL file, a Hugging Face
``datasets.Dataset`` or a list of dicts, with configurable field names (GSM8K: ``question`` / ``answer``).

Tokenization follows the usual supervised fine-tuning recipe: ``input_ids`` are the prompt (formatted by
``template``), then the response, then the end-of-sequence token; ``labels`` copy them with ``-100`` on the
prompt tokens, so the loss covers the response (and its end-of-sequence token) only.

Examples:
    >>> from lessdata.llm import load_instructions, get_tokenizer, tokenize_instructions, InstructionCollator
    >>> data = load_instructions([{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}])
    >>> tok = get_tokenizer(texts=data.texts(), vocab_size=300)
    >>> examples = tokenize_instructions(data, tok, max_length=32)
    >>> batch = InstructionCollator(tok)(examples)
    >>> sorted(batch)
    ['attention_mask', 'index', 'input_ids', 'labels', 'source']
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LessdataError, require

__all__ = [
    "IGNORE_INDEX",
    "InstructionCollator",
    "InstructionData",
    "get_tokenizer",
    "load_instructions",
    "per_example_loss",
    "tokenize_instructions",
]

#: label value ignored by the loss (PyTorch's cross-entropy default ``ignore_index``)
IGNORE_INDEX = -100
DEFAULT_TEMPLATE = "{prompt}\n"
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


def _require(module: str):
    return require(module, "llm", "language-model fine-tuning data")


# ------------------------------------------------------------------------------------------------ loading
@dataclass
class InstructionData:
    """Prompt/response pairs with one integer source id per example.

    Attributes:
        prompts, responses: the texts, one per example.
        sources: int64 source id per example (positions in ``source_names``; all 0 without a source column).
        source_names: the name of each source id (sorted; ``["all"]`` without a source column).
    """

    prompts: list[str]
    responses: list[str]
    sources: np.ndarray = None
    source_names: list[str] = field(default_factory=lambda: ["all"])

    def __post_init__(self):
        self.prompts, self.responses = list(self.prompts), list(self.responses)
        if len(self.prompts) != len(self.responses):
            raise LessdataError(f"got {len(self.prompts)} prompts but {len(self.responses)} responses")
        if self.sources is None:
            self.sources = np.zeros(len(self.prompts), dtype=np.int64)
        self.sources = np.asarray(self.sources, dtype=np.int64).reshape(-1)
        if len(self.sources) != len(self.prompts):
            raise LessdataError(f"got {len(self.sources)} sources for {len(self.prompts)} examples")
        if len(self.sources) and (self.sources.min() < 0 or self.sources.max() >= len(self.source_names)):
            raise LessdataError(f"source ids must be in [0, {len(self.source_names)}) (one per source name)")

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, indices) -> InstructionData:
        """The examples at ``indices`` (in that order), keeping all source names.

        Examples:
            >>> data = load_instructions([{"question": str(i), "answer": "x"} for i in range(5)])
            >>> data.subset([4, 0]).prompts
            ['4', '0']
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise LessdataError(f"subset index out of range for {len(self)} examples")
        return InstructionData([self.prompts[i] for i in idx], [self.responses[i] for i in idx],
                               self.sources[idx], list(self.source_names))

    def texts(self, template: str = DEFAULT_TEMPLATE) -> list[str]:
        """Formatted prompt followed by the response, per example (e.g. to train a tokenizer or embed)."""
        return [template.format(prompt=p) + r for p, r in zip(self.prompts, self.responses)]


def load_instructions(source, *, prompt_field: str = "question", response_field: str = "answer",
                      source_field: str | None = None, limit: int | None = None) -> InstructionData:
    """Load prompt/response pairs from a JSONL file, a ``datasets.Dataset`` or a list of dicts.

    Args:
        source: path of a ``.jsonl`` file (one JSON object per line), a Hugging Face ``datasets.Dataset``
            (one split, not a ``DatasetDict``), or a sequence of mappings.
        prompt_field, response_field: the names of the prompt and response fields.
        source_field: optional field naming each example's source dataset (any value; ids follow the sorted
            names). Without it, every example has source 0.
        limit: keep only the first ``limit`` examples.

    Examples:
        >>> data = load_instructions([{"q": "hi", "a": "hello", "src": "chat"}, {"q": "1+1", "a": "2", "src": "math"}],
        ...                          prompt_field="q", response_field="a", source_field="src")
        >>> data.sources.tolist(), data.source_names
        ([0, 1], ['chat', 'math'])
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise LessdataError(f"limit must be a positive integer, got {limit!r}")
    fields = [prompt_field, response_field] + ([source_field] if source_field is not None else [])
    if isinstance(source, (str, os.PathLike)):
        columns = _read_jsonl(Path(source), fields, limit)
    elif hasattr(source, "column_names") and hasattr(source, "features"):
        columns = _read_dataset(source, fields, limit)
    elif isinstance(source, Sequence) and all(isinstance(row, Mapping) for row in source):
        columns = _read_rows(source, fields, limit, "the data")
    else:
        raise LessdataError(f"instruction data must be a JSONL path, a datasets.Dataset or a list of dicts, "
                            f"got {type(source).__name__}")
    if not columns[prompt_field]:
        raise LessdataError("the instruction data has no examples")
    prompts = _texts(columns[prompt_field], prompt_field)
    responses = _texts(columns[response_field], response_field)
    if source_field is None:
        return InstructionData(prompts, responses)
    raw = [str(v) for v in columns[source_field]]
    names = sorted(set(raw))
    code = {name: i for i, name in enumerate(names)}
    return InstructionData(prompts, responses, np.array([code[v] for v in raw], dtype=np.int64), names)


def _texts(values, name: str) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(str(v))
        else:
            raise LessdataError(f"field {name!r} of example {i} must be text, got {type(v).__name__}")
    return out


def _read_rows(rows, fields, limit, where: str) -> dict[str, list]:
    rows = rows[:limit] if limit is not None else rows
    columns: dict[str, list] = {f: [] for f in fields}
    for i, row in enumerate(rows):
        for f in fields:
            if f not in row:
                raise LessdataError(f"example {i} of {where} has no field {f!r} (it has: {', '.join(map(str, row))})")
            columns[f].append(row[f])
    return columns


def _read_jsonl(path: Path, fields, limit) -> dict[str, list]:
    if not path.exists():
        raise LessdataError(f"no such file: {path}")
    if path.is_dir():
        raise LessdataError(f"{path} is a directory, expected a JSONL file")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LessdataError(f"{path}:{lineno} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise LessdataError(f"{path}:{lineno} is not a JSON object")
            missing = [f for f in fields if f not in row]
            if missing:
                raise LessdataError(f"{path}:{lineno} has no field {missing[0]!r} (it has: {', '.join(row)})")
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    return _read_rows(rows, fields, None, str(path))


def _read_dataset(ds, fields, limit) -> dict[str, list]:
    if not hasattr(ds, "num_rows") or isinstance(ds.num_rows, dict):
        raise LessdataError("got a DatasetDict: pass one split, e.g. dataset['train']")
    missing = [f for f in fields if f not in ds.column_names]
    if missing:
        raise LessdataError(f"the dataset has no column {missing[0]!r} (it has: {', '.join(ds.column_names)})")
    if limit is not None:
        ds = ds.select(range(min(limit, ds.num_rows)))
    return {f: list(ds[f]) for f in fields}


# ---------------------------------------------------------------------------------------------- tokenizer
def get_tokenizer(name_or_path=None, *, texts=None, vocab_size: int = 4096):
    """A ``transformers.PreTrainedTokenizerFast`` with pad and end-of-sequence tokens set.

    ``name_or_path``: a local Hugging Face tokenizer (directory or cached name; its pad token defaults to the
    eos token when it has none). Otherwise a byte-level BPE with ``vocab_size`` tokens is trained on ``texts``
    with the ``tokenizers`` library (digits split one per token, which helps arithmetic); its special tokens
    are ``<|endoftext|>`` (eos, also bos) and ``<|pad|>``. Save it with ``tokenizer.save_pretrained(dir)``.

    Examples:
        >>> tok = get_tokenizer(texts=["Natalia sold 48 clips.", "She sold half as many in May."], vocab_size=300)
        >>> tok.decode(tok("sold 48")["input_ids"])
        'sold 48'
    """
    transformers = _require("transformers")
    if name_or_path is not None:
        try:
            tok = transformers.AutoTokenizer.from_pretrained(str(name_or_path))
        except (OSError, ValueError) as exc:
            raise LessdataError(f"cannot load a tokenizer from {str(name_or_path)!r}: {_first_line(exc)}") from None
        if tok.eos_token is None:
            tok.add_special_tokens({"eos_token": EOS_TOKEN})
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return tok
    if texts is None:
        raise LessdataError("get_tokenizer needs a tokenizer name/path or texts= to train a BPE tokenizer on")
    if isinstance(texts, str):
        raise LessdataError("texts must be a list of strings, not one string")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise LessdataError("texts must be a non-empty list of strings")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 260:
        raise LessdataError(f"vocab_size must be an integer of at least 260 (256 bytes + specials), got {vocab_size!r}")
    tokenizers = _require("tokenizers")
    pre = tokenizers.pre_tokenizers
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = pre.Sequence([pre.Digits(individual_digits=True), pre.ByteLevel(add_prefix_space=False)])
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=[EOS_TOKEN, PAD_TOKEN],
                                             initial_alphabet=pre.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN,
                                                pad_token=PAD_TOKEN)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------- tokenization
def tokenize_instructions(data: InstructionData, tokenizer, *, max_length: int = 256,
                          template: str = DEFAULT_TEMPLATE) -> list[dict]:
    """Token ids and response-only labels per example.

    Each dict has ``input_ids`` (formatted prompt + response + eos), ``labels`` (``-100`` on the prompt
    tokens), ``index`` (the row in ``data``) and ``source``. Too long examples keep at least
    ``min(response, max_length // 2)`` response tokens: the response is cut at its end and the prompt at its
    start (the part next to the response stays).

    Examples:
        >>> data = load_instructions([{"question": "1+1?", "answer": "2"}])
        >>> tok = get_tokenizer(texts=data.texts(), vocab_size=300)
        >>> ex = tokenize_instructions(data, tok)[0]
        >>> n_prompt = len(tok("1+1?\\n")["input_ids"])
        >>> ex["labels"][:n_prompt] == [-100] * n_prompt, ex["labels"][n_prompt:] == ex["input_ids"][n_prompt:]
        (True, True)
    """
    if not isinstance(data, InstructionData):
        raise LessdataError(f"data must be an InstructionData (see load_instructions), got {type(data).__name__}")
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 2:
        raise LessdataError(f"max_length must be an integer of at least 2, got {max_length!r}")
    if "{prompt}" not in template:
        raise LessdataError(f"template must contain '{{prompt}}', got {template!r}")
    if tokenizer.eos_token_id is None:
        raise LessdataError("the tokenizer has no end-of-sequence token (see get_tokenizer)")
    prompts = [template.format(prompt=p) for p in data.prompts]
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(data.responses, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    examples = []
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        r = list(r) + [eos]
        if len(p) + len(r) > max_length:
            keep_r = max(max_length - len(p), min(len(r), max_length // 2))
            r = r[:keep_r]
            p = p[len(p) - (max_length - keep_r):] if max_length > keep_r else []
        examples.append({"input_ids": list(p) + r, "labels": [IGNORE_INDEX] * len(p) + r, "index": i,
                         "source": int(data.sources[i])})
    return examples


class InstructionCollator:
    """Pad a list of :func:`tokenize_instructions` dicts into a batch of tensors (right padding).

    The batch has ``input_ids`` (padded with the pad token), ``attention_mask``, ``labels`` (``-100`` on
    padding) and, when the examples carry them, ``index`` and ``source``. ``keep_index=False`` drops those
    two (for a Hugging Face ``Trainer``, which passes every batch key to the model).

    Examples:
        >>> coll = InstructionCollator(get_tokenizer(texts=["ab"], vocab_size=300))
        >>> b = coll([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "index": 0},
        ...           {"input_ids": [8], "labels": [8], "index": 1}])
        >>> b["labels"].tolist(), b["attention_mask"].tolist()
        ([[-100, 6, 7], [8, -100, -100]], [[1, 1, 1], [1, 0, 0]])
    """

    def __init__(self, tokenizer, *, pad_to_multiple_of: int | None = None, keep_index: bool = True):
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise LessdataError("the tokenizer has neither a pad nor an end-of-sequence token")
        self.pad_token_id = int(pad)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.keep_index = keep_index

    def __call__(self, examples: Sequence[Mapping]) -> dict:
        import torch

        if not examples:
            raise LessdataError("cannot collate an empty batch")
        length = max(len(ex["input_ids"]) for ex in examples)
        if self.pad_to_multiple_of:
            m = int(self.pad_to_multiple_of)
            length = -(-length // m) * m
        b = len(examples)
        input_ids = torch.full((b, length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((b, length), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((b, length), dtype=torch.long)
        for row, ex in enumerate(examples):
            ids = torch.as_tensor(ex["input_ids"], dtype=torch.long)
            k = len(ids)
            input_ids[row, :k] = ids
            labels[row, :k] = torch.as_tensor(ex["labels"], dtype=torch.long)
            mask[row, :k] = 1
        batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
        if self.keep_index:
            for key in ("index", "source"):
                if all(key in ex for ex in examples):
                    batch[key] = torch.as_tensor([int(ex[key]) for ex in examples], dtype=torch.long)
        return batch


# ---------------------------------------------------------------------------------------------- the loss
def per_example_loss(model, batch):
    """Mean response-token cross-entropy per example: a float32 tensor of shape ``(b,)``.

    ``batch`` has ``input_ids``, ``attention_mask`` and ``labels`` (``-100`` where no loss is taken); the
    model is any causal LM returning ``.logits`` (next-token prediction: position ``t`` predicts ``t + 1``).
    Gradients flow when called outside ``torch.no_grad()``. Examples without any label token get NaN.

    Examples:
        >>> import torch
        >>> from lessdata.llm import tiny_causal_lm
        >>> model = tiny_causal_lm("proxy", vocab_size=300, max_length=16)
        >>> batch = {"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
        ...          "labels": torch.tensor([[-100, 6, 7]])}
        >>> per_example_loss(model, batch).shape
        torch.Size([1])
    """
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    input_ids = batch["input_ids"].to(device)
    mask = batch.get("attention_mask")
    mask = None if mask is None else mask.to(device)
    labels = batch["labels"].to(device)
    logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
    targets = labels[:, 1:]
    token_loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                 ignore_index=IGNORE_INDEX, reduction="none").view(targets.shape)
    counts = (targets != IGNORE_INDEX).sum(dim=1)
    return token_loss.sum(dim=1) / counts.to(token_loss.dtype).where(counts > 0, torch.nan)
