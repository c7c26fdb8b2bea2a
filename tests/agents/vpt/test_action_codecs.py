"""Action codecs of the contractor layout: the Crafter codec through the shared reader/writers, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from agents.vpt.action_codecs import CRAFTER_KEYS, CrafterStepDecoder, crafter_json_step, get_codec
from agents.vpt.contractor import ContractorFormatError, ContractorReader, ContractorWriter, read_pair, write_jsonl
from vpt_gym.envs.crafter import ACTION_NAMES


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((64, 64, 3), 8 * (t % 30), np.uint8) for t in range(n)]


def test_crafter_keys_are_the_gui_keymap_in_action_order():
    assert tuple(CRAFTER_KEYS) == ACTION_NAMES
    assert CRAFTER_KEYS["noop"] is None and CRAFTER_KEYS["do"] == "key.keyboard.space"
    assert CRAFTER_KEYS["sleep"] == "key.keyboard.tab" and CRAFTER_KEYS["make_iron_sword"] == "key.keyboard.6"
    keys = [k for k in CRAFTER_KEYS.values() if k is not None]
    assert len(set(keys)) == 16  # one distinct key per action but noop


def test_writer_and_reader_round_trip_every_action(tmp_path):
    actions = [t % 17 for t in range(40)]
    with ContractorWriter(tmp_path / "ep", fps=10.0, action_codec="crafter") as writer:
        for frame, a in zip(_frames(40), actions):
            writer.write(frame, {"action": a})
    lines = [json.loads(line) for line in (tmp_path / "ep.jsonl").read_text().splitlines()]
    assert [line["action"] for line in lines] == [ACTION_NAMES[a] for a in actions]
    assert lines[5]["keyboard"]["keys"] == ["key.keyboard.space"] and lines[0]["keyboard"]["keys"] == []
    chunks = list(read_pair(tmp_path / "ep.mp4", resolution=32, chunk_size=16, drop_null="none", action_codec="crafter"))
    assert [len(c) for c in chunks] == [16, 16, 8]
    agent = np.concatenate([c.agent_actions for c in chunks])
    assert agent.shape == (40, 1) and agent.dtype == np.int64
    assert agent[:, 0].tolist() == actions
    assert [a["action"] for c in chunks for a in c.env_actions] == actions
    assert chunks[0].frames.shape == (16, 32, 32, 3)
    # the "agent" null rule drops noops (Crafter's null action), and only them
    kept = np.concatenate([c.indices for c in read_pair(tmp_path / "ep.mp4", resolution=32, action_codec="crafter")])
    assert kept.tolist() == [t for t, a in enumerate(actions) if a != 0]
    # the multi-file reader passes the codec through
    reader = ContractorReader([tmp_path / "ep.mp4"], progress=False, resolution=32, drop_null="none", action_codec="crafter")
    assert sum(len(c) for c in reader) == 40 and not reader.problems


def test_write_jsonl_takes_indices_or_dicts_and_the_decoder_reads_them(tmp_path):
    assert write_jsonl(tmp_path / "a.jsonl", [{"action": 3}, 7, np.int64(0)], action_codec="crafter") == 3
    decoder = CrafterStepDecoder("a.jsonl")
    steps = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [decoder.convert(s) for s in steps] == [({"action": 3}, False), ({"action": 7}, False), ({"action": 0}, True)]
    assert steps[1]["keyboard"]["newKeys"] == ["key.keyboard.r"]


@pytest.mark.parametrize(
    "action, match",
    [(17, "out of range"), (-1, "out of range"), (2.0, "index"), (True, "index"), ("do", "index"),
     ({"action": 3, "camera": [0, 0]}, "index"), (np.array([1, 2]), "index")],
)
def test_encoder_rejects_bad_actions(action, match):
    with pytest.raises(ValueError, match=match):
        crafter_json_step(action)


def test_encoder_refuses_an_open_gui():
    with pytest.raises(ValueError, match="gui_open"):
        crafter_json_step({"action": 1}, gui_open=True)


@pytest.mark.parametrize(
    "step, match",
    [({"tick": 0}, "missing field 'action'"), ({"action": "jump"}, "unknown Crafter action 'jump'"),
     ({"action": "do", "keyboard": {"keys": ["key.keyboard.a"]}}, "does not match action 'do'"),
     ({"action": "noop", "keyboard": {"keys": ["key.keyboard.w"]}}, "does not match action 'noop'")],
)
def test_decoder_rejects_bad_steps(step, match):
    with pytest.raises(ContractorFormatError, match=match):
        CrafterStepDecoder("bad.jsonl").convert(step)


def test_a_minecraft_file_read_as_crafter_is_a_reported_format_error(tmp_path):
    with ContractorWriter(tmp_path / "mc") as writer:  # default codec: Minecraft
        writer.write(np.zeros((64, 64, 3), np.uint8), {"forward": 1})
    with pytest.raises(ContractorFormatError, match="missing field 'action'"):
        list(read_pair(tmp_path / "mc.mp4", action_codec="crafter"))
    reader = ContractorReader([tmp_path / "mc.mp4"], progress=False, action_codec="crafter")
    assert list(reader) == [] and "missing field 'action'" in reader.problems[0].reason


def test_unknown_codec_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown action codec 'atari'; known: \['crafter', 'minecraft'\]"):
        get_codec("atari")
    with pytest.raises(ValueError, match="unknown action codec"):
        ContractorWriter(tmp_path / "x", action_codec="atari")
    assert not list(tmp_path.iterdir())  # nothing was left behind


def test_minecraft_stays_the_default(tmp_path):
    with ContractorWriter(tmp_path / "mc") as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8), {"forward": 1, "camera": [0.0, 1.5]})
    (chunk,) = read_pair(tmp_path / "mc.mp4", drop_null="none")
    assert chunk.agent_actions.shape == (1, 2) and chunk.env_actions[0]["forward"] == 1
    assert get_codec("minecraft").agent_dims == 2 and get_codec("crafter").agent_dims == 1
