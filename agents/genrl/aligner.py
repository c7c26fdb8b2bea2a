"""GenRL's aligner f_psi: a small residual U-Net on VLM embeddings (spec sections 3.2 and 12).

It is trained on vision embeddings only: noisy ê = normalize(0.5 e + 0.5 n / ||n||), n ~ N(0, I), is mapped
back towards e with the loss 1 - cos(normalize(f(ê)), e). At inference, text (or any prompt) embeddings go
through the aligner before the connector; video embeddings of the training data go straight in.

Structure (``UNetDenoiser(512, 256, n_layers=2)``), block = act(LN(Linear(x))) + proj(x)::

    down0: 512 -> 512       down1: 512 -> 256 (proj Linear)
    mid:   256 -> 256, 256 -> 256
    up0:   cat(mid, down1) 512 -> 512, no LayerNorm, identity activation, identity residual
    up1:   cat(up0, down0) 1024 -> 512 (proj Linear)

Example::

    >>> import torch
    >>> aligner = Aligner(embed_dim=16, bottleneck=8)
    >>> aligner(torch.randn(3, 16)).shape
    torch.Size([3, 16])
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from agents.genrl.networks import VECTOR_LN_EPS


class ResidualLinear(nn.Module):
    """act(norm(Linear(x))) + proj(x), proj = identity when in_dim == out_dim else a Linear.

    :param in_dim: input size. :param out_dim: output size.
    :param norm: use LayerNorm (eps 1e-5). :param act: use SiLU (else identity).
    """

    def __init__(self, in_dim: int, out_dim: int, norm: bool = True, act: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim, eps=VECTOR_LN_EPS) if norm else nn.Identity()
        self.act = nn.SiLU() if act else nn.Identity()
        self.proj = nn.Identity() if in_dim == out_dim else nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.linear(x))) + self.proj(x)


class Aligner(nn.Module):
    """GenRL's embedding aligner (``UNetDenoiser``). Output is not normalised (the caller does it).

    :param embed_dim: VLM embedding size (512).
    :param bottleneck: middle width (256, half the embedding).
    """

    def __init__(self, embed_dim: int = 512, bottleneck: int = 256) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.down = nn.ModuleList([ResidualLinear(embed_dim, embed_dim), ResidualLinear(embed_dim, bottleneck)])
        self.mid = nn.ModuleList([ResidualLinear(bottleneck, bottleneck), ResidualLinear(bottleneck, bottleneck)])
        self.up = nn.ModuleList([
            ResidualLinear(2 * bottleneck, embed_dim, norm=False, act=False),
            ResidualLinear(2 * embed_dim, embed_dim),
        ])

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if e.shape[-1] != self.embed_dim:
            raise ValueError(f"Aligner expects embeddings of size {self.embed_dim}, got {tuple(e.shape)}")
        d0 = self.down[0](e)
        d1 = self.down[1](d0)
        m = self.mid[1](self.mid[0](d1))
        u0 = self.up[0](torch.cat([m, d1], -1))
        return self.up[1](torch.cat([u0, d0], -1))

    def align(self, e: torch.Tensor) -> torch.Tensor:
        """normalize(f(e)): what prompt embeddings become before the connector."""
        return F.normalize(self(e), dim=-1)


def lafite_noise(e: torch.Tensor, strength: float = 0.5, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """ê = normalize((1 - strength) e + strength n / ||n||), n ~ N(0, I) (GenRL: strength 0.5)."""
    n = torch.randn(e.shape, generator=generator, dtype=e.dtype, device=e.device)
    return F.normalize((1.0 - strength) * e + strength * F.normalize(n, dim=-1), dim=-1)


def aligner_loss(
    aligner: Aligner, e: torch.Tensor, strength: float = 0.5, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Mean of 1 - cos(normalize(f(ê)), e) over the batch of vision embeddings e (..., D)."""
    e = F.normalize(e.reshape(-1, e.shape[-1]), dim=-1)
    out = aligner.align(lafite_noise(e, strength, generator))
    return (1.0 - (out * e).sum(-1)).mean()
