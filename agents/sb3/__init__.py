"""stable-baselines3 integration: pretrained agents as SB3 policies and KL-regularised PPO fine-tuning.

- :class:`~agents.sb3.vpt_policy.VPTActorCriticPolicy`: VPT as an SB3 ``ActorCriticPolicy`` over
  ``MultiDiscrete([8641, 121])`` (transformer memory recomputed over stored chunks).
- :class:`~agents.sb3.genrl_policy.GenRLActorCriticPolicy`: a GenRL world model + behaviour actor as an SB3
  ``ActorCriticPolicy`` over a dm_control ``Box`` (latent state per env, recomputed over stored chunks).
- :class:`~agents.sb3.kl_ppo.KLPPO`: PPO + ``kl_coef * KL(pi_ref || pi)`` to the frozen starting policy
  (VPT's RL fine-tuning: 0.2 decayed by 0.9995 per iteration, replacing the entropy bonus).
- :class:`~agents.sb3.sequence_buffer.SequenceRolloutBuffer`: chunked rollouts for policies with memory.

Example (fine-tune a pretrained VPT agent)::

    env = vpt_gym.make("MineRLBasaltFindCave-v0")
    model = KLPPO.from_pretrained("foundation-model-1x", env, n_steps=256, batch_size=256)
    model.learn(100_000, progress_bar=True)
    model.save_pretrained("findcave_kl")    # safetensors + JSON; KLPPO.from_pretrained("findcave_kl", env) resumes

Example (fine-tune a GenRL agent: world model + a behaviour learned in imagination)::

    env = make_vec_env("vpt_gym/walker-stand-v0", n_envs=4)
    model = KLPPO.from_pretrained("wm.safetensors", env, behaviour="run/behaviour.safetensors",
                                  n_steps=256, batch_size=256)
    model.learn(100_000, progress_bar=True)
    model.save_pretrained("walker_stand_kl")
"""

from agents.sb3.genrl_policy import GenRLActorCriticPolicy, GenRLActorDistribution
from agents.sb3.kl_ppo import KLPPO, VPT_KL_COEF, VPT_KL_DECAY, distribution_kl
from agents.sb3.sequence_buffer import SequenceRolloutBuffer, SequenceRolloutBufferSamples
from agents.sb3.vpt_policy import VPTActorCriticPolicy

__all__ = [
    "GenRLActorCriticPolicy",
    "GenRLActorDistribution",
    "KLPPO",
    "SequenceRolloutBuffer",
    "SequenceRolloutBufferSamples",
    "VPTActorCriticPolicy",
    "VPT_KL_COEF",
    "VPT_KL_DECAY",
    "distribution_kl",
]
