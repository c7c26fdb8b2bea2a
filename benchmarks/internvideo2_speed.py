"""InternVideo2 embedding throughput on this CPU: clips/s of the video tower, prompts/s of the text tower.

Run: ``python -m benchmarks.internvideo2_speed`` (GenRL's full 1B config with random weights, 1 clip of 8
frames and 4 text prompts per dtype, fp32 then bf16). The gated checkpoint is not needed: the towers are built
with random weights of the real shapes, so the speed is the checkpoint's. A clip is 8 uint8 64x64 frames, as
GenRL's observations, preprocessed (resize to 224, ImageNet normalisation) and embedded; the text prompt is
padded to 40 tokens as in the reference.

Memory: the fp32 towers hold 1.29 B parameters (5.2 GB; the video tower alone 4.1 GB); the bf16 run converts
them in place (2.6 GB). A full-size fp32 clip costs about 5 TFLOP (40 blocks over 2049 tokens), so on a 2-core
CPU one clip takes minutes: keep ``--clips`` at 1 or 2 there. ``--config tiny`` runs the test-sized model
(seconds), e.g. to check the script.

Columns: ``dtype``, ``clips_per_s`` (video tower incl. preprocessing), ``s_per_clip``, ``prompts_per_s`` (text
tower forward on token ids, tokenisation excluded), ``params_M``, ``weights_GB`` (parameter bytes).
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Optional


def _random_towers(config: Any, seed: int = 0) -> tuple[Any, Any]:
    """Both towers with random weights of the right shapes (norms 1, layer scales 1e-5, N(0, 0.02) elsewhere)."""
    import torch

    from agents.genrl.vlm.internvideo2_model import TextTower, VisionTower

    torch.manual_seed(seed)
    with torch.device("meta"):
        towers = VisionTower(config), TextTower(config)
    out = []
    for tower in towers:
        tower = tower.to_empty(device="cpu")
        with torch.no_grad():
            for name, p in tower.named_parameters():
                if name.endswith("gamma"):
                    p.fill_(1e-5)
                elif "norm" in name.lower() and name.endswith("weight"):
                    p.fill_(1.0)
                elif p.dim() == 1:
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02)
        out.append(tower.eval().requires_grad_(False))
    return out[0], out[1]


def measure(config_name: str = "full", clips: int = 1, prompts: int = 4, dtypes: tuple[str, ...] = ("float32", "bfloat16"),
            threads: Optional[int] = None, progress: bool = True) -> list[dict[str, Any]]:
    """One row per dtype: throughput of ``clips`` clips (one at a time) and a batch of ``prompts`` prompts."""
    import numpy as np
    import torch

    from agents.genrl.vlm.internvideo2 import MEAN, STD
    from agents.genrl.vlm.internvideo2_model import InternVideo2Config

    if threads:
        torch.set_num_threads(threads)
    if clips < 1 or prompts < 1:
        raise ValueError(f"clips and prompts must be >= 1, got {clips}, {prompts}")
    config = InternVideo2Config() if config_name == "full" else InternVideo2Config.tiny()
    vision, text = _random_towers(config)
    n_params = sum(p.numel() for m in (vision, text) for p in m.parameters())
    frames = np.random.default_rng(0).integers(0, 256, (1, config.n_frames, 64, 64, 3), dtype=np.uint8)
    s = config.image_size
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    ids = torch.randint(0, config.vocab_size, (prompts, config.max_text_len), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[:, 12:] = 0  # a short prompt padded to max_text_len
    rows = []
    for dtype_name in dtypes:
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
        vision.to(dtype)
        text.to(dtype)

        def embed_clip() -> None:
            x = torch.from_numpy(frames[0]).permute(0, 3, 1, 2).float() / 255.0
            x = torch.nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
            x = ((x - mean) / std).transpose(0, 1)[None].to(dtype)
            vision(x)

        with torch.inference_mode():
            start = time.perf_counter()
            for i in range(clips):
                embed_clip()
                if progress:
                    print(f"  {dtype_name}: clip {i + 1}/{clips} after {time.perf_counter() - start:.1f} s", flush=True)
            s_per_clip = (time.perf_counter() - start) / clips
            start = time.perf_counter()
            text(ids, mask)
            text_s = time.perf_counter() - start
        rows.append({"config": config_name, "dtype": dtype_name, "clips_per_s": 1.0 / s_per_clip,
                     "s_per_clip": s_per_clip, "prompts_per_s": prompts / text_s, "params_M": n_params / 1e6,
                     "weights_GB": sum(p.numel() * p.element_size() for m in (vision, text) for p in m.parameters()) / 1e9,
                     "torch_threads": torch.get_num_threads()})
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    from benchmarks.timing import print_and_save

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("full", "tiny"), default="full",
                        help="model size: full = the released 1B towers (default), tiny = the test config")
    parser.add_argument("--clips", type=int, default=1, help="clips timed per dtype (default 1; minutes each at full size)")
    parser.add_argument("--prompts", type=int, default=4, help="text prompts in the timed batch")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=("float32", "bfloat16"),
                        help="dtypes to time (default: float32 bfloat16)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the rows and machine description here")
    args = parser.parse_args(argv)
    rows = measure(args.config, args.clips, args.prompts, tuple(args.dtypes), args.threads)
    print_and_save(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
