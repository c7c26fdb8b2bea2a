"""Loading released GenRL checkpoints (whole pickled agents) without executing code, and the key mapping."""
from __future__ import annotations

import io
import math
import os
import pickle
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from agents.checkpoints import CheckpointError, ForbiddenGlobalError, KeyMismatchError
from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.official import (PickledObject, load_official_genrl, map_keys, read_torch_archive,
                                   reference_state_dict)
from agents.genrl.world_model import WorldModel, WorldModelConfig
from tests.support.genrl_reference import (build_agent, reference_modules, reference_shapes,
                                           save_reference_checkpoint)

OFFICIAL_SIZES = dict(cnn_depth=48, deter=1024, hidden=1024, stoch=32, classes=32, reward_units=1024,
                      embed_dim=512, ac_units=1024)


def test_reference_structure_matches_spec_parameter_counts() -> None:
    """The test double's layout reproduces the reference's parameter counts of spec section 11."""
    s = reference_shapes(**OFFICIAL_SIZES)

    def count(pred) -> int:  # noqa: ANN001
        return sum(math.prod(v) for k, v in s.items() if pred(k))

    assert count(lambda k: k.startswith("wm.") and not k.startswith("wm.connector.")) == 28_731_554
    assert count(lambda k: k.startswith("wm.connector.")) == 14_592_512
    assert count(lambda k: k.startswith("wm.connector.aligner.")) == 1_972_736
    assert count(lambda k: ".initial_state_pred." in k) == 2_636_800
    assert count(lambda k: k.startswith("_acting_behavior.") and "ema" not in k) == 16_300_554


def test_key_map_covers_the_official_config_exactly() -> None:
    shapes = reference_shapes(**OFFICIAL_SIZES)
    mapped, skipped = map_keys({k: torch.empty(v, device="meta") for k, v in shapes.items()})
    assert skipped and all(k.startswith("_acting_behavior.") for k in skipped)
    with torch.device("meta"):
        wm = WorldModel(WorldModelConfig.official(action_dim=6))
        conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=512))
    ours = {f"world_model.{k}": v for k, v in wm.state_dict().items()}
    ours |= {f"connector.{k}": v for k, v in conn.state_dict().items()}
    assert set(mapped) == set(ours)
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in ours.items()}


@pytest.mark.parametrize("snapshot", [False, True])
def test_loads_reference_structured_pickle(tmp_path: Path, snapshot: bool) -> None:
    path = tmp_path / "genrl_walker_500k_2.pt"
    # stoch 2 x classes 8: only readable from the pickled (omegaconf-style) config, not from the shapes
    state = save_reference_checkpoint(path, snapshot=snapshot, stoch=2, classes=8, action_dim=3)
    assert not any(m == "agent" or m.startswith(("agent.", "omegaconf")) for m in sys.modules)
    official = load_official_genrl(path)
    assert not any(m == "agent" or m.startswith(("agent.", "omegaconf")) for m in sys.modules)  # nothing imported
    wm, conn = official.world_model, official.connector
    assert (wm.config.stoch, wm.config.classes, wm.config.action_dim, wm.config.cnn_depth) == (2, 8, 3, 4)
    assert (wm.config.deter, wm.config.hidden, wm.config.reward_layers, wm.config.reward_units) == (16, 16, 4, 16)
    assert (conn.config.embed_dim, conn.config.aligner_bottleneck, conn.config.n_frames) == (8, 4, 8)
    assert official.step == (500_000 if snapshot else None)
    assert sorted(official.skipped) == sorted(k for k in state if k.startswith("_acting_behavior."))
    assert "agent.genrl.GenRLAgent" in official.stand_ins and "torch.optim.adam.Adam" in official.stand_ins
    # every tensor arrives unchanged under its mapped name
    pairs = {
        "wm.rssm._cell._layer.weight": wm.rssm.gru.linear.weight,
        "wm.encoder._conv_model.4.norm.weight": wm.encoder.net[4].weight,
        "wm.heads.decoder._conv_in.0.bias": wm.decoder.linear.bias,
        "wm.heads.decoder._conv_model.9.weight": wm.decoder.net[9].weight,
        "wm.rssm._obs_out.1._layer.bias": wm.rssm.post_net.hidden[0][1].bias,
        "wm.rssm._ensemble_img_dist.0.weight": wm.rssm.prior_net.out.weight,
        "wm.heads.reward.norm3._layer.weight": wm.reward_head.mlp.hidden[3][1].weight,
        "wm.heads.reward._out._out.weight": wm.reward_head.mlp.out.weight,
        "wm.connector._img_in.0.weight": conn.rssm.img_in[0].weight,
        "wm.connector.initial_state_pred.4._layer.bias": conn.initial_mlp.hidden[1][1].bias,
        "wm.connector.initial_state_pred.6.weight": conn.initial_mlp.out.weight,
        "wm.connector.aligner.up.1.res_proj.weight": conn.aligner.up[1].proj.weight,
        "wm.connector.aligner.down.0.norm_layer._layer.bias": conn.aligner.down[0].norm.bias,
    }
    for ref_key, ours in pairs.items():
        assert torch.equal(ours.detach(), state[ref_key]), ref_key
    mapped, _ = map_keys({k: v for k, v in state.items()})
    ours_all = {f"world_model.{k}": v for k, v in wm.state_dict().items()}
    ours_all |= {f"connector.{k}": v for k, v in conn.state_dict().items()}
    assert set(mapped) == set(ours_all)
    assert all(torch.equal(mapped[k], ours_all[k]) for k in mapped)
    # the loaded model runs
    batch = {"observation": torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8), "action": torch.zeros(1, 2, 3),
             "reward": torch.zeros(1, 2), "is_first": torch.tensor([[True, False]])}
    loss, _, _ = wm.loss(batch)
    assert torch.isfinite(loss)


def test_non_tensor_content_is_inert_data(tmp_path: Path) -> None:
    path = tmp_path / "agent.pt"
    save_reference_checkpoint(path)
    _, agent, _, _ = reference_state_dict(path)
    wm = agent.attributes["_modules"]["wm"]
    fn = wm.attributes["decoder_input_fn"]
    assert fn.name == "get_stoch" and isinstance(fn.obj, PickledObject)  # a record, never resolved
    update_fn = wm.attributes["detached_update_fns"]["connector"]  # the function itself: a stand-in type
    assert issubclass(update_fn, PickledObject) and update_fn.ref == ("agent.genrl", "connector_update_fn")
    assert agent.attributes["n_frames"] == 8


# ------------------------------------------------------------------------------------------ tampering
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil(_Evil):
    def __reduce__(self):  # noqa: ANN204
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


def _replace_pickle(src: Path, dst: Path, data: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename.endswith("/data.pkl") else zin.read(item.filename))


@pytest.mark.parametrize("evil", [_Evil, _EvalEvil])
def test_tampered_data_pkl_is_rejected_without_running(tmp_path: Path, evil: type) -> None:
    good = tmp_path / "good.pt"
    save_reference_checkpoint(good)
    marker = tmp_path / "PWNED"
    bad = tmp_path / "bad.pt"
    _replace_pickle(good, bad, pickle.dumps({"agent": evil(marker)}, protocol=2))
    with pytest.raises(ForbiddenGlobalError) as info:
        load_official_genrl(bad)
    assert info.value.global_name in ("posix.system", "os.system", "nt.system", "builtins.eval")
    assert not marker.exists()


def test_payload_hidden_inside_a_real_agent_is_rejected(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "agent.pt"
    with reference_modules() as classes:
        agent, _ = build_agent(classes, reference_shapes())
        agent.cfg = _Evil(marker)
        torch.save(agent, path)
    with pytest.raises(ForbiddenGlobalError, match="system"):
        load_official_genrl(path)
    assert not marker.exists()


def test_getattr_records_cannot_be_called(tmp_path: Path) -> None:
    """``getattr(stand_in, name)(...)`` in a pickle yields an uncallable record: a corrupt file, nothing run."""
    good = tmp_path / "good.pt"
    save_reference_checkpoint(good)
    # GLOBAL builtins.getattr; GLOBAL agent.genrl.GenRLAgent; 'mro'; TUPLE2; REDUCE; EMPTY_TUPLE; REDUCE; STOP
    payload = (b"\x80\x02cbuiltins\ngetattr\ncagent.genrl\nGenRLAgent\nX\x03\x00\x00\x00mro\x86R)R.")
    bad = tmp_path / "bad.pt"
    _replace_pickle(good, bad, payload)
    with pytest.raises(CheckpointError, match="corrupt pickle"):
        load_official_genrl(bad)


def test_corrupt_storages_and_archives(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_reference_checkpoint(good)
    # a tensor claiming more elements than its storage holds must not read out of bounds
    buf = io.BytesIO()
    torch.save(torch.zeros(4), buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        name = next(n for n in z.namelist() if n.endswith("data.pkl"))
        data = z.read(name)
    oob = tmp_path / "oob.pt"
    src = tmp_path / "small.pt"
    src.write_bytes(buf.getvalue())
    _replace_pickle(src, oob, data.replace(b"K\x04\x85", b"K\x40\x85", 1))
    with pytest.raises(CheckpointError, match="past its storage"):
        read_torch_archive(oob)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError):
        load_official_genrl(truncated)
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a torch zip"):
        load_official_genrl(plain)
    with pytest.raises(FileNotFoundError):
        load_official_genrl(tmp_path / "missing.pt")


def test_unmapped_and_missing_keys_are_errors(tmp_path: Path) -> None:
    shapes = reference_shapes()
    extra = dict(shapes)
    extra["wm.rssm._ensemble_img_dist.1.weight"] = (16, 16)  # an ensemble of 2: not GenRL's config
    path = tmp_path / "ensemble.pt"
    with reference_modules() as classes:
        agent, _ = build_agent(classes, extra)
        torch.save(agent, path)
    with pytest.raises(CheckpointError, match=r"no mapping.*_ensemble_img_dist\.1\.weight"):
        load_official_genrl(path)
    fewer = {k: v for k, v in shapes.items() if k != "wm.rssm._obs_dist.bias"}
    path = tmp_path / "missing.pt"
    with reference_modules() as classes:
        agent, _ = build_agent(classes, fewer)
        torch.save(agent, path)
    with pytest.raises(KeyMismatchError, match=r"missing keys.*rssm\.post_net\.out\.bias"):
        load_official_genrl(path)
