"""Action codecs of the contractor layout: how one dataset's per-step jsonl actions are written and read.

A contractor pair is a video plus one JSON object per frame (:mod:`agents.vpt.contractor`). What that object
holds depends on the game, so :func:`agents.vpt.contractor.read_pair` and the writers take an
``action_codec`` name, chosen per dataset (a training run uses its network's ``config.action_space``):

- ``"minecraft"`` (default): OpenAI's contractor keyboard/mouse recording, decoded by
  :class:`agents.vpt.contractor.StepConverter` into MineRL env actions; agent actions are
  ``[button class, camera class]`` (``(N, 2)``); null = VPT's null action.
- ``"crafter"``: one of Crafter's 17 actions per step, recorded the way a person playing Crafter's own GUI
  (``crafter/run_gui.py``) produces it: the key pressed (:data:`CRAFTER_KEYS`, e.g. ``a`` for
  ``move_left``, ``space`` for ``do``; none for ``noop``) and the action's name::

      {"action": "move_left", "keyboard": {"keys": ["key.keyboard.a"], "newKeys": [...]}, "tick": 3}

  The env action is ``{"action": index}`` (index in :data:`vpt_gym.envs.crafter.ACTION_NAMES`), the
  agent action ``[index]`` (``(N, 1)``); null = ``noop`` (so ``drop_null="agent"`` drops noops; Crafter
  pipelines read with ``drop_null="none"``: waiting, e.g. while asleep, is a real choice there).

Everything else (the video, the frame/line count checks, chunking, threads, bad-file reporting, atomic
writes) is the same code for both.

Example::

    >>> codec = get_codec("crafter")
    >>> step = codec.encode({"action": 5}, None, tick=0)
    >>> step["action"], step["keyboard"]["keys"]
    ('do', ['key.keyboard.space'])
    >>> codec.decoder("demo.jsonl").convert(step)
    ({'action': 5}, False)
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agents.vpt.contractor import ContractorFormatError, StepConverter, agent_actions_of, env_action_to_json_step
from vpt_gym.envs.crafter import ACTION_NAMES

__all__ = ["ActionCodec", "StepDecoder", "CRAFTER_KEYS", "CrafterStepDecoder", "crafter_json_step", "get_codec", "CODECS"]

#: Crafter's GUI key for each action (``crafter/run_gui.py``'s keymap), as Minecraft-style key names;
#: ``noop`` has no key.
CRAFTER_KEYS: dict[str, str | None] = {
    "noop": None,
    "move_left": "key.keyboard.a",
    "move_right": "key.keyboard.d",
    "move_up": "key.keyboard.w",
    "move_down": "key.keyboard.s",
    "do": "key.keyboard.space",
    "sleep": "key.keyboard.tab",
    "place_stone": "key.keyboard.r",
    "place_table": "key.keyboard.t",
    "place_furnace": "key.keyboard.f",
    "place_plant": "key.keyboard.p",
    "make_wood_pickaxe": "key.keyboard.1",
    "make_stone_pickaxe": "key.keyboard.2",
    "make_iron_pickaxe": "key.keyboard.3",
    "make_wood_sword": "key.keyboard.4",
    "make_stone_sword": "key.keyboard.5",
    "make_iron_sword": "key.keyboard.6",
}
assert tuple(CRAFTER_KEYS) == ACTION_NAMES


class StepDecoder(Protocol):
    """Turns the jsonl steps of one file, in order, into env actions: ``convert(step) -> (env_action, json_null)``."""

    def convert(self, step: Mapping[str, Any]) -> tuple[dict[str, Any], bool]: ...


@dataclass(frozen=True)
class ActionCodec:
    """How one dataset's actions are stored in a contractor jsonl.

    :param name: the codec's name (``"minecraft"``, ``"crafter"``).
    :param agent_dims: columns of the agent-action array (2: ``[button, camera]``; 1: ``[index]``).
    :param decoder: ``decoder(source, strict_keys)`` -> a fresh stateful :class:`StepDecoder` for one file.
    :param agent_actions: unbatched env actions -> ``(agent actions (N, agent_dims) int64, null mask (N,))``.
    :param encode: ``encode(env_action, previous_step, gui_open=, mouse_xy=, tick=)`` -> one jsonl step.
    """

    name: str
    agent_dims: int
    decoder: Callable[..., StepDecoder]
    agent_actions: Callable[[Sequence[Mapping[str, Any]]], tuple[np.ndarray, np.ndarray]]
    encode: Callable[..., dict[str, Any]]


# --------------------------------------------------------------------------------------------------
# Crafter
# --------------------------------------------------------------------------------------------------


def _crafter_index(env_action: Any) -> int:
    """The action index of a Crafter env action ``{"action": index}`` (or a bare index)."""
    value = env_action["action"] if isinstance(env_action, Mapping) and set(env_action) == {"action"} else env_action
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu":
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"a Crafter env action must be {{'action': index}} or an index in [0, {len(ACTION_NAMES) - 1}]; "
            f"got {env_action!r}"
        )
    if not 0 <= int(value) < len(ACTION_NAMES):
        raise ValueError(f"Crafter action index {int(value)} is out of range; expected [0, {len(ACTION_NAMES) - 1}]")
    return int(value)


def crafter_json_step(
    env_action: Any,
    previous: Mapping[str, Any] | None = None,
    *,
    gui_open: bool = False,
    mouse_xy: tuple[float, float] = (640.0, 360.0),
    tick: int = 0,
) -> dict[str, Any]:
    """One Crafter action -> a jsonl step (the action's name and its GUI key; see the module docstring).

    :param env_action: ``{"action": index}`` or the index.
    :param previous: the step written before (for ``newKeys``), or None.
    :param gui_open: must be False (Crafter has no GUI screens with a cursor).
    :param mouse_xy: unused (same signature as the Minecraft encoder).
    :param tick: the step's index.
    :raises ValueError: on a bad action.
    """
    if gui_open:
        raise ValueError("Crafter steps have no open GUI (no cursor to draw); got gui_open=True")
    name = ACTION_NAMES[_crafter_index(env_action)]
    key = CRAFTER_KEYS[name]
    keys = [key] if key is not None else []
    previous_keys = set(previous["keyboard"]["keys"]) if previous is not None else set()
    return {"action": name, "keyboard": {"keys": keys, "newKeys": [k for k in keys if k not in previous_keys]},
            "tick": int(tick)}  # fmt: skip


class CrafterStepDecoder:
    """Decodes Crafter jsonl steps: ``{"action": name, ...}`` -> ``({"action": index}, is_noop)``.

    The ``keyboard.keys`` field is optional; when present it must be exactly the action's GUI key (an
    inconsistent step is an error, not a guess).

    :param source: the file name for error messages.
    :param strict_keys: unused (every Crafter key is mapped); same signature as the Minecraft decoder.
    """

    def __init__(self, source: str = "<jsonl>", strict_keys: bool = False) -> None:
        self.source = source
        self._index = 0

    def convert(self, step: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        where = f"{self.source}: step {self._index}"
        if not isinstance(step, Mapping) or "action" not in step:
            raise ContractorFormatError(f"{where}: missing field 'action' (a Crafter action name)")
        name = step["action"]
        if name not in CRAFTER_KEYS:
            raise ContractorFormatError(f"{where}: unknown Crafter action {name!r}; expected one of {list(ACTION_NAMES)}")
        keyboard = step.get("keyboard")
        if keyboard is not None:
            keys = keyboard.get("keys") if isinstance(keyboard, Mapping) else None
            expected = [CRAFTER_KEYS[name]] if CRAFTER_KEYS[name] is not None else []
            if keys != expected:
                raise ContractorFormatError(
                    f"{where}: keyboard.keys {keys!r} does not match action {name!r} (its GUI key is {expected!r})"
                )
        self._index += 1
        return {"action": ACTION_NAMES.index(name)}, name == "noop"


def _crafter_agent_actions(env_actions: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    index = np.fromiter((_crafter_index(a) for a in env_actions), dtype=np.int64, count=len(env_actions))
    return index[:, None], index == 0


CODECS: dict[str, ActionCodec] = {
    "minecraft": ActionCodec(
        "minecraft", 2, lambda source="<jsonl>", strict_keys=False: StepConverter(strict_keys, source),
        agent_actions_of, env_action_to_json_step,
    ),
    "crafter": ActionCodec("crafter", 1, CrafterStepDecoder, _crafter_agent_actions, crafter_json_step),
}


def get_codec(name: str) -> ActionCodec:
    """The codec called ``name``. :raises ValueError: for an unknown name (listing the known ones)."""
    if name not in CODECS:
        raise ValueError(f"unknown action codec {name!r}; known: {sorted(CODECS)}")
    return CODECS[name]
