"""KL-regularised fine-tuning of a BC-pretrained policy on a real dm_control task (state observations).

Run: ``python -m benchmarks.kl_finetune [--task walker-stand] [--seeds 3] [--tiny] [--out DIR]``

The VPT recipe in miniature, on ``vpt_gym/<task>-v0`` with ``obs_type="state"`` (flat float32
observations, dm_control's ground-truth reward, 500 agent steps per episode):

1. **Expert** (``--expert sac``, the default, or ``ppo``): SB3's SAC (or PPO) trained from scratch for
   ``--expert-steps``. **Demonstrations**: ``--demo-episodes`` episodes labelled with the expert's
   deterministic actions, played with Gaussian noise of std ``--demo-noise`` added (noise injection, as in
   DART, so that the data covers the states a noisy student reaches; ``0`` plays the labels themselves).
2. **Pretraining by BC**: a fresh PPO ``MlpPolicy`` (two hidden layers of ``--hidden`` units) regresses the expert's actions with its mean (MSE,
   ``--bc-epochs``); its log-std is then set to ``log(--bc-std)`` (MSE does not fit it). The value head is
   zeroed, as VPT's RL did.
3. **Fine-tuning** from that BC policy with :class:`agents.sb3.KLPPO`, ``--seeds`` seeds per arm, same
   settings, with the KL term (``--kl-coef``, default VPT's 0.2 decayed by 0.9995 per iteration) and without
   (``kl_coef=0``: plain PPO, bit-identical to SB3's PPO update).

Every ``--eval-every`` steps: the mean GT return of ``--eval-episodes`` deterministic episodes, and the mean
``KL(pi_ref || pi)`` on the demonstration states. The table gives both over training (mean and standard
deviation over seeds); the summary gives per arm the return at the end, the lowest return seen during
fine-tuning and the mean over all evaluations, each as a ratio to the BC start measured in the same run.
``kl_finetune.json`` holds every curve and ``kl_finetune.png`` plots them.

Resumable: the expert's weights (``expert.safetensors``), the demonstrations (``demos.npz``, with the expert's
returns) and every finished fine-tuning run (``runs/<arm>-seed<k>.json``) are written atomically into ``--out``,
each with the settings it was made with; a rerun with the same ``--out`` and
settings skips them (delete the directory to start over). ``--tiny`` runs a seconds-long configuration that
only checks the pipeline (its numbers mean nothing).

Result of the defaults (issue #8's proof; ``python -m benchmarks.kl_finetune --out /tmp/kl_run3``, 1749 s on
this 2-core CPU with another 1-thread job on the other core, 2026-11-21): SAC expert 978.8, noisy demonstrations
952.2, BC start 879.7. After 100,352 fine-tuning steps (mean +- std over 3 seeds): **953.2 +- 10.6 with the KL
term vs 922.7 +- 9.8 without**; mean return over all evaluations 938.0 (1.07x the BC start) vs 889.9 (1.01x);
lowest evaluation (per seed, averaged) 866.6 vs 736.1 (one plain-PPO seed fell to 563 at 61k steps); ``KL(pi_ref || pi)`` at the end
0.099 vs 4.20. The same run with 10 noise-free demonstrations and a 64-unit student (BC start 326, far below
the expert) showed the opposite: there the KL term held the policy near a poor start and plain PPO did better.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from vpt_gym.atomic_file import write_atomic  # noqa: E402
from benchmarks.dataclass_flags import add_flags, overrides  # noqa: E402

ARMS: dict[str, str] = {"kl": "KL to the BC policy", "no_kl": "no KL (plain PPO)"}


@dataclass
class Config:
    """One benchmark configuration (the module docstring describes the stages).

    :param task: dm_control task, ``vpt_gym/<task>-v0`` with state observations.
    :param expert: algorithm of the expert, ``sac`` or ``ppo``. :param expert_steps: expert training steps.
    :param demo_episodes: demonstration episodes. :param demo_noise: std of the Gaussian noise added to the
        expert's actions while recording (0: none).
    :param bc_epochs: BC epochs. :param bc_std: action std of the BC policy after pretraining.
    :param hidden: units of each of the two hidden layers of the student.
    :param finetune_steps: env steps of fine-tuning per run. :param seeds: fine-tuning seeds per arm.
    :param eval_every: env steps between evaluations. :param eval_episodes: episodes per evaluation.
    :param kl_coef: initial coefficient of the KL term. :param kl_decay: its decay per iteration.
    :param n_envs: parallel envs. :param n_steps: PPO rollout steps per env. :param batch_size: PPO minibatch.
    :param learning_rate: PPO learning rate. :param seed: base seed.
    """

    task: str = "walker-stand"
    expert: str = "sac"
    expert_steps: int = 60_000
    demo_episodes: int = 100
    demo_noise: float = 0.3
    bc_epochs: int = 200
    bc_std: float = 0.3
    hidden: int = 256
    finetune_steps: int = 100_000
    seeds: int = 3
    eval_every: int = 10_000
    eval_episodes: int = 5
    kl_coef: float = 0.2
    kl_decay: float = 0.9995
    n_envs: int = 4
    n_steps: int = 512
    batch_size: int = 256
    learning_rate: float = 3e-4
    seed: int = 0


TINY = dict(expert_steps=1_024, demo_episodes=1, bc_epochs=5, finetune_steps=2_048, eval_every=1_024,
            eval_episodes=1, n_envs=2, n_steps=256, batch_size=256, seeds=2)  # fmt: skip


def make_env(task: str, seed: int) -> gym.Env:
    import vpt_gym  # noqa: F401  (registers the envs)

    env = gym.make(f"vpt_gym/{task}-v0", obs_type="state")
    env.reset(seed=seed)
    return env


def evaluate(policy: Any, task: str, episodes: int, seed: int) -> float:
    """Mean GT return of deterministic episodes."""
    env = make_env(task, seed)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def collect_demos(expert: Any, task: str, episodes: int, seed: int,
                  noise: float = 0.0) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
    """States, the expert's deterministic actions (clipped to [-1, 1]) as labels, and the mean return.

    With ``noise > 0`` the env is driven by ``clip(label + N(0, noise^2))`` (noise injection, as in DART):
    the demonstrations then also cover the states a noisy student drifts into, labelled with the
    expert's correction; the return is that of the noisy demonstrator.
    """
    env = make_env(task, seed)
    rng = np.random.default_rng(seed + 1000)
    states, actions, returns = [], [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + 1000 + i)
        done, total = False, 0.0
        while not done:
            action, _ = expert.predict(obs, deterministic=True)
            action = np.clip(action, -1.0, 1.0)
            states.append(obs)
            actions.append(action)
            if noise > 0:
                action = np.clip(action + rng.normal(0.0, noise, size=action.shape), -1.0, 1.0).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return np.asarray(states, np.float32), np.asarray(actions, np.float32), float(np.mean(returns))


def behaviour_clone(policy: Any, states: np.ndarray, actions: np.ndarray, epochs: int, std: float, seed: int) -> None:
    """Fit the policy's Gaussian mean to the expert's actions (MSE, minibatches of 256), then set its std."""
    g = th.Generator().manual_seed(seed)
    obs, act = th.as_tensor(states), th.as_tensor(actions)
    params = [*policy.mlp_extractor.policy_net.parameters(), *policy.action_net.parameters()]
    if not policy.share_features_extractor:
        params += list(policy.pi_features_extractor.parameters())
    optimizer = th.optim.Adam(params, lr=1e-3)
    policy.set_training_mode(True)
    for _ in range(epochs):
        for idx in th.randperm(len(obs), generator=g).split(256):
            mean = policy.get_distribution(obs[idx]).distribution.mean
            loss = th.nn.functional.mse_loss(mean, act[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with th.no_grad():
        policy.log_std.fill_(float(np.log(std)))
        for p in policy.value_net.parameters():
            p.zero_()
    policy.set_training_mode(False)


EXPERT_FIELDS = ("task", "expert", "expert_steps", "seed")
DEMO_FIELDS = (*EXPERT_FIELDS, "demo_episodes", "demo_noise")


def _settings(cfg: Config, fields: tuple[str, ...]) -> str:
    return json.dumps({k: getattr(cfg, k) for k in fields}, sort_keys=True)


def _new_expert(cfg: Config) -> Any:
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env

    if cfg.expert == "sac":
        return SAC("MlpPolicy", make_env(cfg.task, cfg.seed), learning_starts=min(5_000, cfg.expert_steps // 2),
                   seed=cfg.seed, device="cpu")  # fmt: skip
    if cfg.expert == "ppo":
        env = make_vec_env(lambda: make_env(cfg.task, cfg.seed), n_envs=cfg.n_envs, seed=cfg.seed)
        return PPO("MlpPolicy", env, n_steps=cfg.n_steps, batch_size=cfg.batch_size, seed=cfg.seed, device="cpu")
    raise ValueError(f"expert must be 'sac' or 'ppo', got {cfg.expert!r}")


def train_expert(cfg: Config, out: Path | None = None) -> Any:
    """SB3 SAC or PPO trained from scratch on the task (the demonstrator).

    With ``out``, its policy weights are kept in ``out/expert.safetensors`` (with its settings,
    :data:`EXPERT_FIELDS`, in the file's metadata) and read back instead of retraining.
    """
    from safetensors.torch import load_file, safe_open, save_file

    model = _new_expert(cfg)
    path = None if out is None else out / "expert.safetensors"
    settings = _settings(cfg, EXPERT_FIELDS)
    if path is not None and path.is_file():
        with safe_open(str(path), "pt") as f:
            stored = (f.metadata() or {}).get("settings")
        if stored != settings:
            raise ValueError(f"{path} holds an expert made with other settings ({stored}); expected {settings}")
        model.policy.load_state_dict(load_file(str(path)), strict=True)
        return model
    model.learn(cfg.expert_steps, progress_bar=True)
    if path is not None:
        weights = {k: v.contiguous() for k, v in model.policy.state_dict().items()}
        write_atomic(path, lambda tmp: save_file(weights, str(tmp), metadata={"settings": settings}))
    return model


def demonstrations(cfg: Config, out: Path) -> dict[str, Any]:
    """The expert's demonstrations, from ``out/demos.npz`` if an earlier run with the same demonstration
    settings (:data:`DEMO_FIELDS`, stored in the file) wrote them."""
    path = out / "demos.npz"
    settings = _settings(cfg, DEMO_FIELDS)
    if not path.is_file():
        expert = train_expert(cfg, out)
        states, actions, demo_return = collect_demos(expert, cfg.task, cfg.demo_episodes, cfg.seed, cfg.demo_noise)
        expert_return = evaluate(expert.policy, cfg.task, cfg.eval_episodes, cfg.seed + 10_000)
        arrays = dict(states=states, actions=actions, expert_return=np.float64(expert_return),
                      expert_demo_return=np.float64(demo_return), settings=np.str_(settings))  # fmt: skip
        write_atomic(path, lambda tmp: np.savez(tmp, **arrays))
    with np.load(path, allow_pickle=False) as data:
        demos = {k: data[k] for k in data.files}
    if str(demos.get("settings", "")) != settings:
        raise ValueError(f"{path} was made with other demonstration settings ({demos.get('settings')}); "
                         f"expected {settings}. Delete it or use another --out")  # fmt: skip
    return demos


def _policy_kwargs(cfg: Config) -> dict[str, Any]:
    """The student's (BC and fine-tuning) MLP: two hidden layers of ``cfg.hidden`` units for both heads."""
    return {"net_arch": {"pi": [cfg.hidden] * 2, "vf": [cfg.hidden] * 2}}


def bc_policy_state(cfg: Config, states: np.ndarray, actions: np.ndarray) -> dict[str, th.Tensor]:
    """The BC-pretrained policy's weights (deterministic given the demonstrations and ``cfg.seed``)."""
    from stable_baselines3 import PPO

    env = make_env(cfg.task, cfg.seed)
    th.manual_seed(cfg.seed + 1)
    student = PPO("MlpPolicy", env, seed=cfg.seed + 1, device="cpu", policy_kwargs=_policy_kwargs(cfg)).policy
    behaviour_clone(student, states, actions, cfg.bc_epochs, cfg.bc_std, cfg.seed)
    env.close()
    return {k: v.detach().clone() for k, v in student.state_dict().items()}


def finetune(cfg: Config, bc_state: dict[str, th.Tensor], demo_states: np.ndarray, kl_coef: float,
             seed: int) -> list[dict]:  # fmt: skip
    """Fine-tune from the BC weights; returns the curve (timesteps, GT return, KL to the reference)."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from agents.sb3 import KLPPO, distribution_kl

    env = make_vec_env(lambda: make_env(cfg.task, seed), n_envs=cfg.n_envs, seed=seed)
    model = KLPPO("MlpPolicy", env, kl_coef=kl_coef, kl_decay=cfg.kl_decay, n_steps=cfg.n_steps,
                  policy_kwargs=_policy_kwargs(cfg),
                  batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, seed=seed, device="cpu")
    model.policy.load_state_dict(bc_state)
    model.reset_reference()
    obs = th.as_tensor(demo_states)
    curve: list[dict] = []

    def record() -> None:
        with th.no_grad():
            kl = distribution_kl(model.ref_policy.get_distribution(obs), model.policy.get_distribution(obs))
        curve.append({"timesteps": int(model.num_timesteps),
                      "return": evaluate(model.policy, cfg.task, cfg.eval_episodes, cfg.seed + 10_000),
                      "kl_to_ref": float(kl.mean())})

    class EvalEvery(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_start(self) -> None:  # after the previous rollout's update
            if self.num_timesteps - curve[-1]["timesteps"] >= cfg.eval_every:
                record()

    record()
    model.learn(cfg.finetune_steps, callback=EvalEvery())
    if curve[-1]["timesteps"] != model.num_timesteps:
        record()
    env.close()
    return curve


def summarise(curves: list[list[dict]], bc_return: float) -> dict[str, float]:
    """Per arm, over seeds: mean final / lowest / average return (and ratios to the BC start), final KL."""
    final = [c[-1]["return"] for c in curves]
    lowest = [min(p["return"] for p in c[1:]) for c in curves]
    average = [float(np.mean([p["return"] for p in c[1:]])) for c in curves]
    out = {"final_return": float(np.mean(final)), "final_return_std": float(np.std(final)),
           "lowest_return": float(np.mean(lowest)), "average_return": float(np.mean(average)),
           "final_kl_to_ref": float(np.mean([c[-1]["kl_to_ref"] for c in curves]))}  # fmt: skip
    for key in ("final_return", "lowest_return", "average_return"):
        out[key.replace("return", "vs_bc")] = out[key] / bc_return if bc_return else float("nan")
    return out


def run(cfg: Config, out: Path) -> dict[str, Any]:
    """All stages (each one's result kept in ``out``, see the module docstring); returns the result dict."""
    from tqdm.auto import tqdm

    th.set_num_threads(1)  # small MLPs: one thread is faster, and fair to whatever else runs
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    settings = out / "config.json"
    if settings.is_file() and json.loads(settings.read_text()) != asdict(cfg):
        raise ValueError(f"{out} holds a run with other settings ({settings}); use another --out or delete it")
    write_atomic(settings, lambda tmp: tmp.write_text(json.dumps(asdict(cfg), indent=2)))
    demos = demonstrations(cfg, out)
    states = demos["states"]
    bc_state = bc_policy_state(cfg, states, demos["actions"])

    coefs = {"kl": cfg.kl_coef, "no_kl": 0.0}
    curves: dict[str, list[list[dict]]] = {arm: [] for arm in ARMS}
    jobs = [(arm, k) for k in range(cfg.seeds) for arm in ARMS]
    for arm, k in tqdm(jobs, desc="fine-tuning runs", unit="run"):
        path = out / "runs" / f"{arm}-seed{k}.json"
        if not path.is_file():
            curve = finetune(cfg, bc_state, states, coefs[arm], cfg.seed + 100 * (k + 1))
            write_atomic(path, lambda tmp, c=curve: tmp.write_text(json.dumps(c)))
        curves[arm].append(json.loads(path.read_text()))
    bc_return = curves["kl"][0][0]["return"]
    result = {"config": asdict(cfg), "observations": "state", "arms": ARMS,
              "expert_return": float(demos["expert_return"]), "expert_demo_return": float(demos["expert_demo_return"]),
              "demo_steps": len(states), "bc_return": bc_return, "curves": curves,
              "summary": {arm: summarise(curves[arm], bc_return) for arm in ARMS},
              "seconds": time.perf_counter() - started}  # fmt: skip
    write_atomic(out / "kl_finetune.json", lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    plot(result, out / "kl_finetune.png")
    return result


def _mean_curve(curves: list[list[dict]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = min(len(c) for c in curves)
    steps = np.array([p["timesteps"] for p in curves[0][:n]])
    values = np.array([[c[i][key] for i in range(n)] for c in curves])
    return steps, values.mean(axis=0), values.std(axis=0)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_kl) = plt.subplots(1, 2, figsize=(10, 3.8))
    for arm, label in result["arms"].items():
        for ax, key in ((ax_r, "return"), (ax_kl, "kl_to_ref")):
            steps, mean, std = _mean_curve(result["curves"][arm], key)
            ax.plot(steps, mean, marker="o", label=label)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax_r.axhline(result["expert_return"], color="grey", ls="--", label=f"expert ({result['config']['expert']})")
    ax_r.axhline(result["bc_return"], color="grey", ls=":", label="BC start")
    cfg = result["config"]
    ax_r.set(xlabel="fine-tuning env steps", ylabel="GT return (deterministic)",
             title=f"{cfg['task']} (state obs), mean +- std over {cfg['seeds']} seeds")  # fmt: skip
    ax_kl.set(xlabel="fine-tuning env steps", ylabel="KL(pi_ref || pi) on demo states", title="distance to BC policy")
    ax_kl.set_yscale("symlog", linthresh=1e-3)
    ax_r.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_table(result: dict[str, Any]) -> None:
    cfg, bc = result["config"], result["bc_return"]
    print(f"task {cfg['task']} (state observations); expert ({cfg['expert']}) {result['expert_return']:.1f}, "
          f"BC start {bc:.1f} ({result['demo_steps']} demo steps); {cfg['seeds']} seeds per arm; "
          f"{result['seconds']:.0f} s")  # fmt: skip
    arms = list(result["arms"])
    header = f"{'steps':>8} | " + " | ".join(f"{result['arms'][a][:22]:>22}: return (std)  KL_ref" for a in arms)
    print(header)
    print("-" * len(header))
    columns = {a: (_mean_curve(result["curves"][a], "return"), _mean_curve(result["curves"][a], "kl_to_ref")) for a in arms}
    steps = columns[arms[0]][0][0]
    for i, step in enumerate(steps):
        cells = [f"{columns[a][0][1][i]:>30.1f} ({columns[a][0][2][i]:5.1f}) {columns[a][1][1][i]:7.4f}" for a in arms]
        print(f"{step:>8} | " + " | ".join(cells))
    print()
    print(f"{'arm':>22} | final return (vs BC) | lowest return (vs BC) | mean return (vs BC) | final KL_ref")
    for a in arms:
        s = result["summary"][a]
        print(f"{result['arms'][a][:22]:>22} | {s['final_return']:7.1f} ({s['final_vs_bc']:.2f}) +-{s['final_return_std']:5.1f}"
              f" | {s['lowest_return']:12.1f} ({s['lowest_vs_bc']:.2f}) | {s['average_return']:10.1f} ({s['average_vs_bc']:.2f})"
              f" | {s['final_kl_to_ref']:.4f}")  # fmt: skip


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_flags(parser, Config())
    parser.add_argument("--tiny", action="store_true", help="seconds-long pipeline check (numbers meaningless)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/kl_finetune"),
                        help="output and resume directory (default bench-out/kl_finetune)")
    args = parser.parse_args(argv)
    values = dict(TINY) if args.tiny else {}
    values.update(overrides(args, Config()))
    result = run(Config(**values), args.out)
    print_table(result)
    print(f"wrote {args.out / 'kl_finetune.json'} and {args.out / 'kl_finetune.png'}")


def main(argv: list[str] | None = None) -> int:
    """The command line: a bad flag value or output path is one line on stderr and exit status 2."""
    from vpt_gym.user_errors import run_command

    return run_command("python -m benchmarks.kl_finetune", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
