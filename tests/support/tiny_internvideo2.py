"""A tiny InternVideo2-Stage2 checkpoint in the real file's key layout, with random weights, for tests.

:func:`save_tiny_internvideo2` writes into a folder what a user puts in ``models/``: the checkpoint (``torch.save``
of ``{"model": state_dict}`` with every key the released file holds, used or not: distillation decoders,
fusion layers, MLM head, ``temp``, ``itm_head``), a ``bert-large-uncased/vocab.txt`` word-piece vocabulary, and
``internvideo2_config.json`` with the tiny sizes (the real file needs none: it is GenRL's 1B config).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from agents.genrl.vlm.internvideo2 import CHECKPOINT_NAME, CONFIG_NAME, TOKENIZER_NAME, ignored_keys, used_keys
from agents.genrl.vlm.internvideo2_model import InternVideo2Config

#: vocabulary of the test tokenizer: BERT's special tokens first ([PAD] = 0, as bert-large-uncased), then words.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "walker", "runs", "stands", "the", "cheetah", "jumps",
         "fast", "on", "floor", "robot", "walk", "##ing", "##s", "up", "down", "taking", "high", "kick"]


def random_state_dict(config: InternVideo2Config, seed: int = 0, extras: bool = True,
                      dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random weights under the real checkpoint's keys (``extras``: also the keys GenRL does not use).

    Norm weights are near 1, layer-scale gammas near 0.5 (so every block changes the output),
    biases N(0, 0.05^2), class token and position embeddings N(0, 0.3^2), matrices
    N(0, 1 / fan-in), so activations stay O(1) through the tiny towers.
    """
    g = torch.Generator().manual_seed(seed)
    shapes = {k: shape for k, (_, shape) in used_keys(config).items()}
    if extras:
        shapes |= ignored_keys(config)
    out: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        if key.endswith("position_ids"):
            out[key] = torch.arange(shape[-1]).reshape(shape)
            continue
        if key == "temp":
            out[key] = torch.tensor(0.07)
            continue
        if "norm" in key.lower() and key.endswith("weight"):
            value = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("gamma"):
            value = 0.5 + 0.1 * torch.randn(shape, generator=g)
        else:
            if len(shape) == 2:  # Linear / Embedding
                scale = shape[-1] ** -0.5
            elif len(shape) == 5:  # the Conv3d patch embedding
                scale = (shape[1] * shape[2] * shape[3] * shape[4]) ** -0.5
            elif len(shape) == 1:  # biases
                scale = 0.05
            else:  # class token, position embeddings
                scale = 0.3
            value = torch.randn(shape, generator=g) * scale
        out[key] = value.to(dtype)
    return out


def save_tiny_internvideo2(directory: Path, config: Optional[InternVideo2Config] = None, seed: int = 0,
                           extras: bool = True, wrap: Optional[str] = "model",
                           dtype: torch.dtype = torch.float32) -> Path:
    """Write checkpoint + tokenizer + config into ``directory``; return the checkpoint path.

    :param wrap: ``"model"`` (the released file), ``"module"`` (a deepspeed file) or None (a bare state dict).
    """
    config = config or InternVideo2Config.tiny()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = random_state_dict(config, seed, extras, dtype)
    path = directory / CHECKPOINT_NAME
    torch.save({wrap: state} if wrap else state, path)
    (directory / CONFIG_NAME).write_text(config.to_json())
    save_vocab(directory / TOKENIZER_NAME)
    return path


def save_vocab(directory: Path) -> Path:
    """A ``vocab.txt`` BERT word-piece tokenizer folder (what ``BertTokenizer.from_pretrained`` reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return directory
