"""State-dict sizes and key layout of the released architectures, built on the meta device (no memory)."""

from __future__ import annotations

import pytest
import torch

from agents.vpt.idm import IDMNetwork
from agents.vpt.policy import VPTPolicyNet


def _meta_state(factory, preset):
    with torch.device("meta"):
        net = factory(preset)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _count(shapes):
    total = 0
    for s in shapes.values():
        n = 1
        for d in s:
            n *= d
        total += n
    return total


@pytest.mark.parametrize(
    "preset, expected",
    [
        ("1x", 70_998_654),  # spec section 11, counted on the reference network
        ("2x", 248_495_294),  # spec section 3.2
        ("3x", 532_504_318),  # spec: 531.5-532.5M; 24 heads (unverified) -> this exact figure
    ],
)
def test_policy_state_dict_elements(preset, expected):
    assert _count(_meta_state(VPTPolicyNet, preset)) == expected


def test_idm_4x_state_dict_elements():
    shapes = _meta_state(IDMNetwork, "4x")
    assert _count(shapes) == 482_330_046  # spec section 11
    assert shapes["net.conv3d_layer.layer.weight"] == (128, 3, 5, 1, 1)
    assert shapes["net.conv3d_layer.layer.bias"] == (128,)
    assert shapes["net.img_process.cnn.stacks.0.firstconv.norm.weight"] == (128,)
    assert "net.img_process.cnn.stacks.0.firstconv.layer.bias" not in shapes
    assert shapes["pi_head.buttons.linear_layer.weight"] == (40, 4096)
    assert shapes["pi_head.camera.linear_layer.weight"] == (22, 4096)
    assert shapes["net.recurrent_layer.blocks.0.r.orc_block.b_nd"] == (10, 0)
    assert not any(k.startswith("value_head") for k in shapes)
    assert shapes["net.lastlayer.layer.weight"] == (4096, 4096)  # present though unused


def test_2x_keys_and_shapes_match_spec_3_5():
    s = _meta_state(VPTPolicyNet, "2x")
    H = 2048
    expected = {
        "net.img_process.cnn.dense.norm.weight": (65536,),
        "net.img_process.cnn.dense.norm.bias": (65536,),
        "net.img_process.cnn.dense.layer.weight": (256, 65536),
        "net.img_process.linear.norm.weight": (256,),
        "net.img_process.linear.norm.bias": (256,),
        "net.img_process.linear.layer.weight": (H, 256),
        "net.lastlayer.norm.weight": (H,),
        "net.lastlayer.norm.bias": (H,),
        "net.lastlayer.layer.weight": (H, H),
        "net.final_ln.weight": (H,),
        "net.final_ln.bias": (H,),
        "value_head.linear.weight": (1, H),
        "value_head.linear.bias": (1,),
        "value_head.normalizer.running_mean": (1,),
        "value_head.normalizer.running_mean_sq": (1,),
        "value_head.normalizer.debiasing_term": (),
        "pi_head.buttons.linear_layer.weight": (8641, H),
        "pi_head.buttons.linear_layer.bias": (8641,),
        "pi_head.camera.linear_layer.weight": (121, H),
        "pi_head.camera.linear_layer.bias": (121,),
    }
    for k in range(4):
        p = f"net.recurrent_layer.blocks.{k}."
        expected.update(
            {
                p + "pre_r_ln.weight": (H,),
                p + "pre_r_ln.bias": (H,),
                p + "r.orc_block.q_layer.weight": (H, H),
                p + "r.orc_block.q_layer.bias": (H,),
                p + "r.orc_block.k_layer.weight": (H, H),
                p + "r.orc_block.v_layer.weight": (H, H),
                p + "r.orc_block.proj_layer.weight": (H, H),
                p + "r.orc_block.proj_layer.bias": (H,),
                p + "r.orc_block.r_layer.weight": (160, H),
                p + "r.orc_block.r_layer.bias": (160,),
                p + "r.orc_block.b_nd": (10, 128),
                p + "mlp0.norm.weight": (H,),
                p + "mlp0.norm.bias": (H,),
                p + "mlp0.layer.weight": (4 * H, H),
                p + "mlp1.layer.weight": (H, 4 * H),
                p + "mlp1.layer.bias": (H,),
            }
        )
    chans = (128, 256, 256)
    cin = 3
    for i, c in enumerate(chans):
        p = f"net.img_process.cnn.stacks.{i}."
        expected[p + "firstconv.layer.weight"] = (c, cin, 3, 3)
        if i == 0:
            expected[p + "firstconv.layer.bias"] = (c,)
        else:
            expected[p + "firstconv.norm.weight"] = (cin,)
            expected[p + "firstconv.norm.bias"] = (cin,)
        expected[p + "n.weight"] = (c,)
        expected[p + "n.bias"] = (c,)
        for b in range(2):
            for j in range(2):
                q = f"{p}blocks.{b}.conv{j}."
                expected.update({q + "norm.weight": (c,), q + "norm.bias": (c,), q + "layer.weight": (c, c, 3, 3)})
        cin = c
    assert s == expected  # exactly these keys, no others (no k/v biases, no pre_lstm_ln)
