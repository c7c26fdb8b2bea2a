"""Reduced-precision inference helpers for the VPT networks (the agent's fast mode).

At batch 1 the policy's linear layers are bound by reading their weights (71M parameters for the 1x
policy = 284 MB per step in float32), and ``torch.autocast`` makes it worse by re-casting every weight on
every call. :func:`bfloat16_linears` instead stores the weights of the given linear layers in bfloat16
once; inputs are cast to bfloat16 on the way in and outputs back to float32, so the residual stream,
the LayerNorms, the attention softmax and the heads' log-softmax stay float32.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def _cast_input(module: nn.Module, args: tuple) -> tuple:
    return (args[0].to(module.weight.dtype), *args[1:])


def _cast_output(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def bfloat16_linears(modules: Iterable[nn.Module]) -> int:
    """Store every ``nn.Linear`` inside ``modules`` in bfloat16, with float32 in/out (in place).

    :param modules: modules to convert (searched recursively).
    :return: number of converted layers.
    """
    n = 0
    for root in modules:
        for layer in root.modules():
            if isinstance(layer, nn.Linear) and layer.weight.dtype == torch.float32:
                layer.to(torch.bfloat16)
                layer.register_forward_pre_hook(_cast_input)
                layer.register_forward_hook(_cast_output)
                n += 1
    return n
