"""RecurrentTransformer: shared validity masks and the fused inference path across layers."""

from __future__ import annotations

import copy

import torch

from agents.vpt.transformer import RecurrentTransformer


def _stack(seed: int = 0) -> RecurrentTransformer:
    torch.manual_seed(seed)
    stack = RecurrentTransformer(16, 4, 5, n_blocks=3)
    with torch.no_grad():
        for p in stack.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return stack.eval()


def test_initial_state_shares_one_validity_mask():
    state = _stack().initial_state(2)
    assert len(state) == 3 and all(layer[0] is state[0][0] for layer in state)
    assert all(layer[1] is not state[0][1] for layer in state[1:])  # keys/values stay per layer


def test_fused_stack_matches_reference_stack_and_keeps_sharing_masks():
    ref = _stack()
    fast = copy.deepcopy(ref)
    for block in fast.blocks:
        block.r.fuse_projections()
    sr, sf = ref.initial_state(2), fast.initial_state(2)
    g = torch.Generator().manual_seed(1)
    for step in range(8):
        x = torch.randn(2, 1, 16, generator=g)
        first = torch.tensor([[step == 3], [step == 6]])
        a, sr = ref(x, first, sr)
        b, sf = fast(x, first, sf)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
        assert all(layer[0] is sf[0][0] for layer in sf)  # computed once per step for all layers
        assert all(torch.equal(lf[0], lr[0]) for lf, lr in zip(sf, sr))


def test_fused_stack_with_unshared_masks_computes_them_per_layer():
    ref = _stack()
    fast = copy.deepcopy(ref)
    for block in fast.blocks:
        block.r.fuse_projections()
    state = tuple((v.clone(), k, vv) for v, k, vv in fast.initial_state(1))  # equal but not shared
    x = torch.randn(1, 2, 16)
    first = torch.zeros(1, 2, dtype=torch.bool)
    a, _ = ref(x, first, ref.initial_state(1))
    b, new = fast(x, first, state)
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert new[1][0] is not new[0][0]
