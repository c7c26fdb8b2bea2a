"""Builders of tiny, randomly initialised ``transformers`` VLM directories (CLIP, SigLIP, X-CLIP) for tests.

Each directory is written with the library's own ``save_pretrained`` (config.json, model.safetensors,
preprocessor_config.json, tokenizer files), exactly like a downloaded model, but with a few thousand
parameters and a word-level tokenizer built offline with ``tokenizers``.
"""
from __future__ import annotations

from pathlib import Path

WORDS = ["a", "walker", "runs", "stands", "cheetah", "jumps", "fast", "slowly", "the", "on", "floor", "robot"]
SPECIALS = ["[PAD]", "[EOS]", "[BOS]", "[UNK]"]
PAD, EOS, BOS, UNK = 0, 1, 2, 3
#: deliberately unusual constants, so tests can check that the backend reads them from the directory
MEAN = (0.25, 0.5, 0.75)
STD = (0.2, 0.3, 0.4)


def save_tokenizer(directory: Path, append_eos: bool = True) -> None:
    """A word-level fast tokenizer ("[BOS] words [EOS]") saved with ``save_pretrained``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if append_eos:
        tok.post_processor = processors.TemplateProcessing(
            single="[BOS] $A [EOS]", special_tokens=[("[BOS]", BOS), ("[EOS]", EOS)]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", eos_token="[EOS]", bos_token="[BOS]", unk_token="[UNK]"
    )
    fast.save_pretrained(str(directory))


def _text_kwargs(max_pos: int) -> dict:
    return dict(vocab_size=len(SPECIALS) + len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=max_pos, pad_token_id=PAD, bos_token_id=BOS,
                eos_token_id=EOS)


def _vision_kwargs(image_size: int = 32, patch: int = 8) -> dict:
    return dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                image_size=image_size, patch_size=patch)


def build_clip(directory: Path, seed: int = 0, image_size: int = 32, projection_dim: int = 12) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(text_config=_text_kwargs(16), vision_config=_vision_kwargs(image_size),
                        projection_dim=projection_dim)
    CLIPModel(config).eval().save_pretrained(str(directory))
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
                       image_mean=list(MEAN), image_std=list(STD), resample=3).save_pretrained(str(directory))
    save_tokenizer(directory)
    return directory


def build_siglip(directory: Path, seed: int = 0, image_size: int = 32) -> Path:
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(seed)
    text = _text_kwargs(12)
    config = SiglipConfig(text_config=text, vision_config=_vision_kwargs(image_size))
    SiglipModel(config).eval().save_pretrained(str(directory))
    SiglipImageProcessor(size={"height": image_size, "width": image_size}, image_mean=list(MEAN),
                         image_std=list(STD), resample=2).save_pretrained(str(directory))
    save_tokenizer(directory)
    return directory


def build_xclip(directory: Path, seed: int = 0, image_size: int = 32, num_frames: int = 4,
                projection_dim: int = 12) -> Path:
    import torch
    from transformers import CLIPImageProcessor, XCLIPConfig, XCLIPModel

    torch.manual_seed(seed)
    vision = _vision_kwargs(image_size) | {"num_frames": num_frames, "mit_hidden_size": projection_dim,
                                           "mit_intermediate_size": 24, "mit_num_hidden_layers": 1,
                                           "mit_num_attention_heads": 2}
    config = XCLIPConfig(text_config=_text_kwargs(16), vision_config=vision, projection_dim=projection_dim,
                         prompt_layers=1, prompt_attention_heads=2, prompt_num_attention_heads=2)
    XCLIPModel(config).eval().save_pretrained(str(directory))
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
                       image_mean=list(MEAN), image_std=list(STD), resample=3).save_pretrained(str(directory))
    save_tokenizer(directory)
    return directory
