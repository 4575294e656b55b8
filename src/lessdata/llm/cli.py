"""``lessdata llm``: signals for language-model data selection, from instruction data to ``.npy`` files.

    lessdata llm trajectories train.jsonl --prompt-field question --response-field answer \\
        --checkpoints 5 --out traj.npy                      # also writes traj.sources.npy
    lessdata select traj.npy --labels traj.sources.npy --method s2l --fraction 0.3 -o coreset.npz
    lessdata llm embed train.jsonl --out emb.npy           # facility-location baseline's signal

The lead CLI mounts :data:`llm_app` lazily as the ``llm`` group (``lessdata.cli._LAZY_GROUPS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ..errors import LessdataError

llm_app = typer.Typer(
    name="llm",
    help="Language-model data selection: proxy loss trajectories (S2L) and sentence embeddings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@llm_app.callback()
def _llm():
    """Language-model data selection: proxy loss trajectories (S2L) and sentence embeddings."""


DataArg = Annotated[Path, typer.Argument(help="Instruction data: a JSONL file, one JSON object per line.",
                                         show_default=False)]
PromptField = Annotated[str, typer.Option(help="Field holding the prompt.")]
ResponseField = Annotated[str, typer.Option(help="Field holding the response.")]
SourceField = Annotated[str | None, typer.Option(help="Optional field naming each example's source dataset.")]
Limit = Annotated[int | None, typer.Option(help="Use only the first N examples.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _check_npy(path: Path, what: str) -> Path:
    if path.suffix.lower() != ".npy":
        raise LessdataError(f"{what} {str(path)!r} must end in .npy")
    if path.is_dir():
        raise LessdataError(f"{what} {path} is a directory")
    return path


def _sources_path(out: Path) -> Path:
    return out.with_name(out.stem + ".sources.npy")


def _save_npy(path: Path, array: np.ndarray) -> None:
    from .._io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def _load(data: Path, prompt_field, response_field, source_field, limit):
    from .data import load_instructions

    return load_instructions(data, prompt_field=prompt_field, response_field=response_field,
                             source_field=source_field, limit=limit)


@llm_app.command()
def trajectories(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the N x T trajectories (.npy).",
                                      show_default=False)],
    prompt_field: PromptField = "question",
    response_field: ResponseField = "answer",
    source_field: SourceField = None,
    checkpoints: Annotated[int, typer.Option(help="Number of checkpoints T at which losses are recorded.")] = 5,
    epochs: Annotated[float, typer.Option(help="Proxy training epochs over all the data.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Proxy training batch size.")] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr", help="Peak learning rate.")] = 1e-3,
    max_length: Annotated[int, typer.Option(help="Longest token sequence (prompt + response).")] = 256,
    tokenizer: Annotated[str | None, typer.Option(
        help="A local Hugging Face tokenizer (default: train a byte-level BPE on the data).")] = None,
    vocab_size: Annotated[int, typer.Option(help="Vocabulary of the trained BPE tokenizer.")] = 4096,
    model: Annotated[str | None, typer.Option(
        help="A local pretrained causal LM as the proxy (default: a fresh 2-layer, width-128 model).")] = None,
    family: Annotated[str, typer.Option(help="Fresh proxy architecture: gpt2 or gpt_neox.")] = "gpt2",
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1... (default: cuda if available).")] = None,
    bf16: Annotated[bool, typer.Option(help="bfloat16 autocast (GPU).")] = False,
    trainer: Annotated[bool, typer.Option("--hf-trainer/--torch-loop",
                                          help="Train with a Hugging Face Trainer + TrajectoryCallback.")] = False,
    sources_out: Annotated[Path | None, typer.Option(
        help="Where to write the source id per example (default: OUT with .sources.npy).")] = None,
    dynamics: Annotated[Path | None, typer.Option(
        help="Also save the DynamicsRecorder (.npz): checkpoint names and raw losses.")] = None,
    save_proxy: Annotated[Path | None, typer.Option(help="Save the trained proxy and its tokenizer here.")] = None,
    limit: Limit = None,
    seed: Annotated[int, typer.Option(help="Random seed (proxy init, data order).")] = 0,
    quiet: Quiet = False,
):
    """Fine-tune a small proxy on all of DATA and write each example's loss at T checkpoints (S2L's signal)."""
    import torch
    from rich.console import Console

    from .._progress import rich_progress
    from .data import get_tokenizer
    from .models import FAMILIES, load_causal_lm, tiny_causal_lm

    out = _check_npy(out, "--out")
    sources_out = _check_npy(sources_out or _sources_path(out), "--sources-out")
    if dynamics is not None and dynamics.suffix.lower() != ".npz":
        raise LessdataError(f"--dynamics {str(dynamics)!r} must end in .npz")
    if family not in FAMILIES:
        raise LessdataError(f"unknown model family {family!r}; choose one of: {', '.join(FAMILIES)}")
    if seed < 0:
        raise LessdataError(f"--seed must be non-negative, got {seed}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch_device = torch.device(device)
    except RuntimeError:
        raise LessdataError(f"unknown device {device!r}") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise LessdataError("--device cuda but no CUDA GPU is available")
    from .trajectories import loss_trajectories

    instructions = _load(data, prompt_field, response_field, source_field, limit)
    tok = get_tokenizer(tokenizer) if tokenizer else get_tokenizer(texts=instructions.texts(), vocab_size=vocab_size)
    proxy = load_causal_lm(model) if model else tiny_causal_lm(
        "proxy", vocab_size=len(tok), max_length=max_length, family=family, seed=seed,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    err = Console(stderr=True)
    steps_total = -(-max(1, round(epochs * len(instructions))) // max(1, batch_size))
    with rich_progress(err, "training the proxy", enabled=not quiet) as bar:
        if bar is not None:
            bar.total = steps_total
        result = loss_trajectories(instructions, tok, model=proxy, checkpoints=checkpoints, epochs=epochs,
                                   batch_size=batch_size, learning_rate=learning_rate, max_length=max_length,
                                   seed=seed, device=torch_device, bf16=bf16, use_trainer=trainer, progress=bar)
    _save_npy(out, result.trajectories)
    _save_npy(sources_out, result.sources)
    if dynamics is not None:
        result.recorder.save(dynamics)
    if save_proxy is not None:
        result.model.save_pretrained(save_proxy)
        tok.save_pretrained(save_proxy)
    console = Console()
    n, T = result.trajectories.shape
    console.print(f"recorded [bold]{n:,}[/] x {T} loss trajectories at steps {result.steps} "
                  f"in {result.seconds:.1f} s", highlight=False)
    console.print(f"mean loss {result.trajectories[:, 0].mean():.3f} -> {result.trajectories[:, -1].mean():.3f}; "
                  f"{len(instructions.source_names)} source(s)", highlight=False)
    console.print(f"written to {out} and {sources_out}", soft_wrap=True, highlight=False, markup=False)


@llm_app.command()
def embed(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the N x d embeddings (.npy).",
                                      show_default=False)],
    prompt_field: PromptField = "question",
    response_field: ResponseField = "answer",
    source_field: SourceField = None,
    model: Annotated[str | None, typer.Option(
        help="A local sentence-transformers model (default: the bundled all-MiniLM-L6-v2).")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per encoder batch.")] = 128,
    device: Annotated[str | None, typer.Option(help="cpu, cuda... (default: the encoder's choice).")] = None,
    limit: Limit = None,
    quiet: Quiet = False,
):
    """Embed prompt + response of every example of DATA (input of `lessdata select --method facility_location`)."""
    from rich.console import Console

    from .._progress import rich_progress
    from .embeddings import sentence_embeddings

    out = _check_npy(out, "--out")
    sources_out = _sources_path(out)
    instructions = _load(data, prompt_field, response_field, source_field, limit)
    with rich_progress(Console(stderr=True), "embedding", enabled=not quiet) as bar:
        if bar is not None:
            bar.total = len(instructions)
        emb = sentence_embeddings(instructions.texts(), model=model, batch_size=batch_size, device=device,
                                  progress=bar)
    _save_npy(out, emb)
    _save_npy(sources_out, instructions.sources)
    Console().print(f"embedded {emb.shape[0]:,} examples ({emb.shape[1]} dimensions); written to {out} and "
                    f"{sources_out}", soft_wrap=True, highlight=False, markup=False)


# ------------------------------------------------------------------------------------ kMQ and LESS commands
Fraction = Annotated[float | None, typer.Option(help="Share of the examples to select, in (0, 1].")]
Budget = Annotated[int | None, typer.Option(help="Number of examples to select (instead of --fraction).")]
CoresetOut = Annotated[Path, typer.Option("--out", "-o", help="Where to write the Coreset (.npz or .parquet).",
                                          show_default=False)]


def _check_coreset_out(path: Path) -> Path:
    if path.is_dir():
        raise LessdataError(f"output {path} is a directory")
    if path.suffix.lower() not in (".npz", ".parquet"):
        raise LessdataError(f"output {str(path)!r} must end in .npz or .parquet")
    return path


def _load_npy(path: Path, what: str) -> np.ndarray:
    _check_npy(path, what)
    if not path.exists():
        raise LessdataError(f"{what} {path} does not exist")
    try:
        return np.load(path)
    except (OSError, ValueError) as exc:
        raise LessdataError(f"cannot read {what} {path}: {exc}") from None


def _budget(n: int, fraction, budget) -> int:
    from .._validation import resolve_budget

    return resolve_budget(n, fraction=fraction, budget=budget)


def _pretrained(model: Path):
    from .data import get_tokenizer
    from .models import load_causal_lm

    if not model.is_dir():
        raise LessdataError(f"--model {model} is not a folder with a saved causal LM and its tokenizer")
    return load_causal_lm(model), get_tokenizer(str(model))


@llm_app.command()
def kmq(
    data: DataArg,
    embeddings: Annotated[Path, typer.Option(help="Row-aligned embeddings of DATA (.npy; `lessdata llm embed`).",
                                             show_default=False)],
    out: CoresetOut,
    fraction: Fraction = None,
    budget: Budget = None,
    prompt_field: PromptField = "question",
    response_field: ResponseField = "answer",
    n_clusters: Annotated[int, typer.Option(help="k-means clusters.")] = 100,
    rounds: Annotated[int, typer.Option(help="1: static kMQ; more: iterative kMQ with this many rounds.")] = 1,
    epochs: Annotated[float, typer.Option(help="Iterative: epochs of each round's tiny LM over the picks.")] = 2.0,
    batch_size: Annotated[int, typer.Option(help="Iterative: training batch size.")] = 16,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr", help="Iterative: peak LR.")] = 1e-3,
    max_length: Annotated[int, typer.Option(help="Iterative: longest token sequence.")] = 256,
    vocab_size: Annotated[int, typer.Option(help="Iterative: vocabulary of the BPE trained on DATA.")] = 4096,
    limit: Limit = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    quiet: Quiet = False,
):
    """kMQ: k-means on EMBEDDINGS, budget spread over clusters; --rounds > 1 refines with a tiny LM's loss."""
    from rich.console import Console

    from .._progress import rich_progress
    from ..methods import select

    out = _check_coreset_out(out)
    E = _load_npy(embeddings, "--embeddings")
    instructions = _load(data, prompt_field, response_field, None, limit)
    if E.ndim != 2 or E.shape[0] != len(instructions):
        raise LessdataError(f"--embeddings has {E.shape[0] if E.ndim else 0} rows but DATA has {len(instructions)} "
                            "examples: they must be row-aligned")
    k = _budget(len(instructions), fraction, budget)
    if rounds < 1:
        raise LessdataError(f"--rounds must be at least 1, got {rounds}")
    if rounds == 1:
        cs = select(E, budget=k, method="kmq", n_clusters=n_clusters, seed=seed)
    else:
        from .data import InstructionCollator, get_tokenizer, tokenize_instructions
        from .kmq import iterative_kmq
        from .models import tiny_causal_lm
        from .trajectories import train_causal_lm

        tok = get_tokenizer(texts=instructions.texts(), vocab_size=vocab_size)
        examples = tokenize_instructions(instructions, tok, max_length=max_length)
        coll = InstructionCollator(tok, keep_index=False)
        with rich_progress(Console(stderr=True), "kMQ rounds", enabled=not quiet) as bar:
            if bar is not None:
                bar.total = rounds
            cs = iterative_kmq(
                examples, E, k, collator=coll, rounds=rounds, n_clusters=n_clusters, seed=seed, progress=bar,
                make_model=lambda r: tiny_causal_lm("proxy", vocab_size=len(tok), max_length=max_length, seed=seed,
                                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id),
                train=lambda m, sub: train_causal_lm(m, sub, collator=coll, epochs=epochs, batch_size=batch_size,
                                                     learning_rate=learning_rate, seed=seed))
    cs.save(out)
    Console().print(f"selected {len(cs):,} of {len(instructions):,} examples by kMQ "
                    f"({'static' if rounds == 1 else f'{rounds} rounds'}); written to {out}",
                    soft_wrap=True, highlight=False, markup=False)


@llm_app.command("less-features")
def less_features(
    data: DataArg,
    model: Annotated[Path, typer.Option(help="A saved causal LM folder with its tokenizer (the base model).",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to store the LESS features (.npz).",
                                      show_default=False)],
    prompt_field: PromptField = "question",
    response_field: ResponseField = "answer",
    proj_dim: Annotated[int, typer.Option(help="Random projection dimension.")] = 8192,
    warmup_fraction: Annotated[float, typer.Option(help="Share of DATA for the LoRA warm-up.")] = 0.05,
    epochs: Annotated[int, typer.Option(help="Warm-up epochs (one checkpoint each).")] = 4,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr", help="Warm-up peak LR.")] = 2e-5,
    batch_size: Annotated[int, typer.Option(help="Warm-up batch size.")] = 8,
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 128,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 512,
    max_length: Annotated[int, typer.Option(help="Longest token sequence.")] = 256,
    limit: Limit = None,
    seed: Annotated[int, typer.Option(help="Seed of the warm-up subset and of the projection.")] = 0,
    quiet: Quiet = False,
):
    """LESS: LoRA warm-up on a share of DATA, then every example's projected, Adam-preconditioned LoRA gradient."""
    from rich.console import Console

    from .._progress import rich_progress
    from .data import InstructionCollator, tokenize_instructions
    from .less import LessFeatures

    if out.suffix.lower() != ".npz" or out.is_dir():
        raise LessdataError(f"--out {str(out)!r} must be a .npz file")
    if proj_dim <= 0:
        raise LessdataError(f"--proj-dim must be a positive integer, got {proj_dim}")
    base, tok = _pretrained(model)
    instructions = _load(data, prompt_field, response_field, None, limit)
    examples = tokenize_instructions(instructions, tok, max_length=max_length)
    coll = InstructionCollator(tok, keep_index=False)
    warm_steps = epochs * -(-max(1, round(warmup_fraction * len(examples))) // batch_size)
    with rich_progress(Console(stderr=True), "LESS warm-up + gradients", enabled=not quiet) as bar:
        if bar is not None:
            bar.total = warm_steps + epochs * len(examples)
        feats, _ = LessFeatures.compute(base, examples, collator=coll, proj_dim=proj_dim, seed=seed,
                                        fraction=warmup_fraction, epochs=epochs, learning_rate=learning_rate,
                                        batch_size=batch_size, lora_r=lora_r, lora_alpha=lora_alpha, progress=bar)
    feats.save(out)
    Console().print(f"{feats.train.shape[0]:,} x {feats.train.shape[1]} LESS features ({len(feats.weights)} "
                    f"checkpoints) in {feats.seconds:.1f} s; written to {out}", soft_wrap=True, highlight=False,
                    markup=False)


@llm_app.command("less-select")
def less_select(
    target: Annotated[Path, typer.Argument(help="The target set: a JSONL file of examples of the task you care "
                                                "about.", show_default=False)],
    features: Annotated[Path, typer.Option(help="Stored features of the training data (`less-features`).",
                                           show_default=False)],
    model: Annotated[Path, typer.Option(help="The same base model folder the features were computed with.",
                                        show_default=False)],
    out: CoresetOut,
    fraction: Fraction = None,
    budget: Budget = None,
    prompt_field: PromptField = "question",
    response_field: ResponseField = "answer",
    task_field: Annotated[str | None, typer.Option(help="Field naming each target example's task (score = max "
                                                        "over tasks).")] = None,
    target_out: Annotated[Path | None, typer.Option(help="Also save the target gradient features (.npy).")] = None,
    max_length: Annotated[int, typer.Option(help="Longest token sequence.")] = 256,
    quiet: Quiet = False,
):
    """LESS: select the training examples whose stored gradient features best match TARGET's gradients."""
    from rich.console import Console

    from .._progress import rich_progress
    from ..methods import select
    from .data import InstructionCollator, tokenize_instructions
    from .less import LessFeatures

    out = _check_coreset_out(out)
    if target_out is not None:
        _check_npy(target_out, "--target-out")
    feats = LessFeatures.load(features)
    k = _budget(feats.train.shape[0], fraction, budget)
    base, tok = _pretrained(model)
    instructions = _load(target, prompt_field, response_field, task_field, None)
    examples = tokenize_instructions(instructions, tok, max_length=max_length)
    peft_model = feats.peft_model_for(base)
    with rich_progress(Console(stderr=True), "target gradients", enabled=not quiet) as bar:
        if bar is not None:
            bar.total = len(feats.adapters) * len(examples)
        tgt = feats.target_features(peft_model, examples, collator=InstructionCollator(tok, keep_index=False),
                                    progress=bar)
    cs = select(feats.train, budget=k, method="less", target=tgt, checkpoint_weights=feats.weights,
                         target_tasks=instructions.sources if task_field else None)
    cs.save(out)
    if target_out is not None:
        _save_npy(target_out, tgt)
    Console().print(f"selected {len(cs):,} of {feats.train.shape[0]:,} training examples for {len(examples)} target "
                    f"examples; written to {out}", soft_wrap=True, highlight=False, markup=False)
