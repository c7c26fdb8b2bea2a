"""GenRLActorCriticPolicy: the behaviour actor's distribution to the bit, the latent state as GenRL filters it,
recomputation over chunks, episode-start resets, exact save/load, bad inputs, and KLPPO on walker pixels."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

import vpt_gym  # noqa: F401  (registers the envs)
from agents.checkpoints import CheckpointError
from agents.genrl.reward import LatentFilter
from agents.sb3 import KLPPO, GenRLActorCriticPolicy, GenRLActorDistribution, distribution_kl
from tests.support.genrl_agent import save_tiny_genrl_agent, tiny_genrl_agent
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

OBS = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
ACT = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def agent():
    return tiny_genrl_agent(action_dim=6, seed=0)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return save_tiny_genrl_agent(tmp_path_factory.mktemp("genrl_agent"), action_dim=6, seed=0)


@pytest.fixture
def policy(agent):
    wm, ac = agent
    return GenRLActorCriticPolicy.from_pretrained(wm, ac, OBS, ACT, chunk_len=4)


def frames(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 64, 64, 3) uint8 frames: smooth random images (an encoder sees real structure, not only noise)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.randint(0, 256, (n, 3, 8, 8), generator=g).float()
    big = torch.nn.functional.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
    return big.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def rollout(policy: GenRLActorCriticPolicy, obs: torch.Tensor, starts: torch.Tensor, n_envs: int = 1):
    """Step the policy through (T, n_envs) frames; returns per-step memories-before, actions, log-probs, values."""
    memory = policy.initial_memory(n_envs)
    out = {"memory": [], "actions": [], "log_probs": [], "values": []}
    with torch.no_grad():
        for t in range(obs.shape[0]):
            out["memory"].append(memory)
            actions, values, log_probs, memory = policy.step(obs[t], starts[t], memory)
            out["actions"].append(actions)
            out["log_probs"].append(log_probs)
            out["values"].append(values)
    return out


# ------------------------------------------------------------------------------------------- the actor head


def test_distribution_equals_behaviour_actor_on_the_same_latent(policy, agent):
    _, ac = agent
    torch.manual_seed(3)
    features = torch.randn(5, policy.feature_dim)
    actions = torch.rand(5, 6) * 2.4 - 1.2  # inside and outside [-1, 1]: the Normal is not squashed
    dist = policy._distribution(features)
    ref = ac.actor(features)
    assert isinstance(dist, GenRLActorDistribution)
    assert torch.equal(dist.log_prob(actions), ref.log_prob(actions).sum(-1))
    assert torch.equal(dist.entropy(), ref.entropy().sum(-1))
    assert torch.equal(dist.mode(), torch.tanh(ac.actor.net(features).chunk(2, -1)[0]))
    std = ref.stddev
    assert torch.all(std >= 0.1) and torch.all(std <= 1.0)
    # SB3's Gaussian log-density, written out, gives the same numbers
    m = ref.mean
    by_hand = (-((actions - m) ** 2) / (2 * std**2) - torch.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    torch.testing.assert_close(dist.log_prob(actions), by_hand, rtol=0, atol=1e-5)


def test_latent_state_is_genrl_posterior_filter(policy, agent):
    wm, ac = agent
    obs = frames(6, seed=1)
    starts = torch.tensor([True, False, False, True, False, False])
    out = rollout(policy, obs[:, None], starts[:, None])
    filt = LatentFilter(wm, num_envs=1, sample=False)
    for t in range(6):
        if starts[t]:
            filt.reset(obs[t : t + 1].numpy())
        else:
            filt.step(obs[t : t + 1].numpy(), out["actions"][t - 1].clamp(-1, 1).numpy())
        features, _ = policy.latents(obs[t : t + 1], starts[t : t + 1], out["memory"][t], 1)
        torch.testing.assert_close(features, filt.state.feature(), rtol=0, atol=1e-5)
        with torch.no_grad():
            # log-probs of the policy's own actions equal the behaviour actor's on that latent
            torch.testing.assert_close(
                out["log_probs"][t], ac.actor(filt.state.feature()).log_prob(out["actions"][t]).sum(-1),
                rtol=0, atol=1e-4,
            )


def test_values_start_at_zero_and_world_model_is_frozen(policy):
    with torch.no_grad():
        values = policy.value_net(torch.randn(4, policy.feature_dim))
    assert torch.equal(values, torch.zeros(4, 1))
    assert not any(p.requires_grad for p in policy.world_model.parameters())
    optimised = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in [*policy.actor.parameters(), *policy.value_net.parameters()]}
    trained = GenRLActorCriticPolicy(OBS, ACT, lambda _: 1e-4, actor_layers=2, actor_units=64, train_world_model=True)
    optimised = {id(p) for group in trained.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in trained.world_model.parameters()} <= optimised


# ------------------------------------------------------------------------------------------------ memory


def test_memory_resets_at_episode_starts(policy):
    obs = frames(5, seed=2)
    out = rollout(policy, obs[:, None], torch.tensor([[True], [False], [False], [False], [False]]))
    carried = out["memory"][4]
    fresh = policy.initial_memory(1)
    with torch.no_grad():
        after_start, _, _ = policy.sequence_distribution(obs[4:5], torch.tensor([True]), carried, 1)
        from_zero, _, _ = policy.sequence_distribution(obs[4:5], torch.tensor([True]), fresh, 1)
        continued, _, _ = policy.sequence_distribution(obs[4:5], torch.tensor([False]), carried, 1)
    assert torch.equal(after_start.distribution.mean, from_zero.distribution.mean)
    assert torch.equal(after_start.distribution.stddev, from_zero.distribution.stddev)
    # the memory matters when the episode goes on
    assert not torch.allclose(continued.distribution.mean, from_zero.distribution.mean, atol=1e-4)


def test_training_recompute_over_chunks_matches_the_rollout(policy):
    """Two envs, 8 steps, chunks of 4 with an episode start inside a chunk: evaluate_actions_sequence from
    the memories stored at chunk starts gives the rollout's log-probs and values."""
    n_envs, steps = 2, 8
    obs = frames(n_envs * steps, seed=4).reshape(steps, n_envs, 64, 64, 3)
    starts = torch.zeros(steps, n_envs, dtype=torch.bool)
    starts[0] = True
    starts[5, 1] = True
    out = rollout(policy, obs, starts, n_envs)
    for chunk_start in (0, 4):
        memory = out["memory"][chunk_start]
        sl = slice(chunk_start, chunk_start + 4)
        chunk_obs = obs[sl].transpose(0, 1).reshape(-1, 64, 64, 3)  # chunk-major: env 0's 4 steps, then env 1's
        chunk_actions = torch.stack(out["actions"][sl]).transpose(0, 1).reshape(-1, 6)
        with torch.no_grad():
            values, log_prob, entropy, _ = policy.evaluate_actions_sequence(
                chunk_obs, chunk_actions, starts[sl].T.reshape(-1).float(), memory, n_envs
            )
        torch.testing.assert_close(log_prob, torch.stack(out["log_probs"][sl]).T.reshape(-1), rtol=0, atol=1e-4)
        torch.testing.assert_close(values, torch.stack(out["values"][sl]).transpose(0, 1).reshape(-1, 1))
        assert entropy.shape == (8,)
    # the value KLPPO bootstraps truncated episodes with: one step from the memory, not advancing it
    with torch.no_grad():
        bootstrap = policy.predict_values_sequence(obs[7], starts[7], out["memory"][7])
    torch.testing.assert_close(bootstrap, out["values"][7])


def test_predict_carries_state_and_clips(policy):
    obs = frames(2, seed=5).numpy()
    a0, state = policy.predict(obs[0], deterministic=True)
    assert a0.shape == (6,) and np.all(np.abs(a0) <= 1.0)
    a1, state = policy.predict(obs[1][None], state, episode_start=[False], deterministic=True)
    a1_fresh, _ = policy.predict(obs[1][None], episode_start=[True], deterministic=True)
    assert a1.shape == (1, 6) and not np.allclose(a1, a1_fresh)
    with pytest.raises(NotImplementedError, match="latent state"):
        policy.get_distribution(torch.as_tensor(obs))


# --------------------------------------------------------------------------------------------- checkpoints


def test_from_pretrained_checkpoint_files_and_save_load_exact(checkpoints, agent, tmp_path):
    wm_path, behaviour_path = checkpoints
    wm, ac = agent
    rng_before = torch.get_rng_state()
    GenRLActorCriticPolicy.load_sources(wm, behaviour_path)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the checkpoint's saved RNG is not imposed on the caller
    policy = GenRLActorCriticPolicy.from_pretrained(wm_path, behaviour_path)
    assert all(torch.equal(v, wm.state_dict()[k]) for k, v in policy.world_model.state_dict().items())
    assert all(torch.equal(v, ac.actor.state_dict()[k]) for k, v in policy.actor.state_dict().items())
    assert policy.observation_space == OBS and policy.action_space.shape == (6,)
    with torch.no_grad():
        for p in policy.value_net.parameters():
            p.normal_()  # a trained value head must survive the round trip too
    directory = policy.save_pretrained(tmp_path / "policy")
    config = json.loads((directory / "config.json").read_text())
    assert config["format"] == "vpt_gym.sb3.genrl_policy" and config["action_dim"] == 6
    loaded = GenRLActorCriticPolicy.load_pretrained(directory)
    original, restored = policy.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    assert loaded.architecture() == policy.architecture()


def test_corrupt_or_foreign_checkpoints_raise(policy, tmp_path):
    directory = policy.save_pretrained(tmp_path / "p")
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        GenRLActorCriticPolicy.load_pretrained(directory)
    (directory / "config.json").write_text(json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(CheckpointError, match="something-else"):
        GenRLActorCriticPolicy.load_pretrained(directory)
    other_wm, other_ac = tiny_genrl_agent(action_dim=2)
    with pytest.raises(ValueError, match="world model takes 2-d actions"):
        GenRLActorCriticPolicy.from_pretrained(other_wm, other_ac, OBS, ACT)


def test_bad_spaces_and_inputs_raise(policy):
    with pytest.raises(ValueError, match=r"Box\(-1, 1"):
        GenRLActorCriticPolicy(OBS, gym.spaces.Box(-2.0, 2.0, (6,)), lambda _: 0.0)
    with pytest.raises(ValueError, match=r"Box\(-1, 1"):
        GenRLActorCriticPolicy(OBS, gym.spaces.Discrete(3), lambda _: 0.0)
    with pytest.raises(ValueError, match="64, 64, 3"):
        GenRLActorCriticPolicy(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), ACT, lambda _: 0.0)
    with pytest.raises(ValueError, match="chunk_len must be a positive int"):
        GenRLActorCriticPolicy(OBS, ACT, lambda _: 0.0, chunk_len=0)
    with pytest.raises(TypeError, match="net_arch"):
        GenRLActorCriticPolicy(OBS, ACT, lambda _: 0.0, net_arch=[64])
    memory = policy.initial_memory(1)
    with pytest.raises(ValueError, match="uint8"):
        policy.latents(torch.full((1, 64, 64, 3), 0.5), torch.ones(1), memory, 1)
    with pytest.raises(ValueError, match="need their actions"):
        policy.latents(frames(2), torch.ones(2), memory, 1)
    with pytest.raises(ValueError, match=r"actions must be \(2, 6\)"):
        policy.latents(frames(2), torch.ones(2), memory, 1, actions=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="memory holds 1 states for 2 chunks"):
        policy.latents(frames(2), torch.ones(2), memory, 2, actions=torch.zeros(2, 6))


# ----------------------------------------------------------------------------------------------- KLPPO


_OPEN_ENVS: list = []


def walker_pixels(n_envs: int = 2):
    envs = make_vec_env(lambda: gym.make("vpt_gym/walker-stand-v0", render_quality="fast"), n_envs=n_envs, seed=0)
    _OPEN_ENVS.append(envs)
    return envs


@pytest.fixture(autouse=True)
def _close_envs():
    """Close the MuJoCo renderers before interpreter exit (EGL contexts freed at exit print errors)."""
    yield
    while _OPEN_ENVS:
        _OPEN_ENVS.pop().close()


def test_klppo_kl_to_reference_is_zero_at_the_start(checkpoints):
    """One iteration, one epoch, one minibatch: the KL to the reference and PPO's approx-KL are measured before
    the only gradient step, so both are ~0 -- the recomputed chunks reproduce the rollout's distributions.
    With ``train_world_model=True`` that step also reaches the world model (and not the reference's)."""
    wm_path, behaviour_path = checkpoints
    model = KLPPO.from_pretrained(wm_path, walker_pixels(2), behaviour=behaviour_path, n_steps=32, batch_size=64,
                                  n_epochs=1, seed=0, device="cpu",
                                  policy_kwargs={"chunk_len": 16, "train_world_model": True})
    assert isinstance(model.policy, GenRLActorCriticPolicy) and model.policy.chunk_len == 16
    before = {k: v.clone() for k, v in model.policy.world_model.state_dict().items()}
    model.learn(64)
    values = model.logger.name_to_value
    assert values["train/kl_ref"] < 1e-6
    assert abs(values["train/approx_kl"]) < 1e-5
    assert values["train/clip_fraction"] == 0.0
    after = model.policy.world_model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "rssm.")))
    ref = model.ref_policy.world_model.state_dict()
    assert all(torch.equal(before[k], ref[k]) for k in before)


def test_klppo_learn_few_hundred_steps_on_walker_pixels(checkpoints, tmp_path):
    wm_path, behaviour_path = checkpoints
    model = KLPPO.from_pretrained(wm_path, walker_pixels(2), behaviour=behaviour_path, n_steps=64, batch_size=32,
                                  n_epochs=2, learning_rate=1e-3, seed=0, device="cpu",
                                  policy_kwargs={"chunk_len": 16})
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(256)
    assert model.num_timesteps == 256 and model.kl_iteration == 2
    after = model.policy.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("world_model."))  # frozen
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("actor."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("value_net."))
    ref = model.ref_policy.state_dict()
    assert all(torch.equal(before[k], ref[k]) for k in before)  # pi_ref is the starting policy
    kl_logged = model.logger.name_to_value["train/kl_ref"]
    assert np.isfinite(kl_logged) and kl_logged > 0
    # the KL on the last rollout, computed independently from the two policies' chunk distributions
    batch = next(model.rollout_buffer.get(64))
    with torch.no_grad():
        dist, _, _ = model.policy.sequence_distribution(batch.observations, batch.episode_starts, batch.memory,
                                                        batch.n_sequences, actions=batch.actions)
        ref_dist, _, _ = model.ref_policy.sequence_distribution(batch.observations, batch.episode_starts,
                                                                batch.ref_memory, batch.n_sequences,
                                                                actions=batch.actions)
    assert float(distribution_kl(ref_dist, dist).mean()) > 0
    # SB3 zip round trip (policy kwargs are plain JSON) and the safetensors directory both restore the weights
    model.save(tmp_path / "model.zip")
    loaded = KLPPO.load(tmp_path / "model.zip", device="cpu", trust_remote_code=True)  # our own file
    assert all(torch.equal(after[k], v) for k, v in loaded.policy.state_dict().items())
    assert all(torch.equal(ref[k], v) for k, v in loaded.ref_policy.state_dict().items())
    model.policy.save_pretrained(tmp_path / "dir")
    resumed = KLPPO.from_pretrained(tmp_path / "dir", walker_pixels(1), zero_value_head=False, n_steps=32,
                                    batch_size=32, policy_kwargs={"chunk_len": 16}, device="cpu")
    assert all(torch.equal(after[k], v) for k, v in resumed.policy.state_dict().items())


def test_module_docstring_example_runs():
    import doctest

    import agents.sb3.genrl_policy as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
