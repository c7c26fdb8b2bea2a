"""Clipped-causal masks, the relative-position table and the cache's validity across episode starts."""

from __future__ import annotations

import pytest
import torch

from agents.vpt.attention import (
    MaskedSelfAttention,
    attention_allowed,
    next_valid,
    relative_position_table,
)


def test_clipped_causal_band_self_plus_maxlen_minus_one_previous():
    maxlen, t = 4, 6
    allowed = attention_allowed(torch.zeros(1, t, dtype=torch.bool), torch.ones(1, maxlen, dtype=torch.bool), maxlen)[0]
    assert allowed.shape == (t, maxlen + t)
    for i in range(t):
        cols = allowed[i].nonzero().flatten().tolist()
        # query i sits at key position maxlen + i and sees itself and exactly maxlen-1 earlier frames
        assert cols == list(range(i + 1, i + maxlen + 1))


def test_first_masks_cached_frames_and_invalid_slots():
    maxlen = 3
    valid = torch.tensor([[True, False, True], [True, True, True]])
    first = torch.tensor([[False, False], [True, False]])
    allowed = attention_allowed(first, valid, maxlen)
    # env 0: the invalid slot 1 is never visible; slot 2 visible to query 0
    assert not allowed[0, :, 1].any() and allowed[0, 0, 2]
    # env 1: the episode starts at the chunk's first frame -> no cached frame visible
    assert not allowed[1, :, :maxlen].any()
    assert allowed[1, 1, maxlen] and allowed[1, 1, maxlen + 1]


def test_first_inside_chunk_separates_episodes():
    first = torch.tensor([[False, False, True, False]])
    allowed = attention_allowed(first, torch.ones(1, 8, dtype=torch.bool), 8)[0]
    # query 3 (episode 1) sees frames 2 and 3 only; query 1 (episode 0) sees 6 cached frames + frames 0, 1
    assert allowed[3].nonzero().flatten().tolist() == [8 + 2, 8 + 3]
    assert allowed[1, :8].sum() == 6 and allowed[1, 8] and allowed[1, 9] and not allowed[1, 10]


def test_next_valid_keeps_masking_frames_before_a_first():
    """Spec 12: new mask = last maxlen of [old AND NOT first ; True per new frame]."""
    maxlen = 4
    valid = torch.ones(1, maxlen, dtype=torch.bool)
    v1 = next_valid(torch.tensor([[True]]), valid, maxlen)
    assert v1.tolist() == [[False, False, False, True]]
    v2 = next_valid(torch.tensor([[False]]), v1, maxlen)
    assert v2.tolist() == [[False, False, True, True]]  # the old frames stay masked
    v3 = next_valid(torch.tensor([[False, False, False]]), v2, maxlen)
    assert v3.tolist() == [[True, True, True, True]]


def test_relative_position_table_uses_lag_columns():
    maxlen, t = 5, 3
    b_nd = torch.arange(10 * maxlen, dtype=torch.float32).reshape(10, maxlen)
    total = maxlen + t
    table = relative_position_table(b_nd, t, total)
    for i in range(t):
        for j in range(total):
            lag = (maxlen + i) - j
            want = b_nd[:, lag] if 0 <= lag < maxlen else torch.zeros(10)
            assert torch.equal(table[:, i, j], want), (i, j)


def test_attention_logits_use_one_over_head_dim_and_head_major_position_units():
    """One query, one valid key besides itself: check the output against a hand computation."""
    torch.manual_seed(0)
    H, heads, maxlen = 8, 2, 2
    layer = MaskedSelfAttention(H, heads, maxlen)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    y_prev, y = torch.randn(1, 1, H), torch.randn(1, 1, H)
    state = layer.initial_state(1)
    _, state = layer(y_prev, torch.zeros(1, 1, dtype=torch.bool), state)
    out, _ = layer(y, torch.zeros(1, 1, dtype=torch.bool), state)
    w = layer.orc_block
    q = w.q_layer(y)[0, 0].reshape(heads, -1)
    keys = torch.stack([w.k_layer(y_prev)[0, 0], w.k_layer(y)[0, 0]]).reshape(2, heads, -1)
    vals = torch.stack([w.v_layer(y_prev)[0, 0], w.v_layer(y)[0, 0]]).reshape(2, heads, -1)
    r = w.r_layer(y)[0, 0].reshape(heads, 10)  # unit head*10 + n
    d = H // heads
    heads_out = []
    for h in range(heads):
        logits = (keys[:, h] @ q[h]) / d + torch.stack([r[h] @ w.b_nd[:, 1], r[h] @ w.b_nd[:, 0]])
        heads_out.append(torch.softmax(logits, 0) @ vals[:, h])
    want = y[0, 0] + w.proj_layer(torch.cat(heads_out))
    torch.testing.assert_close(out[0, 0], want, rtol=1e-5, atol=1e-5)


def test_bad_configs():
    with pytest.raises(ValueError, match="divisible"):
        MaskedSelfAttention(10, 3, 4)
    with pytest.raises(ValueError, match="mask_style"):
        MaskedSelfAttention(8, 2, 4, mask_style="causal")


def test_fused_attention_matches_reference_maths():
    torch.manual_seed(3)
    ref = MaskedSelfAttention(16, 4, 6)
    fused = MaskedSelfAttention(16, 4, 6, fused=True)
    fused.load_state_dict(ref.state_dict())
    first = torch.tensor([[True, False, False, False, False], [False, False, True, False, False]])
    y = torch.randn(2, 5, 16)
    sr, sf = ref.initial_state(2), fused.initial_state(2)
    for _ in range(3):  # across calls, so cached frames and validity masks are exercised
        a, sr = ref(y, first, sr)
        b, sf = fused(y, first, sf)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        first = torch.zeros_like(first)


def _perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return module


@pytest.mark.parametrize("chunk", [1, 3])
def test_fuse_projections_keeps_the_maths_over_calls_and_episode_starts(chunk):
    torch.manual_seed(4)
    ref = _perturbed(MaskedSelfAttention(16, 4, 6), 4)
    fast = MaskedSelfAttention(16, 4, 6)
    fast.load_state_dict(ref.state_dict())
    fast.fuse_projections()
    assert fast.fused and fast.qkvr is not None and fast.qkvr.out_features == 3 * 16 + 10 * 4
    keys = set(fast.state_dict())
    assert "qkvr.weight" in keys and "orc_block.q_layer.weight" not in keys and "orc_block.b_nd" in keys
    sr, sf = ref.initial_state(2), fast.initial_state(2)
    g = torch.Generator().manual_seed(0)
    for call in range(6):  # more frames than the cache holds, with episode starts at and inside chunks
        y = torch.randn(2, chunk, 16, generator=g)
        first = torch.zeros(2, chunk, dtype=torch.bool)
        first[0, 0] = call == 2
        first[1, -1] = call == 3
        a, sr = ref(y, first, sr)
        b, sf = fast(y, first, sf)
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
        assert torch.equal(sf[0], sr[0])
        torch.testing.assert_close(sf[1], sr[1], rtol=1e-5, atol=1e-5)
    assert set(fast._tables) == {(chunk, 6 + chunk)}  # the position table was built once


def test_fuse_projections_bfloat16_cache_and_bad_inputs_unchanged():
    attn = MaskedSelfAttention(16, 4, 6)
    attn.fuse_projections(cache_dtype=torch.bfloat16)
    valid, k, v = attn.initial_state(3)
    assert k.dtype == v.dtype == torch.bfloat16 and valid.dtype == torch.bool and k.shape == (3, 6, 16)
    assert attn.initial_state(1, dtype=torch.float32)[1].dtype == torch.float32
    out, (valid, k, v) = attn(torch.randn(3, 1, 16), torch.zeros(3, 1, dtype=torch.bool), attn.initial_state(3))
    assert out.dtype == torch.float32 and k.dtype == torch.bfloat16 and valid[:, -1].all() and not valid[:, :-1].any()
    attn.fuse_projections()  # a second call is a no-op
    assert attn.cache_dtype == torch.bfloat16
