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
