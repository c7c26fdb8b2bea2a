"""GenRL models as Hugging Face Hub folders: a world model, its connector (+ aligner) and, optionally, a behaviour
learned in imagination, in safetensors + JSON with a model card.

A folder holds:

- ``config.json``: ``{"format": "vpt_gym.genrl.pretrained", "version": 1, "world_model": {...},
  "connector": {...} | null, "behaviour": {"feat_dim", "action_dim", "config"} | null, "prompt": ...}``;
- ``world_model.safetensors``, ``connector.safetensors`` (if any), ``behaviour.safetensors`` (if any: the
  actor, critic, slow critic and return normaliser, and the prompt's embedding as ``prompt/embedding``);
- ``README.md``: the model card (task, training settings, evaluation results).

Weights only: no optimiser state, no RNG state (a training run resumes from :mod:`agents.genrl.checkpoint`
files, not from these). Loading runs no code from the files and matches every key strictly.

Example::

    >>> import tempfile
    >>> from agents.genrl.world_model import WorldModel, WorldModelConfig
    >>> from agents.genrl.pretrained import GenRLPretrained
    >>> folder = GenRLPretrained(WorldModel(WorldModelConfig.small(action_dim=2))).save_pretrained(tempfile.mkdtemp())
    >>> sorted(p.name for p in folder.iterdir())
    ['README.md', 'config.json', 'world_model.safetensors']
    >>> GenRLPretrained.from_pretrained(folder).world_model.config.action_dim
    2
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import torch

from agents.checkpoints import (
    CheckpointError,
    PathLike,
    load_json,
    load_safetensors,
    load_state_dict_strict,
    save_json,
    save_safetensors,
)
from agents.genrl.behaviour import ActorCritic, BehaviourConfig, GenRLPolicy
from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.world_model import WorldModel, WorldModelConfig
from agents.hub import download_folder, push_folder_to_hub
from agents.model_card import ModelCardInfo

FORMAT = "vpt_gym.genrl.pretrained"
VERSION = 1
CONFIG_FILE = "config.json"
WORLD_MODEL_FILE = "world_model.safetensors"
CONNECTOR_FILE = "connector.safetensors"
BEHAVIOUR_FILE = "behaviour.safetensors"
PROMPT_KEY = "prompt/embedding"


@dataclass
class GenRLPretrained:
    """A world model with, optionally, its connector and a behaviour (and the embedding of its prompt).

    :param world_model: the :class:`WorldModel`.
    :param connector: its :class:`Connector` (needed for prompt rewards and behaviours from prompts).
    :param behaviour: an :class:`ActorCritic` learned on this world model.
    :param prompt_embedding: the (D,) embedding of the behaviour's prompt.
    :param prompt: the prompt's text or a description of the video (for the card and reports).
    :param vlm: the name of the VLM whose embedding space the connector reads (e.g. ``"clip"``).
    """

    world_model: WorldModel
    connector: Optional[Connector] = None
    behaviour: Optional[ActorCritic] = None
    prompt_embedding: Optional[torch.Tensor] = None
    prompt: Optional[str] = None
    vlm: Optional[str] = None
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.world_model, WorldModel):
            raise TypeError(f"world_model must be a WorldModel, got {type(self.world_model).__name__}")
        if self.connector is not None and not isinstance(self.connector, Connector):
            raise TypeError(f"connector must be a Connector or None, got {type(self.connector).__name__}")
        if self.behaviour is not None:
            if not isinstance(self.behaviour, ActorCritic):
                raise TypeError(f"behaviour must be an ActorCritic or None, got {type(self.behaviour).__name__}")
            c = self.world_model.config
            feat = c.stoch * c.classes + c.deter
            if (self.behaviour.feat_dim, self.behaviour.action_dim) != (feat, c.action_dim):
                raise ValueError(f"the behaviour takes features {self.behaviour.feat_dim} / actions "
                                 f"{self.behaviour.action_dim}; the world model gives {feat} / {c.action_dim}")

    # ------------------------------------------------------------------------------------------ use
    def mfwm(self, vlm: Any = None) -> Any:
        """The :class:`~agents.genrl.reward.MFWM` (world model + connector) for prompt rewards and behaviours."""
        from agents.genrl.reward import MFWM

        if self.connector is None:
            raise ValueError("this GenRL model has no connector; an MFWM needs one")
        return MFWM(self.world_model, self.connector, vlm)

    def policy(self, num_envs: int = 1) -> GenRLPolicy:
        """The behaviour as a :class:`GenRLPolicy` acting in real envs."""
        if self.behaviour is None:
            raise ValueError("this GenRL model has no behaviour; save one with GenRLPretrained(..., behaviour=)")
        return GenRLPolicy(self.world_model, self.behaviour.actor, num_envs, label=self.prompt or "")

    @classmethod
    def from_checkpoint(cls, checkpoint: PathLike, behaviour: PathLike | None = None, prompt: str | None = None,
                        vlm: str | None = None) -> "GenRLPretrained":
        """The weights of training files: a :func:`~agents.genrl.checkpoint.save_checkpoint` file and,
        optionally, a :func:`~agents.genrl.behaviour.save_behaviour` file (torch's global RNG is left as it was)."""
        from agents.genrl.behaviour import load_behaviour
        from agents.genrl.checkpoint import load_checkpoint

        with torch.random.fork_rng(devices=[]):  # building the modules draws random initial weights
            state = load_checkpoint(checkpoint, restore_rng=False)
            ac = embedding = None
            if behaviour is not None:
                ac, _, embedding, meta = load_behaviour(behaviour)
                prompt = prompt or meta.get("extra", {}).get("label") or None
        return cls(state.model, state.connector, ac, embedding, prompt, vlm)

    # ------------------------------------------------------------------------------------------ save
    def save_pretrained(self, directory: PathLike, card: ModelCardInfo | None = None,
                        repo_id: str | None = None) -> Path:
        """Write the folder (see the module docstring) into ``directory`` (created if needed).

        :param card: the model card's task, training settings and evaluation results.
        :param repo_id: the Hub id the folder is meant for (shown in the card's loading example).
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        behaviour = None
        if self.behaviour is not None:
            b = self.behaviour
            behaviour = {"feat_dim": int(b.feat_dim), "action_dim": int(b.action_dim), "config": b.config.to_dict()}
        config = {"format": FORMAT, "version": VERSION, "world_model": self.world_model.config.to_dict(),
                  "connector": self.connector.config.to_dict() if self.connector is not None else None,
                  "behaviour": behaviour, "prompt": self.prompt, "vlm": self.vlm}
        files = {CONFIG_FILE: "the architecture of every part (JSON)",
                 WORLD_MODEL_FILE: "the world model's weights"}
        save_safetensors(d / WORLD_MODEL_FILE, _tensors(self.world_model), metadata={"format": FORMAT})
        for name, part, what in ((CONNECTOR_FILE, self.connector, "the connector and aligner's weights"),
                                 (BEHAVIOUR_FILE, self.behaviour, "the behaviour's actor-critic weights")):
            if part is None:
                (d / name).unlink(missing_ok=True)  # a stale part from an earlier save would not match
                continue
            tensors = _tensors(part)
            if part is self.behaviour and self.prompt_embedding is not None:
                tensors[PROMPT_KEY] = self.prompt_embedding.detach().float().reshape(-1).contiguous()
            save_safetensors(d / name, tensors, metadata={"format": FORMAT})
            files[name] = what
        save_json(d / CONFIG_FILE, config)
        self._write_card(d, card, repo_id, files)
        return d

    def _write_card(self, directory: Path, card: ModelCardInfo | None, repo_id: str | None,
                    files: dict[str, str]) -> None:
        card = card or ModelCardInfo(task="Not stated (saved without a model card).")
        parts = ["world model"] + (["connector"] if self.connector is not None else []) + (
            ["behaviour"] if self.behaviour is not None else [])
        wm = self.world_model.config
        facts = [f"GenRL parts: {', '.join(parts)}; world model with {wm.action_dim}-d actions, "
                 f"{wm.stoch}x{wm.classes} latents, deter {wm.deter}."]
        if self.vlm:
            facts.append(f"Connector trained on the embeddings of the VLM {self.vlm!r}.")
        if self.prompt:
            facts.append(f"Behaviour prompt: {self.prompt!r}.")
        description = (card.description + "\n\n" if card.description else "") + " ".join(facts)
        source = repo_id or "<this folder or its Hub repo id>"
        usage = (f"from agents.genrl.pretrained import GenRLPretrained\n"
                 f"pre = GenRLPretrained.from_pretrained({source!r})\n"
                 + ("mfwm = pre.mfwm(vlm=None)   # pass the VLM to embed text or video prompts\n"
                    if self.connector is not None else "")
                 + ("policy = pre.policy()       # acts in vpt_gym's dm_control pixel envs\n"
                    if self.behaviour is not None else ""))
        replace(card, description=description).write(
            directory, title=f"GenRL {' + '.join(parts)}: {repo_id or directory.name}", usage=usage, files=files,
            kind_tags=("genrl", "world-model", *(("behaviour",) if self.behaviour is not None else ())))

    def push_to_hub(self, repo_id: str, card: ModelCardInfo | None = None, *, private: bool | None = None,
                    token: str | None = None, commit_message: str | None = None, api: Any = None) -> str:
        """Save into a temporary folder and upload it to the Hub repo ``repo_id`` (created if needed); returns
        the commit URL (see :func:`agents.hub.push_folder_to_hub`)."""
        with tempfile.TemporaryDirectory(prefix="vpt-gym-push-") as tmp:
            self.save_pretrained(tmp, card, repo_id)
            return push_folder_to_hub(tmp, repo_id, private=private, token=token, commit_message=commit_message,
                                      api=api)

    # ------------------------------------------------------------------------------------------ load
    @classmethod
    def from_pretrained(cls, repo_id_or_path: PathLike, *, revision: str | None = None,
                        cache_dir: PathLike | None = None, token: str | bool | None = None,
                        device: str | torch.device = "cpu") -> "GenRLPretrained":
        """Load a folder written by :meth:`save_pretrained`, or a Hub repo id ``"owner/name"``
        (``snapshot_download`` into the Hub cache; cache only with ``HF_HUB_OFFLINE=1``).

        :raises CheckpointError: a foreign, corrupt or mismatching folder.
        :raises FileNotFoundError: missing files (the message says which and how to get them).
        """
        folder = download_folder(repo_id_or_path, [CONFIG_FILE, WORLD_MODEL_FILE],
                                 allow_patterns=[CONNECTOR_FILE, BEHAVIOUR_FILE, "README.md"], revision=revision,
                                 cache_dir=cache_dir, token=token)
        config = load_json(folder / CONFIG_FILE)
        if config.get("format") != FORMAT or config.get("version") != VERSION:
            raise CheckpointError(f"{folder}: not a {FORMAT!r} v{VERSION} folder (format "
                                  f"{str(config.get('format'))[:80]!r} v{str(config.get('version'))[:20]!r})")
        try:
            with torch.random.fork_rng(devices=[]):  # the caller's RNG is not consumed by the random init
                world_model = WorldModel(WorldModelConfig.from_dict(config["world_model"]))
                connector = Connector(ConnectorConfig.from_dict(config["connector"])) if config.get("connector") else None
                b = config.get("behaviour")
                behaviour = (ActorCritic(int(b["feat_dim"]), int(b["action_dim"]),
                                         BehaviourConfig.from_dict(b["config"])) if b else None)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{folder / CONFIG_FILE}: bad configuration: {type(err).__name__}: "
                                  f"{str(err)[:300]}") from err
        _load(world_model, folder / WORLD_MODEL_FILE)
        if connector is not None:
            _load(connector, folder / CONNECTOR_FILE)
        embedding = None
        if behaviour is not None:
            embedding = _load(behaviour, folder / BEHAVIOUR_FILE, extra=(PROMPT_KEY,)).get(PROMPT_KEY)
        prompt, vlm = config.get("prompt"), config.get("vlm")
        return cls(world_model.to(device).eval(), connector.to(device).eval() if connector else None,
                   behaviour.to(device) if behaviour else None, embedding,
                   prompt if isinstance(prompt, str) else None, vlm if isinstance(vlm, str) else None, config)


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in module.state_dict().items()}


def _load(module: torch.nn.Module, path: Path, extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Load ``path`` into ``module`` strictly; return the ``extra`` entries it also holds."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (config.json says this part exists)")
    state = load_safetensors(path)
    kept = {k: state.pop(k) for k in extra if k in state}
    load_state_dict_strict(module, state, source=str(path))
    return kept
