"""PPO with a KL penalty to the pretrained policy, as in VPT's RL fine-tuning (spec vpt.md section 7).

:class:`KLPPO` is SB3's :class:`~stable_baselines3.PPO` whose loss gains ``kl_coef * KL`` between the
policy being trained ``pi`` and ``pi_ref``, a frozen copy of the policy as it was when training started
(or when :meth:`KLPPO.reset_reference` was last called, e.g. after loading pretrained weights).

- **Direction**: VPT's loss is ``rho * KL(pi_pt, pi_theta)``, i.e. ``KL(pi_ref || pi)`` (the default,
  ``kl_direction="ref||policy"``); ``kl_direction="policy||ref"`` gives ``KL(pi || pi_ref)`` (the RLHF
  convention). Computed analytically per step from the two distributions (summed over action dimensions
  and over both heads of a MultiDiscrete space), averaged over the minibatch.
- **Schedule**: ``kl_coef`` at iteration ``i`` (``i`` = number of completed :meth:`train` calls, saved with
  the model) is ``kl_coef * kl_decay ** i`` (VPT: 0.2 and 0.9995), or ``kl_coef(i)`` if ``kl_coef`` is a
  callable. It replaces the entropy bonus: ``ent_coef`` defaults to 0 (still available).
- **Logs**: ``train/kl_ref`` (the minibatch-mean KL, averaged over every minibatch of every epoch of the
  iteration, like SB3's other ``train/*`` losses; measured before each gradient step) and
  ``train/kl_coef`` (the coefficient used) through SB3's logger (stdout, CSV, TensorBoard...).
- **Policies**: any SB3 :class:`ActorCriticPolicy` (``"MlpPolicy"``, ``"CnnPolicy"``...) and policies with
  memory that implement the sequence protocol of :class:`~agents.sb3.vpt_policy.VPTActorCriticPolicy`
  (``is_sequence_policy``, ``chunk_len``, ``initial_memory``, ``step``, ``sequence_distribution``,
  ``evaluate_actions_sequence``, ``predict_values_sequence``), e.g. VPT's and
  :class:`~agents.sb3.genrl_policy.GenRLActorCriticPolicy`. A policy whose memory holds the previous action
  (``memory_uses_actions = True``: GenRL's latent state) gets ``actions=`` in ``sequence_distribution``, so the
  reference filters the policy's own trajectory. For those, rollouts go through
  :class:`~agents.sb3.sequence_buffer.SequenceRolloutBuffer` (minibatches of whole chunks; ``n_steps`` and
  ``batch_size`` must be multiples of ``chunk_len``) and both ``pi`` and ``pi_ref`` carry their memory
  across steps, rollouts and ``learn`` calls (reset at episode starts).
- **Save/load without pickle**: :meth:`KLPPO.save_pretrained` writes the whole run (policy, reference,
  optimizer, KL schedule state, settings, RNG states) as safetensors + JSON (:mod:`agents.sb3.klppo_run`);
  ``KLPPO.from_pretrained(dir, env)`` resumes it exactly (``restore_rng=True`` for the same random draws).
- **SB3's zip** (``save``/``load``): ``pi_ref`` is one more entry of :meth:`_get_torch_save_params`, written as
  a state dict (``ref_policy.pth``) and read back with ``torch.load(weights_only=True)``, like the policy and
  optimizer. But SB3's ``data`` member cloudpickles what is not JSON (the policy class, spaces, schedules,
  a callable ``kl_coef``), and unpickling runs code: :meth:`KLPPO.load` inspects the zip first
  (:mod:`agents.sb3.zip_guard`) and refuses those entries unless ``trust_remote_code=True`` (or
  ``custom_objects`` replaces them). Memories are not saved (the next ``learn`` starts new episodes).

Example::

    >>> import gymnasium as gym
    >>> from agents.sb3 import KLPPO
    >>> model = KLPPO("MlpPolicy", gym.make("Pendulum-v1"), n_steps=64, batch_size=32, n_epochs=1)
    >>> _ = model.learn(64)
    >>> round(model.logger.name_to_value["train/kl_coef"], 4)
    0.2
    >>> import tempfile
    >>> run = model.save_pretrained(tempfile.mkdtemp())
    >>> KLPPO.from_pretrained(run, gym.make("Pendulum-v1")).kl_iteration
    1
"""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from agents.checkpoints import (
    MAX_EXTRA_NUMEL,
    CheckpointError,
    PathLike,
    build_budget,
    describe_error,
    load_state_dict_strict,
)
from agents.sb3.sequence_buffer import SequenceRolloutBuffer, select_memory
from agents.sb3.zip_guard import check_sb3_zip, pth_bytes

KLDirection = Literal["ref||policy", "policy||ref"]
#: VPT's KL coefficient and its per-iteration decay (spec vpt.md section 7).
VPT_KL_COEF, VPT_KL_DECAY = 0.2, 0.9995


def distribution_kl(p: Distribution, q: Distribution) -> th.Tensor:
    """``KL(p || q)`` per sample, summed over action dimensions / sub-actions: shape (batch,)."""
    if type(p) is not type(q):
        raise TypeError(f"KL between different distribution types {type(p).__name__} and {type(q).__name__}")
    pd, qd = p.distribution, q.distribution
    if isinstance(pd, list):  # MultiCategorical: one Categorical per action dimension
        return th.stack([th.distributions.kl_divergence(a, b) for a, b in zip(pd, qd)], dim=1).sum(dim=1)
    kl = th.distributions.kl_divergence(pd, qd)
    return kl.reshape(kl.shape[0], -1).sum(dim=1) if kl.dim() > 1 else kl


def _ref_actions(ref: Any, actions: th.Tensor) -> dict[str, th.Tensor]:
    """``{"actions": actions}`` for a reference whose memory holds the previous action (``memory_uses_actions``,
    e.g. a GenRL world model's latent state), so that it filters the policy's own trajectory; else ``{}``."""
    return {"actions": actions} if getattr(ref, "memory_uses_actions", False) else {}


class KLPPO(PPO):
    """PPO + ``kl_coef * KL`` to a frozen copy of the starting policy (see the module docstring).

    :param policy: as PPO (a policy class, ``"MlpPolicy"``...).
    :param env: as PPO.
    :param kl_coef: initial coefficient (VPT: 0.2), or a callable ``iteration -> coefficient``.
    :param kl_decay: per-iteration multiplicative decay of a float ``kl_coef`` (VPT: 0.9995; 1 = constant).
    :param kl_direction: ``"ref||policy"`` (VPT's ``KL(pi_pt, pi_theta)``, default) or ``"policy||ref"``.
    :param ent_coef: entropy bonus (default 0: the KL term replaces it, as in VPT).
    :param kwargs: every other PPO argument.
    """

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        kl_coef: float | Callable[[int], float] = VPT_KL_COEF,
        kl_decay: float = VPT_KL_DECAY,
        kl_direction: KLDirection = "ref||policy",
        ent_coef: float = 0.0,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(kl_coef) and not (np.isfinite(kl_coef) and kl_coef >= 0):
            raise ValueError(f"kl_coef must be a finite number >= 0 or a callable, got {kl_coef!r}")
        if not 0 < kl_decay <= 1:
            raise ValueError(f"kl_decay must be in (0, 1], got {kl_decay!r}")
        if kl_direction not in ("ref||policy", "policy||ref"):
            raise ValueError(f"kl_direction must be 'ref||policy' or 'policy||ref', got {kl_direction!r}")
        self.kl_coef = kl_coef
        self.kl_decay = kl_decay
        self.kl_direction = kl_direction
        self.kl_iteration = 0
        self.ref_policy: ActorCriticPolicy | None = None
        self._last_memory: Any = None
        self._last_ref_memory: Any = None
        super().__init__(policy, env, ent_coef=ent_coef, _init_setup_model=False, **kwargs)
        if _init_setup_model:
            self._setup_model()

    # ---------------------------------------------------------------------------------------- set-up

    @property
    def is_sequence(self) -> bool:
        """Whether the policy carries a memory (sequence protocol)."""
        return bool(getattr(self.policy, "is_sequence_policy", False))

    def _setup_model(self) -> None:
        policy_class = self.policy_class
        if isinstance(policy_class, type) and getattr(policy_class, "is_sequence_policy", False):
            if self.rollout_buffer_class is None:
                self.rollout_buffer_class = SequenceRolloutBuffer
            elif not issubclass(self.rollout_buffer_class, SequenceRolloutBuffer):
                raise ValueError(
                    f"{policy_class.__name__} needs a SequenceRolloutBuffer, got {self.rollout_buffer_class}"
                )
        super()._setup_model()
        if self.is_sequence:
            self.rollout_buffer.set_chunk_len(self.policy.chunk_len)
            if self.batch_size % self.policy.chunk_len:
                raise ValueError(
                    f"batch_size ({self.batch_size}) must be a multiple of chunk_len ({self.policy.chunk_len})"
                )
        self.reset_reference()

    def reset_reference(self) -> None:
        """Make ``pi_ref`` a frozen copy of the current policy (call it after loading pretrained weights)."""
        optimizer, self.policy.optimizer = self.policy.optimizer, None  # not copied: pi_ref is never trained
        try:
            ref = copy.deepcopy(self.policy)
        finally:
            self.policy.optimizer = optimizer
        ref.set_training_mode(False)
        ref.requires_grad_(False)
        self.ref_policy = ref
        self._last_memory = self._last_ref_memory = None  # both restart from an empty memory

    def current_kl_coef(self) -> float:
        """The coefficient used by the next :meth:`train` call."""
        if callable(self.kl_coef):
            value = float(self.kl_coef(self.kl_iteration))
        else:
            value = float(self.kl_coef) * float(self.kl_decay) ** self.kl_iteration
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"kl_coef at iteration {self.kl_iteration} is {value!r}; expected a finite number >= 0")
        return value

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, "ref_policy"], variables

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_last_memory", "_last_ref_memory"]

    # ------------------------------------------------------------------------------------- checkpoints

    def save_pretrained(self, directory: PathLike, card: Any = None, repo_id: str | None = None) -> str:
        """Write the whole run -- policy, reference policy, optimizer, KL schedule state, settings, counters and
        RNG states -- as safetensors + JSON (no pickle; see :mod:`agents.sb3.klppo_run`). Resume it with
        :meth:`from_pretrained`. Returns ``directory`` as a string.

        :param directory: created if needed; every file is written atomically, the manifest last.
        :param card: an :class:`agents.model_card.ModelCardInfo`: also write a model card (``README.md``).
        :param repo_id: the Hub repo the card's usage example loads from (default: the directory).
        :raises ValueError: a policy class or policy kwarg that cannot be named without pickle.
        """
        from agents.sb3.klppo_run import save_run

        path = save_run(self, directory)
        if card is not None:
            from agents.model_card import ModelCardInfo

            if not isinstance(card, ModelCardInfo):
                raise TypeError(f"card must be an agents.model_card.ModelCardInfo, got {type(card).__name__}")
            where = repo_id or str(path)
            card.write(path, title=f"KLPPO fine-tuning run ({self.policy_class.__name__})",
                       usage=f"from agents.sb3 import KLPPO\nmodel = KLPPO.from_pretrained({where!r}, env)",
                       kind_tags=("klppo", "ppo", "kl-regularised-fine-tuning"))
        return str(path)

    def push_to_hub(self, repo_id: str, card: Any, *, private: bool | None = None, token: str | None = None,
                    commit_message: str | None = None, api: Any = None) -> str:
        """:meth:`save_pretrained` into a temporary folder with the model card ``card`` and upload it to the Hub
        repo ``repo_id`` (created if needed); returns the commit URL. ``KLPPO.from_pretrained(repo_id, env)``
        resumes it. See :func:`agents.hub.push_folder_to_hub` for the other arguments (``api``: a fake in tests).
        """
        import tempfile

        from agents.hub import push_folder_to_hub

        with tempfile.TemporaryDirectory(prefix="vpt-gym-push-") as tmp:
            self.save_pretrained(tmp, card, repo_id)
            return push_folder_to_hub(tmp, repo_id, private=private, token=token, api=api,
                                      commit_message=commit_message or "Upload a KLPPO run with vpt-gym")

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: str | PathLike | Any,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> "KLPPO":
        """SB3's ``load`` of a ``.zip``, after checking the zip without unpickling anything.

        SB3 cloudpickles the policy class, spaces and schedules into the zip, and unpickling them can run
        code from the file: such entries are refused (:class:`~agents.sb3.zip_guard.UntrustedPickleError`)
        unless ``trust_remote_code=True`` or ``custom_objects`` replaces each of them. Members that inflate
        far beyond their compressed size are refused, and the network is built under a budget of what the
        zip's weight files can fill. The pickle-free alternative: :meth:`save_pretrained` /
        :meth:`from_pretrained`.

        :param path: the zip. :param env: as SB3. :param device: as SB3.
        :param custom_objects: as SB3: entries replaced by these values are not unpickled.
        :param print_system_info: as SB3. :param force_reset: as SB3.
        :param trust_remote_code: unpickle the zip's serialized entries (only for a file you trust).
        :param kwargs: as SB3 (attributes to change).
        """
        check_sb3_zip(path, custom_objects, trust_remote_code)
        _, nbytes = pth_bytes(path)
        try:
            with build_budget(nbytes // 64 + 64, nbytes + MAX_EXTRA_NUMEL, str(path)):
                return super().load(path, env=env, device=device, custom_objects=custom_objects,
                                    print_system_info=print_system_info, force_reset=force_reset, **kwargs)
        except pickle.UnpicklingError as e:  # a .pth member refused by torch.load(weights_only=True)
            raise CheckpointError(f"{path}: a weights file in the zip was refused ({describe_error(e, 400)})") from e

    def set_parameters(self, load_path_or_dict: Any, exact_match: bool = True, device: th.device | str = "auto"
                       ) -> None:
        """SB3's ``set_parameters``; a zip path is size-checked first (its ``.pth`` members are read with
        ``torch.load(weights_only=True)`` and its ``data`` is not unpickled)."""
        if not isinstance(load_path_or_dict, dict):
            check_sb3_zip(load_path_or_dict, trust_remote_code=True)
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | PathLike,
        env: GymEnv | str,
        policy_kwargs: dict[str, Any] | None = None,
        zero_value_head: bool = True,
        behaviour: Any = None,
        **kwargs: Any,
    ) -> "KLPPO":
        """A :class:`KLPPO` whose policy and reference start from a pretrained VPT or GenRL agent, or a run
        directory written by :meth:`save_pretrained`, resumed as it was saved.

        :param name_or_path: a :meth:`save_pretrained` run directory (then ``kwargs`` may hold
            ``restore_rng=True`` -- restore the global torch/numpy/random RNG states of the moment of saving --,
            ``device``, settings to change such as ``verbose``, and the callables a run used; the policy, its
            reference, optimizer and KL schedule come from the directory; ``zero_value_head`` does not apply). VPT: a released name (e.g. ``"foundation-model-1x"``), a safetensors directory
            (``save_pretrained``) or an official ``.model``/``.weights`` pair. GenRL: a world-model checkpoint
            (:func:`agents.genrl.checkpoint.save_checkpoint`, or a ``WorldModel``) together with
            ``behaviour=``, or a :meth:`GenRLActorCriticPolicy.save_pretrained` directory.
        :param env: VPT: an env with ``(S, S, 3)`` uint8 frames, ``S`` the checkpoint's ``img_size`` (128 for
            the released models; the ImpalaCNN's dense layer fixes it), and ``MultiDiscrete([8641, 121])``
            actions (``vpt_gym``'s MineRL envs), or ``Discrete(17)`` actions for a Crafter checkpoint
            (``action_space="crafter"``). GenRL: a dm_control pixel env (64x64 frames, ``Box(-1, 1)``
            actions of the world model's size, e.g. ``vpt_gym/walker-stand-v0``).
        :param policy_kwargs: extra :class:`VPTActorCriticPolicy` / :class:`GenRLActorCriticPolicy` kwargs
            (``chunk_len``, ``value_units``, ``train_world_model``...).
        :param zero_value_head: zero the value head (VPT's RL did; False resumes a saved GenRL policy's).
        :param behaviour: GenRL only: the behaviour learned in imagination (a
            :func:`agents.genrl.behaviour.save_behaviour` file, an ``ActorCritic`` or an ``Actor``).
        :param kwargs: :class:`KLPPO` / PPO arguments (``n_steps``, ``batch_size``, ``learning_rate``...).
        """
        from agents.hub import download_folder, is_repo_id
        from agents.sb3.genrl_policy import GenRLActorCriticPolicy
        from agents.sb3.klppo_run import MANIFEST, is_run_dir, load_run

        if behaviour is None and is_repo_id(str(name_or_path)):
            # a Hub repo: a pushed KLPPO run is resumed; anything else (a VPT policy) is loaded as below
            try:
                folder = download_folder(str(name_or_path), [MANIFEST], allow_patterns=["*.json", "*.safetensors"])
            except FileNotFoundError:
                folder = None
            if folder is not None and is_run_dir(folder):
                name_or_path = folder
        if behaviour is None and isinstance(name_or_path, (str, os.PathLike)) and is_run_dir(name_or_path):
            if policy_kwargs is not None:
                raise ValueError(f"{name_or_path} is a KLPPO run directory: its policy is fixed (no policy_kwargs)")
            return load_run(cls, name_or_path, env, **kwargs)
        if behaviour is not None or (
            isinstance(name_or_path, (str, os.PathLike)) and GenRLActorCriticPolicy.is_pretrained_dir(name_or_path)
        ):
            return cls._from_pretrained_genrl(name_or_path, behaviour, env, policy_kwargs, zero_value_head, **kwargs)
        from agents.sb3.vpt_policy import VPTActorCriticPolicy
        from agents.vpt.io import from_pretrained as load_vpt
        from agents.vpt.policy import VPTPolicyNet

        net = load_vpt(name_or_path)
        if not isinstance(net, VPTPolicyNet):
            raise ValueError(f"{name_or_path!r} holds a {type(net).__name__}, not a VPT policy")
        model = cls(VPTActorCriticPolicy, env, _init_setup_model=False, **kwargs)
        model.policy_kwargs = {"vpt_config": net.config.to_dict(), **(policy_kwargs or {})}
        model._setup_model()
        model.policy.load_pretrained_weights(net, zero_value_head=zero_value_head)
        model.reset_reference()
        return model

    @classmethod
    def _from_pretrained_genrl(
        cls, world_model: Any, behaviour: Any, env: GymEnv | str, policy_kwargs: dict[str, Any] | None,
        zero_value_head: bool, **kwargs: Any,
    ) -> "KLPPO":
        """GenRL branch of :meth:`from_pretrained` (world model + behaviour, or a saved policy directory)."""
        from agents.sb3.genrl_policy import GenRLActorCriticPolicy

        if behaviour is None:
            source = GenRLActorCriticPolicy.load_pretrained(world_model)
            arch = source.architecture()
        else:
            wm, actor = GenRLActorCriticPolicy.load_sources(world_model, behaviour)
            arch = GenRLActorCriticPolicy.pretrained_kwargs(wm, actor)
        model = cls(GenRLActorCriticPolicy, env, _init_setup_model=False, **kwargs)
        model.policy_kwargs = {**arch, **(policy_kwargs or {})}
        model._setup_model()
        if behaviour is None:
            load_state_dict_strict(model.policy, source.state_dict(), str(world_model))
            if zero_value_head:
                model.policy.zero_value_head()
        else:
            model.policy.load_pretrained_weights(wm, actor, zero_value_head=zero_value_head)
        model.reset_reference()
        return model

    # ------------------------------------------------------------------------------------------ rollouts

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer, n_rollout_steps: int
    ) -> bool:
        """SB3's rollout loop; policies with memory step ``pi`` and ``pi_ref`` with their caches."""
        if not self.is_sequence:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        assert self._last_obs is not None, "No previous observation was provided"
        assert isinstance(rollout_buffer, SequenceRolloutBuffer)
        policy, ref = self.policy, self.ref_policy
        policy.set_training_mode(False)
        if self._last_memory is None:
            self._last_memory = policy.initial_memory(env.num_envs)
            self._last_ref_memory = ref.initial_memory(env.num_envs)
        n_steps = 0
        rollout_buffer.reset()
        callback.on_rollout_start()
        while n_steps < n_rollout_steps:
            if n_steps % rollout_buffer.chunk_len == 0:
                rollout_buffer.add_memory(self._last_memory, self._last_ref_memory)
            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)
                starts = th.as_tensor(self._last_episode_starts, dtype=th.bool, device=self.device)
                actions, values, log_probs, self._last_memory = policy.step(obs_tensor, starts, self._last_memory)
                _, _, self._last_ref_memory = ref.sequence_distribution(
                    obs_tensor, starts, self._last_ref_memory, env.num_envs, **_ref_actions(ref, actions)
                )
            actions = actions.cpu().numpy()
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            for idx, done in enumerate(dones):  # bootstrap truncated episodes, in that env's own context
                info = infos[idx]
                if done and info.get("terminal_observation") is not None and info.get("TimeLimit.truncated", False):
                    terminal_obs = policy.obs_to_tensor(info["terminal_observation"])[0]
                    with th.no_grad():
                        not_first = th.zeros(1, dtype=th.bool, device=self.device)
                        memory = select_memory(self._last_memory, slice(idx, idx + 1))
                        terminal_value = policy.predict_values_sequence(terminal_obs, not_first, memory)[0]
                    rewards[idx] += self.gamma * terminal_value.item()
            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts, values, log_probs)
            self._last_obs = new_obs
            self._last_episode_starts = dones
        with th.no_grad():
            starts = th.as_tensor(dones, dtype=th.bool, device=self.device)
            values = policy.predict_values_sequence(obs_as_tensor(new_obs, self.device), starts, self._last_memory)
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    # ------------------------------------------------------------------------------------------ training

    def _evaluate(self, data: Any, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor | None, th.Tensor]:
        """``(values, log_prob, entropy, kl)`` of a minibatch, ``kl`` per sample in the configured direction."""
        policy, ref = self.policy, self.ref_policy
        assert ref is not None
        if self.is_sequence:
            values, log_prob, entropy, dist = policy.evaluate_actions_sequence(
                data.observations, actions, data.episode_starts, data.memory, data.n_sequences
            )
            with th.no_grad():
                ref_dist, _, _ = ref.sequence_distribution(
                    data.observations, data.episode_starts, data.ref_memory, data.n_sequences,
                    **_ref_actions(ref, actions),
                )
        else:
            if type(policy).evaluate_actions is ActorCriticPolicy.evaluate_actions:
                # ActorCriticPolicy.evaluate_actions, keeping the distribution it builds (same maths, no extra pass)
                features = policy.extract_features(data.observations)
                if policy.share_features_extractor:
                    latent_pi, latent_vf = policy.mlp_extractor(features)
                else:
                    latent_pi = policy.mlp_extractor.forward_actor(features[0])
                    latent_vf = policy.mlp_extractor.forward_critic(features[1])
                dist = policy._get_action_dist_from_latent(latent_pi)
                log_prob, values, entropy = dist.log_prob(actions), policy.value_net(latent_vf), dist.entropy()
            else:  # a customised policy: trust its evaluate_actions, rebuild the distribution separately
                values, log_prob, entropy = policy.evaluate_actions(data.observations, actions)
                dist = policy.get_distribution(data.observations)
            with th.no_grad():
                ref_dist = ref.get_distribution(data.observations)
        kl = distribution_kl(ref_dist, dist) if self.kl_direction == "ref||policy" else distribution_kl(dist, ref_dist)
        return values, log_prob, entropy, kl

    def train(self) -> None:
        """PPO's update (SB3's :meth:`PPO.train`) plus ``kl_coef * mean KL(pi_ref || pi)`` in the loss."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
        kl_coef = self.current_kl_coef()

        entropy_losses, pg_losses, value_losses, clip_fractions, kl_refs = [], [], [], [], []
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()

                values, log_prob, entropy, kl = self._evaluate(rollout_data, actions)
                values = values.flatten()
                advantages = rollout_data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                ratio = th.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())

                if self.clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = rollout_data.old_values + th.clamp(
                        values - rollout_data.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = F.mse_loss(rollout_data.returns, values_pred)
                value_losses.append(value_loss.item())

                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())

                kl_ref = kl.mean()
                kl_refs.append(kl_ref.item())

                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                if kl_coef != 0.0:  # skipped at 0 so that the update is bit-identical to PPO's
                    loss = loss + kl_coef * kl_ref

                with th.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(approx_kl_div)
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div:.2f}")
                    break

                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break

        self.kl_iteration += 1
        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())
        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/explained_variance", explained_var)
        self.logger.record("train/kl_ref", np.mean(kl_refs))
        self.logger.record("train/kl_coef", kl_coef)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
