"""InternVideo2-Stage2 1B (224 px, 4-frame checkpoint, run on 8 frames): GenRL's own video-language model.

GenRL's released world models (``mazpie/genrl_models``) were trained on this model's 512-d embeddings, so it
is the VLM that makes their text and video prompts meaningful. ``load_vlm("internvideo2", source=PATH)``
builds :class:`InternVideo2Backend` from the gated checkpoint ``InternVideo2-stage2_1b-224p-f4.pt`` (request
access at https://huggingface.co/OpenGVLab/InternVideo2-Stage2_1B-224p-f4) plus the ``bert-large-uncased``
tokenizer, both read offline.

Facts used, and where they come from (GenRL's vendored copy of OpenGVLab/InternVideo, under
``third_party/InternVideo/InternVideo2/multi_modality/`` of mazpie/genrl, abbreviated ``MM/``):

* GenRL's wrapper (``tools/genrl_utils.py: ViCLIPGlobalInstance.instantiate``) loads
  ``MM/demo/internvideo2_stage2_config.py``, forces ``num_frames = num_frames_test = 8`` and calls
  ``MM/demo/small_utils.py: setup_internvideo2``; ``use_half_precision = use_bf16 = False`` there, so no
  flash-attention / fused kernels and an fp32 model. Its ``n_frames = 8``; its embedding size is read from
  ``get_vid_features`` (512).
* Vision (``MM/models/backbones/internvideo2/internvideo2.py: pretrain_internvideo2_1b_patch14_224`` and
  ``PretrainInternVideo2``): img 224, patch 14, tubelet 1 (config), width 1408, depth 40, heads 16,
  ``mlp_ratio = 48/11`` (hidden ``int(1408*48/11)`` = 6144), ``qkv_bias=False``, ``qk_normalization=True``,
  layer scale ``init_values=1e-5`` with fp32 multiply (``layerscale_no_force_fp32=False``), block norms
  ``RMSNorm(eps=1e-6)`` (the non-fused path), GELU MLP with biases, ``PatchEmbed`` = Conv3d with no norm, a
  class token, ``sep_image_video_pos_embed=True`` (a video clip uses ``pos_embed``; ``img_pos_embed`` only for
  T = 1, which GenRL never feeds), no final norm; pooling ``clip_projector = AttentionPoolingBlock(dim 1408,
  heads 16, qkv_bias=True, LayerNorm eps 1e-5, out_dim = clip_embed_dim 768)`` whose query is the token mean.
  ``get_vid_features`` uses this pooled feature (not ``final_clip_decoder``), then ``vision_proj`` Linear(768
  -> ``embed_dim`` 512), then divides by its norm.
* Position embeddings: the checkpoint holds 4 frames (``origin_num_frames = 4``); ``setup_internvideo2`` calls
  ``MM/models/backbones/internvideo2/pos_embed.py: interpolate_pos_embed_internvideo2_new``, which resamples
  the time axis linearly to 8 frames, class row kept (see :func:`~agents.genrl.vlm.internvideo2_model.
  interpolate_temporal`).
* Text (``MM/configs/model.py: TextEncoders["bert_large"]``, ``MM/configs/config_bert_large.json``,
  ``MM/models/backbones/bert/xbert.py``): BERT-large (vocab 30522, width 1024, 24 layers, 16 heads, MLP 4096,
  GELU, LayerNorm eps 1e-12, 512 positions, 2 token types) with ``fusion_layer 19``; ``encode_text`` runs
  ``mode="text"``, i.e. only layers 0..18 (``BertEncoder.forward``), token types all 0, padded positions
  masked with -10000 (``get_extended_attention_mask``); the [CLS] state -> ``text_proj`` Linear(1024 -> 512)
  -> divided by its norm. Tokenizer ``BertTokenizer.from_pretrained("bert-large-uncased",
  local_files_only=True)``, ``padding="max_length"``, ``truncation=True``, ``max_length = max_txt_l = 40``.
* Logit scale: GenRL compares unit embeddings by cosine only; the checkpoint's ``temp`` (0.07 at init) and
  ``itm_head`` are not used (the demo model does not even define them: loading reports exactly these three
  as unexpected, OpenGVLab/InternVideo issue #174).
* Frames (``ViCLIPGlobalInstance.preprocess_transf``, ``envs/main.py``): uint8 / 255, torchvision bilinear
  Resize to 224x224, ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225), 8 consecutive frames.
  Here the resize is ``F.interpolate(bilinear, antialias=True)``, which is what torchvision's tensor Resize
  does (for GenRL's 64 -> 224 upsampling antialiasing changes nothing). Video prompts follow
  ``get_video_feat`` (1 frame x8, 4 frames x2, stride ``max(1, T // 128)``, first 8): :func:`~agents.genrl.
  vlm.base.prompt_clip`.
* Checkpoint: ``torch.load`` of a dict whose ``"model"`` (or, for deepspeed, ``"module"``) entry is the
  state dict of the training ``InternVideo2_Stage2`` (``MM/models/internvideo2_stage2.py``): vision encoder
  with its distillation decoders, ``BertForMaskedLM`` (``text_encoder.bert.*`` + MLM head
  ``text_encoder.cls.*``), ``vision_proj``, ``text_proj``, ``temp``, ``itm_head``.

Key map (strict; every checkpoint key is either used or in the documented ignore list, else an error):

=========================================  ========================================================
checkpoint                                 this module
=========================================  ========================================================
``vision_encoder.{patch_embed,cls_token,   ``vision.*`` (same suffix; ``pos_embed`` interpolated
pos_embed,blocks,clip_projector}.*``       from ``checkpoint_frames`` to ``n_frames``)
``vision_proj.*``                          ``vision.proj.*``
``text_encoder.bert.embeddings.*``         ``text.embeddings.*``
``text_encoder.bert.encoder.layer.i.*``    ``text.layers.i.*`` for i < ``fusion_layer``
``text_proj.*``                            ``text.proj.*``
ignored (may be absent)                    ``vision_encoder.{img_pos_embed, clip_pos_embed,
                                           clip_img_pos_embed, clip_decoder.j.*, final_clip_decoder.*}``,
                                           ``text_encoder.bert.embeddings.position_ids``,
                                           ``text_encoder.bert.encoder.layer.i.*`` for i >= fusion_layer,
                                           ``text_encoder.cls.predictions.*``, ``temp``, ``itm_head.*``
=========================================  ========================================================

Nothing in the file is executed (``torch.load(weights_only=True)``); it is memory-mapped (``mmap=True``), so
fp32 weights are used in place without a copy; ``dtype="bfloat16"`` converts them for faster, lower-memory
inference (the reference runs fp32).

Example (needs the gated checkpoint and the tokenizer)::

    vlm = load_vlm("internvideo2", source="models/InternVideo2-stage2_1b-224p-f4.pt")
    vlm.embed_text(["a walker running"]).shape                       # (1, 512)
    vlm.embed_video(np.zeros((1, 8, 64, 64, 3), np.uint8)).shape     # (1, 512)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from agents.genrl.vlm.base import VLM, MissingWeightsError, resolve_model_dir
from agents.genrl.vlm.internvideo2_model import InternVideo2Config, TextTower, VisionTower, interpolate_temporal

HUB_REPO = "OpenGVLab/InternVideo2-Stage2_1B-224p-f4"
CHECKPOINT_NAME = "InternVideo2-stage2_1b-224p-f4.pt"
#: GenRL keeps its models in ``<repo>/models`` (``tools/genrl_utils.py: MODELS_ROOT_PATH``).
DEFAULT_SOURCE = os.path.join("models", CHECKPOINT_NAME)
TOKENIZER_NAME = "bert-large-uncased"
TOKENIZER_HUB_IDS = ("bert-large-uncased", "google-bert/bert-large-uncased")
#: a scaled-down model (tests) is described by this file beside its checkpoint; absent = GenRL's 1B config.
CONFIG_NAME = "internvideo2_config.json"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_LISTED = 10  # keys shown per list in error messages


class InternVideo2CheckpointError(ValueError):
    """The file is not an InternVideo2-Stage2 checkpoint of the expected layout; the message says what differs."""


# ---------------------------------------------------------------------- key map
_RENAMES = (  # (our prefix, checkpoint prefix); first match wins
    ("vision.proj.", "vision_proj."),
    ("vision.", "vision_encoder."),
    ("text.proj.", "text_proj."),
    ("text.embeddings.", "text_encoder.bert.embeddings."),
    ("text.layers.", "text_encoder.bert.encoder.layer."),
)


def checkpoint_key(ours: str) -> str:
    """The checkpoint key of one of our parameter names (the table of the module docstring)."""
    for mine, theirs in _RENAMES:
        if ours.startswith(mine):
            return theirs + ours[len(mine):]
    raise KeyError(ours)


def used_keys(config: InternVideo2Config) -> dict[str, tuple[str, tuple[int, ...]]]:
    """checkpoint key -> (our parameter name, expected checkpoint shape) of every weight the towers use."""
    with torch.device("meta"):
        towers = {"vision": VisionTower(config), "text": TextTower(config)}
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for prefix, module in towers.items():
        for name, p in module.state_dict().items():
            ours = f"{prefix}.{name}"
            shape = tuple(p.shape)
            if ours == "vision.pos_embed":
                shape = (1, 1 + config.tokens(config.checkpoint_frames), config.vision_width)
            out[checkpoint_key(ours)] = (ours, shape)
    return out


def ignored_keys(config: InternVideo2Config) -> dict[str, tuple[int, ...]]:
    """Checkpoint keys the reference holds but GenRL's embeddings never use, with their shapes.

    Vision: the image position embedding (T = 1 inputs only) and the stage-1/2 distillation heads
    (``clip_pos_embed``, ``clip_img_pos_embed``, ``clip_decoder``, ``final_clip_decoder``). Text: the position-id
    buffer, layers >= ``fusion_layer`` (fusion encoder, with cross-attention to the 1408-wide vision tokens) and
    the MLM head (its ``decoder.weight`` is tied to the word embeddings, ``decoder.bias`` to ``predictions.bias``).
    Training-only: ``temp``, ``itm_head``.
    """
    c = config
    d, w, e = c.vision_width, c.text_width, c.clip_embed_dim
    out: dict[str, tuple[int, ...]] = {
        "vision_encoder.img_pos_embed": (1, 1 + c.tokens(1), d),
        "vision_encoder.clip_pos_embed": (1, 1 + c.tokens(c.checkpoint_frames), d),
        "vision_encoder.clip_img_pos_embed": (1, 1 + c.tokens(1), d),
    }

    def linear_norm(prefix: str, inp: int, outp: int) -> None:
        out.update({f"{prefix}.head.weight": (outp, inp), f"{prefix}.head.bias": (outp,),
                    f"{prefix}.norm.weight": (outp,), f"{prefix}.norm.bias": (outp,)})

    for j in range(c.clip_return_layer):
        linear_norm(f"vision_encoder.clip_decoder.{j}", d, c.clip_teacher_embed_dim)
    linear_norm("vision_encoder.final_clip_decoder", e, c.clip_teacher_final_dim)
    out["text_encoder.bert.embeddings.position_ids"] = (1, c.max_position)

    def linear(prefix: str, inp: int, outp: int) -> None:
        out.update({f"{prefix}.weight": (outp, inp), f"{prefix}.bias": (outp,)})

    def layer_norm(prefix: str) -> None:
        out.update({f"{prefix}.weight": (w,), f"{prefix}.bias": (w,)})

    for i in range(c.fusion_layer, c.text_layers):
        p = f"text_encoder.bert.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            linear(f"{p}.attention.self.{name}", w, w)
        linear(f"{p}.attention.output.dense", w, w)
        layer_norm(f"{p}.attention.output.LayerNorm")
        linear(f"{p}.crossattention.self.query", w, w)
        linear(f"{p}.crossattention.self.key", d, w)
        linear(f"{p}.crossattention.self.value", d, w)
        linear(f"{p}.crossattention.output.dense", w, w)
        layer_norm(f"{p}.crossattention.output.LayerNorm")
        linear(f"{p}.intermediate.dense", w, c.text_intermediate)
        linear(f"{p}.output.dense", c.text_intermediate, w)
        layer_norm(f"{p}.output.LayerNorm")
    out["text_encoder.cls.predictions.bias"] = (c.vocab_size,)
    linear("text_encoder.cls.predictions.transform.dense", w, w)
    layer_norm("text_encoder.cls.predictions.transform.LayerNorm")
    out["text_encoder.cls.predictions.decoder.weight"] = (c.vocab_size, w)
    out["text_encoder.cls.predictions.decoder.bias"] = (c.vocab_size,)
    out["temp"] = ()
    linear("itm_head", w, 2)
    return out


def _listed(keys: list[str]) -> str:
    shown = ", ".join(repr(k[:120]) for k in keys[:_LISTED])
    return shown + (f", ... ({len(keys) - _LISTED} more)" if len(keys) > _LISTED else "")


def read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """The state dict of an InternVideo2 checkpoint file, memory-mapped, read with ``weights_only=True``.

    :raises InternVideo2CheckpointError: not a torch file, a code-carrying pickle, or not a dict of tensors.
    """
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except Exception as err:  # noqa: BLE001 - any failure to read is reported with the file name
        raise InternVideo2CheckpointError(
            f"{path}: cannot be read as a weights-only torch checkpoint ({type(err).__name__}: {str(err)[:300]}); "
            f"expected {CHECKPOINT_NAME} from {HUB_REPO} (a dict whose 'model' entry is a state dict)"
        ) from err
    if not isinstance(obj, Mapping):
        raise InternVideo2CheckpointError(f"{path}: expected a dict, got {type(obj).__name__}")
    state = obj
    for key in ("model", "module"):  # setup_internvideo2: "model", else a deepspeed "module"
        if key in obj and isinstance(obj[key], Mapping):
            state = obj[key]
            break
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        kinds = ", ".join(f"{str(k)[:80]!r}: {type(state[k]).__name__}" for k in bad[:_LISTED])
        raise InternVideo2CheckpointError(
            f"{path}: the state dict must map names to tensors; {len(bad)} entries do not ({kinds})"
        )
    return state


def map_state_dict(state: Mapping[str, torch.Tensor], config: InternVideo2Config,
                   source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Checkpoint state dict -> our parameter names, strictly (see the key map in the module docstring).

    :raises InternVideo2CheckpointError: listing missing keys, unexpected keys and shape mismatches.
    """
    used, ignored = used_keys(config), ignored_keys(config)
    missing = [k for k in used if k not in state]
    unexpected = [k for k in state if k not in used and k not in ignored]
    wrong = [f"{k}: {tuple(state[k].shape)} (expected {shape})" for k, (_, shape) in used.items()
             if k in state and tuple(state[k].shape) != shape]
    wrong += [f"{k}: {state[k].dtype} (expected floating point)" for k in used
              if k in state and not state[k].is_floating_point()]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_listed(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_listed(unexpected)}")
        if wrong:
            parts.append(f"{len(wrong)} wrong shapes/dtypes: {_listed(wrong)}")
        raise InternVideo2CheckpointError(
            f"{source} is not an InternVideo2-Stage2 checkpoint of this config "
            f"(vision {config.vision_width}x{config.vision_depth}, text {config.text_width}x{config.text_layers}, "
            f"{config.checkpoint_frames} frames): " + "; ".join(parts)
        )
    mapped = {ours: state[k] for k, (ours, _) in used.items()}
    mapped["vision.pos_embed"] = interpolate_temporal(mapped["vision.pos_embed"], config.checkpoint_frames,
                                                      config.n_frames)
    return mapped


# ---------------------------------------------------------------------- locating files
def find_checkpoint(source: Optional[str | os.PathLike]) -> Path:
    """The checkpoint file: ``source`` itself, ``source/InternVideo2-stage2_1b-224p-f4.pt``, or (no source)
    ``models/InternVideo2-stage2_1b-224p-f4.pt`` or the file in the Hugging Face cache.

    :raises MissingWeightsError: saying where to request the gated file and where to put it.
    """
    candidates: list[Path] = []
    if source is None:
        candidates.append(Path(DEFAULT_SOURCE))
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(HUB_REPO, CHECKPOINT_NAME)
            if isinstance(cached, str):
                candidates.append(Path(cached))
        except Exception:  # noqa: BLE001 - no hub library or no cache: not there
            pass
    else:
        path = Path(source).expanduser()
        candidates.append(path / CHECKPOINT_NAME if path.is_dir() else path)
    for path in candidates:
        if path.is_file():
            return path
    raise MissingWeightsError(
        f"internvideo2: the checkpoint is not on this machine (looked for {', '.join(map(str, candidates))}). "
        f"It is gated: request access at https://huggingface.co/{HUB_REPO} while logged in, then download "
        f"{CHECKPOINT_NAME} (`hf auth login`, then `hf download {HUB_REPO} {CHECKPOINT_NAME} --local-dir models`) "
        f"and put it in models/ (GenRL's place) or pass its path: "
        f"load_vlm('internvideo2', source='/path/to/{CHECKPOINT_NAME}') or --vlm internvideo2:/path/to/{CHECKPOINT_NAME}"
    )


def find_tokenizer(tokenizer: Optional[str | os.PathLike], checkpoint: Path) -> Path:
    """The ``bert-large-uncased`` tokenizer directory: ``tokenizer`` (a directory or hub id in the cache), or
    ``bert-large-uncased/`` beside the checkpoint, or the Hugging Face cache. Nothing is downloaded."""
    required = [("vocab.txt", "tokenizer.json")]
    if tokenizer is not None:
        return resolve_model_dir(tokenizer, "internvideo2 tokenizer", required)
    beside = checkpoint.parent / TOKENIZER_NAME
    if beside.is_dir():
        return resolve_model_dir(beside, "internvideo2 tokenizer", required)
    for hub_id in TOKENIZER_HUB_IDS:
        try:
            return resolve_model_dir(hub_id, "internvideo2 tokenizer", required)
        except MissingWeightsError:
            continue
    raise MissingWeightsError(
        f"internvideo2: the {TOKENIZER_NAME} tokenizer is not on this machine (no {beside}, not in the Hugging Face "
        f"cache). Save it on a machine with network access: `python -c \"from transformers import AutoTokenizer; "
        f"AutoTokenizer.from_pretrained('{TOKENIZER_NAME}').save_pretrained('models/{TOKENIZER_NAME}')\"` and copy "
        f"that folder beside the checkpoint (models/{TOKENIZER_NAME}), or pass tokenizer=DIR"
    )


def find_config(checkpoint: Path, config: Optional[InternVideo2Config | str | os.PathLike]) -> InternVideo2Config:
    """``config`` (object or JSON file), else ``internvideo2_config.json`` beside the checkpoint, else the 1B config."""
    if isinstance(config, InternVideo2Config):
        return config
    if config is not None:
        return InternVideo2Config.from_json_file(config)
    beside = checkpoint.parent / CONFIG_NAME
    return InternVideo2Config.from_json_file(beside) if beside.is_file() else InternVideo2Config()


# ---------------------------------------------------------------------- backend
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


class InternVideo2Backend(VLM):
    """InternVideo2-Stage2 video (8 frames) and text towers in GenRL's 512-d space.

    :param source: the checkpoint file or a folder holding ``InternVideo2-stage2_1b-224p-f4.pt`` (default:
        ``models/`` as in GenRL, then the Hugging Face cache).
    :param tokenizer: the ``bert-large-uncased`` tokenizer folder or hub id in the cache (default: the
        ``bert-large-uncased/`` folder beside the checkpoint, then the cache).
    :param dtype: ``"float32"`` (the reference; weights used memory-mapped in place) or ``"bfloat16"``.
    :param device: torch device.
    :param config: sizes (:class:`InternVideo2Config` or a JSON file); default ``internvideo2_config.json``
        beside the checkpoint if present (scaled-down test models), else GenRL's 1B config.
    """

    name = "internvideo2"
    has_text = True

    def __init__(self, source: Optional[str | os.PathLike] = None, tokenizer: Optional[str | os.PathLike] = None,
                 dtype: str | torch.dtype = "float32", device: str | torch.device = "cpu",
                 config: Optional[InternVideo2Config | str | os.PathLike] = None) -> None:
        from agents.genrl.vlm.hf_model import transformers_module

        if isinstance(dtype, torch.dtype):
            if dtype not in (torch.float32, torch.bfloat16):
                raise ValueError(f"dtype must be float32 or bfloat16, got {dtype}")
            self.dtype = dtype
        elif str(dtype).lower() in _DTYPES:
            self.dtype = _DTYPES[str(dtype).lower()]
        else:
            raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
        transformers = transformers_module()
        self.checkpoint = find_checkpoint(source)
        self.config = c = find_config(self.checkpoint, config)
        tokenizer_dir = find_tokenizer(tokenizer, self.checkpoint)
        mapped = map_state_dict(read_state_dict(self.checkpoint), c, str(self.checkpoint))
        self.device = torch.device(device)
        with torch.device("meta"):
            self.vision, self.text = VisionTower(c), TextTower(c)
        for prefix, module in (("vision", self.vision), ("text", self.text)):
            weights = {k[len(prefix) + 1:]: v.to(self.device, self.dtype) for k, v in mapped.items()
                       if k.startswith(prefix + ".")}
            module.load_state_dict(weights, strict=True, assign=True)  # fp32 on CPU: the mmap'd storage itself
            module.eval().requires_grad_(False)
        self.tokenizer = transformers.BertTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
        self.tokenizer_dir = tokenizer_dir
        self.dim = c.embed_dim
        self.n_frames = c.n_frames
        self.source = str(self.checkpoint)

    # frames -> (B, 3, T, S, S) normalised pixels
    def preprocess(self, clips: np.ndarray) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> float (B, 3, T, S, S): /255, bilinear resize to S, ImageNet mean/std."""
        b, t, h, w, _ = clips.shape
        s = self.config.image_size
        x = torch.from_numpy(np.ascontiguousarray(clips)).reshape(b * t, h, w, 3).permute(0, 3, 1, 2).float() / 255.0
        if (h, w) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        return x.reshape(b, t, 3, s, s).transpose(1, 2)

    def _embed_clips(self, clips: np.ndarray) -> torch.Tensor:
        pixels = self.preprocess(clips).to(self.device, self.dtype)
        return self.vision(pixels).float().cpu()

    def tokenize(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention mask, padded/truncated to ``max_text_len`` (40) as ``get_txt_feat``."""
        tokens = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.config.max_text_len,
                                return_tensors="pt")
        ids = tokens["input_ids"]
        if int(ids.max()) >= self.config.vocab_size:
            raise ValueError(f"the tokenizer in {self.tokenizer_dir} produced id {int(ids.max())}, beyond the "
                             f"model's vocabulary of {self.config.vocab_size}: not the {TOKENIZER_NAME} tokenizer?")
        return {"input_ids": ids.to(self.device), "attention_mask": tokens["attention_mask"].to(self.device)}

    def _embed_text(self, prompts: list[str]) -> torch.Tensor:
        return self.text(**self.tokenize(prompts)).float().cpu()

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"source": self.source, "dtype": str(self.dtype).replace("torch.", ""),
                                     "image_size": self.config.image_size, "image_mean": list(MEAN),
                                     "image_std": list(STD)}


__all__ = ["CHECKPOINT_NAME", "HUB_REPO", "InternVideo2Backend", "InternVideo2CheckpointError", "checkpoint_key",
           "ignored_keys", "map_state_dict", "read_state_dict", "used_keys"]
