"""A pickle-free directory for a whole :class:`~agents.sb3.kl_ppo.KLPPO` fine-tuning run (safetensors + JSON).

SB3's ``.zip`` cloudpickles the policy class, spaces and schedules, so loading one can run code from the file.
:func:`save_run` writes instead (every file atomically, the manifest last):

- ``policy.safetensors`` / ``ref_policy.safetensors``: the policy being trained and the frozen reference;
- ``optimizer.safetensors``: the policy optimizer's tensors (Adam moments, step counts);
- ``rng.safetensors``: torch's and numpy's global RNG states (restored only on request);
- ``klppo.json``: the manifest -- format and version, the policy by name (an allow-list: SB3's
  ``MlpPolicy``/``CnnPolicy``/``MultiInputPolicy``, ``VPTActorCriticPolicy``, ``GenRLActorCriticPolicy``) and its
  keyword arguments as JSON (classes such as ``activation_fn`` by allow-listed name), every PPO/KL setting, the
  KL schedule state (``kl_iteration``), counters (``num_timesteps``, ``_n_updates``), the observation and action
  spaces (checked against the env on load), the optimizer's JSON part, and each file's size and sha256.

:func:`load_run` (``KLPPO.from_pretrained(directory, env)``) checks the manifest and every file's size and
sha256, builds the network the manifest describes under a budget of what ``policy.safetensors``'s header holds
(a tensor beyond it is refused before it is allocated), then restores weights, reference, optimizer (moment
shapes checked) and schedule exactly, with strict key and shape checks. The env is not saved: training continues with a
reset of the env you pass, as after SB3's ``load``. With ``restore_rng=True`` the global torch/numpy/random
states are those of the moment of saving, so a run saved at an episode boundary continues bit for bit.

Callables (a ``kl_coef`` schedule, a learning-rate or clip-range schedule) cannot be stored without pickle:
the manifest records that they were callables, and :func:`load_run` asks for them again.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule

from agents.checkpoints import (
    MAX_EXTRA_NUMEL,
    CheckpointError,
    PathLike,
    bounded_repr,
    build_budget,
    describe_error,
    load_json,
    load_safetensors,
    load_state_dict_strict,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_safetensors_header,
    save_json,
    save_safetensors,
    sha256_file,
)
from vpt_gym.atomic_file import write_atomic

if TYPE_CHECKING:
    from agents.sb3.kl_ppo import KLPPO

FORMAT = "vpt_gym.klppo_run"
VERSION = 1
MANIFEST = "klppo.json"
POLICY, REF_POLICY, OPTIMIZER, RNG = "policy.safetensors", "ref_policy.safetensors", "optimizer.safetensors", \
    "rng.safetensors"

#: KLPPO/PPO constructor settings stored in the manifest (floats, ints, bools, strings or None).
SETTINGS = (
    "learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "clip_range_vf",
    "normalize_advantage", "ent_coef", "vf_coef", "max_grad_norm", "use_sde", "sde_sample_freq", "target_kl",
    "stats_window_size", "tensorboard_log", "verbose", "kl_coef", "kl_decay", "kl_direction",
)
#: Settings whose attribute has another name.
_ATTRIBUTES = {"stats_window_size": "_stats_window_size"}
#: Settings that may be callables (stored as ``{"callable": true}`` and passed again on load).
CALLABLE_SETTINGS = ("learning_rate", "clip_range", "clip_range_vf", "kl_coef")
#: Counters restored on load.
COUNTERS = ("num_timesteps", "_n_updates", "kl_iteration", "_episode_num")


def _policy_classes() -> dict[str, type]:
    from stable_baselines3.common.policies import (
        ActorCriticCnnPolicy,
        ActorCriticPolicy,
        MultiInputActorCriticPolicy,
    )

    from agents.sb3.genrl_policy import GenRLActorCriticPolicy
    from agents.sb3.vpt_policy import VPTActorCriticPolicy

    return {
        "MlpPolicy": ActorCriticPolicy,
        "CnnPolicy": ActorCriticCnnPolicy,
        "MultiInputPolicy": MultiInputActorCriticPolicy,
        "VPTActorCriticPolicy": VPTActorCriticPolicy,
        "GenRLActorCriticPolicy": GenRLActorCriticPolicy,
    }


def _kwarg_classes() -> dict[str, type]:
    """Classes a policy's kwargs may name (``activation_fn``, ``optimizer_class``, ``features_extractor_class``)."""
    from stable_baselines3.common import torch_layers

    classes: dict[str, type] = {}
    for name in ("Tanh", "ReLU", "ELU", "LeakyReLU", "SiLU", "GELU", "Sigmoid", "Softplus", "Mish", "Identity"):
        classes[f"torch.nn.{name}"] = getattr(th.nn, name)
    for name in ("Adam", "AdamW", "SGD", "RMSprop"):
        classes[f"torch.optim.{name}"] = getattr(th.optim, name)
    for name in ("FlattenExtractor", "NatureCNN", "CombinedExtractor"):
        classes[f"stable_baselines3.common.torch_layers.{name}"] = getattr(torch_layers, name)
    return classes


# ----------------------------------------------------------------------------------------------- encoding


def _encode_kwargs(value: Any, where: str) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode_kwargs(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode_kwargs(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, type):
        for name, cls in _kwarg_classes().items():
            if cls is value:
                return {"__class__": name}
    raise ValueError(
        f"policy_kwargs {where} = {bounded_repr(value)} cannot be stored without pickle; use JSON values and "
        f"classes among {sorted(_kwarg_classes())}, or model.save() (an SB3 zip, loaded with trust_remote_code=True)"
    )


def _decode_kwargs(value: Any, source: str) -> Any:
    if isinstance(value, list):
        return [_decode_kwargs(v, source) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__class__"}:
            classes = _kwarg_classes()
            if value["__class__"] not in classes:
                raise CheckpointError(f"{source}: policy_kwargs names class {bounded_repr(value['__class__'])}, "
                                      f"not one of {sorted(classes)}")
            return classes[value["__class__"]]
        return {k: _decode_kwargs(v, source) for k, v in value.items()}
    return value


def _plain_setting(value: Any) -> Any:
    """A setting's JSON form: schedules of a constant unwrap to the constant; other callables are marked."""
    if isinstance(value, FloatSchedule):
        value = value.value_schedule
    if isinstance(value, ConstantSchedule):
        value = value.val
    if callable(value):
        return {"callable": True}
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    return value


def encode_space(space: spaces.Space) -> dict[str, Any]:
    """A JSON description of a Box/Discrete/MultiDiscrete/MultiBinary/Dict space."""
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": space.low.tolist(), "high": space.high.tolist()}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: encode_space(v) for k, v in space.spaces.items()}}
    raise ValueError(f"cannot describe a {type(space).__name__} space in JSON")


def decode_space(d: Any, source: str) -> spaces.Space:
    """Inverse of :func:`encode_space` (a malformed description raises :class:`CheckpointError`)."""
    try:
        kind = d["type"]
        if kind == "Box":
            dtype = np.dtype(d["dtype"])
            if dtype.kind not in "fiu":
                raise ValueError(f"unsupported Box dtype {dtype}")
            shape = tuple(int(n) for n in d["shape"])
            return spaces.Box(np.asarray(d["low"], dtype).reshape(shape), np.asarray(d["high"], dtype).reshape(shape),
                              shape, dtype)
        if kind == "Discrete":
            return spaces.Discrete(int(d["n"]), start=int(d["start"]))
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(np.asarray(d["nvec"], np.int64), start=np.asarray(d["start"], np.int64))
        if kind == "MultiBinary":
            return spaces.MultiBinary(d["n"])
        if kind == "Dict":
            return spaces.Dict({str(k): decode_space(v, source) for k, v in d["spaces"].items()})
        raise ValueError(f"unknown space type {bounded_repr(kind)}")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{source}: malformed space description {bounded_repr(d)} ({describe_error(e)})") from e


# ---------------------------------------------------------------------------------------------- saving


def _rng_tensors() -> tuple[dict[str, th.Tensor], dict[str, Any]]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    tensors = {"torch": th.get_rng_state(), "numpy_keys": th.from_numpy(np.asarray(keys, np.int64)),
               "python_state": th.tensor(py_state, dtype=th.int64)}
    plain = {"numpy": {"name": name, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": {"version": py_version, "gauss_next": py_gauss}}
    return tensors, plain


def _shared_free(state: dict[str, th.Tensor]) -> dict[str, th.Tensor]:
    """A state dict without tensors sharing memory (safetensors refuses them): repeated storages are copied."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset())
        out[k] = v.detach().clone() if key in seen else v.detach()
        seen.add(key)
    return out


def save_run(model: "KLPPO", directory: PathLike) -> Path:
    """Write ``model``'s whole run to ``directory`` (see the module docstring); returns the directory.

    :raises ValueError: a policy class or policy kwarg that cannot be named without pickle.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = {cls: name for name, cls in _policy_classes().items()}
    if model.policy_class not in names:
        raise ValueError(f"policy class {model.policy_class!r} cannot be stored without pickle; supported: "
                         f"{sorted(names.values())}")
    from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer

    from agents.sb3.sequence_buffer import SequenceRolloutBuffer

    if model.rollout_buffer_kwargs or model.rollout_buffer_class not in (
        None, RolloutBuffer, DictRolloutBuffer, SequenceRolloutBuffer
    ):
        raise ValueError("a custom rollout buffer (rollout_buffer_class/kwargs) cannot be stored in a run directory")
    opt_tensors, opt_plain = optimizer_to_tensors(model.policy.optimizer)
    rng_tensors, rng_plain = _rng_tensors()
    tensor_files = {
        POLICY: _shared_free(model.policy.state_dict()),
        REF_POLICY: _shared_free(model.ref_policy.state_dict()),
        OPTIMIZER: {k: v.detach() for k, v in opt_tensors.items()} or {"__empty__": th.zeros(0)},
        RNG: rng_tensors,
    }
    files = {}
    for name, tensors in tensor_files.items():
        write_atomic(directory / name, lambda tmp, t=tensors: save_safetensors(tmp, t, {"format": FORMAT}),
                     durable=True)
        files[name] = {"bytes": (directory / name).stat().st_size, "sha256": sha256_file(directory / name)}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "policy": names[model.policy_class],
        "policy_kwargs": _encode_kwargs(dict(model.policy_kwargs), "policy_kwargs"),
        "settings": {k: _plain_setting(getattr(model, _ATTRIBUTES.get(k, k))) for k in SETTINGS},
        "seed": model.seed,
        "counters": {k: int(getattr(model, k)) for k in COUNTERS},
        "observation_space": encode_space(model.observation_space),
        "action_space": encode_space(model.action_space),
        "optimizer": opt_plain,
        "rng": rng_plain,
        "files": files,
    }
    write_atomic(directory / MANIFEST, lambda tmp: save_json(tmp, manifest), durable=True)
    return directory


# --------------------------------------------------------------------------------------------- loading


def is_run_dir(path: Any) -> bool:
    """Whether ``path`` is a directory written by :func:`save_run`."""
    try:
        manifest = Path(path) / MANIFEST
        return manifest.is_file() and load_json(manifest).get("format") == FORMAT
    except (CheckpointError, TypeError, OSError):
        return False


def _check_optimizer_shapes(optimizer: th.optim.Optimizer, source: str) -> None:
    """Every per-parameter state tensor that is not a scalar must have its parameter's shape."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, value in optimizer.state.get(p, {}).items():
                if th.is_tensor(value) and value.dim() > 0 and value.shape != p.shape:
                    raise CheckpointError(f"{source}: optimizer state {name} has shape {tuple(value.shape)}, "
                                          f"its parameter {tuple(p.shape)}")


def load_run(
    cls: type["KLPPO"], directory: PathLike, env: Any, restore_rng: bool = False, device: Any = "auto",
    **overrides: Any,
) -> "KLPPO":
    """Rebuild a :class:`KLPPO` from :func:`save_run`'s directory (see the module docstring).

    :param env: the env to continue on (its spaces must equal the saved ones).
    :param restore_rng: set torch's, numpy's and ``random``'s global RNG to their saved states.
    :param device: where to put the policy.
    :param overrides: settings to change (``verbose``, ``tensorboard_log``...), and the callables the run used.
    :raises CheckpointError: a foreign, tampered or inconsistent directory, or spaces that differ from env's.
    """
    directory = Path(directory)
    source = str(directory)
    manifest = load_json(directory / MANIFEST)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CheckpointError(f"{source}: not a {FORMAT!r} v{VERSION} directory (format "
                              f"{bounded_repr(manifest.get('format'))} v{bounded_repr(manifest.get('version'))})")
    try:
        files, settings, counters = dict(manifest["files"]), dict(manifest["settings"]), dict(manifest["counters"])
        policy_name, policy_kwargs = manifest["policy"], _decode_kwargs(dict(manifest["policy_kwargs"]), source)
        opt_plain, rng_plain = dict(manifest["optimizer"]), dict(manifest["rng"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source}/{MANIFEST} is incomplete ({describe_error(e)})") from e
    classes = _policy_classes()
    if policy_name not in classes:
        raise CheckpointError(f"{source}: policy {bounded_repr(policy_name)} is not one of {sorted(classes)}")
    for name in (POLICY, REF_POLICY, OPTIMIZER, RNG):
        entry = files.get(name)
        if not isinstance(entry, dict) or not (directory / name).is_file():
            raise CheckpointError(f"{source}: {name} is missing")
        if (directory / name).stat().st_size != entry.get("bytes") or sha256_file(directory / name) != entry.get(
            "sha256"
        ):
            raise CheckpointError(f"{source}: {name} does not match the manifest (size or sha256): a torn or "
                                  "tampered save")
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise TypeError(f"from_pretrained on a run directory does not take {unknown}; settings are {list(SETTINGS)}")
    kwargs = {k: v for k, v in settings.items() if k in SETTINGS}
    for key in CALLABLE_SETTINGS:
        if kwargs.get(key) == {"callable": True} and key not in overrides:
            raise CheckpointError(f"{source}: the run used a callable {key}, which a run directory cannot store "
                                  f"(no pickle): pass {key}=... to from_pretrained")
    kwargs.update(overrides)
    for key in set(kwargs) - set(SETTINGS):
        kwargs.pop(key)
    observation_space = decode_space(manifest.get("observation_space"), source)
    action_space = decode_space(manifest.get("action_space"), source)

    specs, _ = read_safetensors_header(directory / POLICY)
    try:
        model = cls(classes[policy_name], env, policy_kwargs=policy_kwargs, device=device, seed=None,
                    _init_setup_model=False, **kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: its settings are invalid ({describe_error(e)})") from e
    if model.observation_space != observation_space or model.action_space != action_space:
        raise CheckpointError(
            f"{source}: the run's spaces (observations {observation_space}, actions {action_space}) differ from the "
            f"env's ({model.observation_space}, {model.action_space})"
        )
    numel = sum(int(np.prod(s.shape)) for s in specs.values())
    with build_budget(len(specs) + 64, numel + MAX_EXTRA_NUMEL, f"{directory / POLICY}"):
        model._setup_model()  # the policy's sizes come from the manifest: bounded by what its file holds
    load_state_dict_strict(model.policy, load_safetensors(directory / POLICY), str(directory / POLICY))
    load_state_dict_strict(model.ref_policy, load_safetensors(directory / REF_POLICY), str(directory / REF_POLICY))
    opt_tensors = load_safetensors(directory / OPTIMIZER)
    opt_tensors.pop("__empty__", None)
    optimizer_from_tensors(model.policy.optimizer, opt_tensors, opt_plain, str(directory / OPTIMIZER))
    _check_optimizer_shapes(model.policy.optimizer, str(directory / OPTIMIZER))
    try:
        for key in COUNTERS:
            setattr(model, key, int(counters[key]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: counters are incomplete ({describe_error(e)})") from e
    model.seed = manifest.get("seed") if isinstance(manifest.get("seed"), int) else None
    if restore_rng:
        _restore_rng(load_safetensors(directory / RNG), rng_plain, source)
    return model


def _restore_rng(tensors: dict[str, th.Tensor], plain: dict[str, Any], source: str) -> None:
    try:
        numpy_state = (plain["numpy"]["name"], tensors["numpy_keys"].numpy().astype(np.uint32),
                       int(plain["numpy"]["pos"]), int(plain["numpy"]["has_gauss"]),
                       float(plain["numpy"]["cached_gaussian"]))
        python_state = (int(plain["python"]["version"]), tuple(int(v) for v in tensors["python_state"].tolist()),
                        plain["python"]["gauss_next"])
        torch_state = tensors["torch"]
        np.random.RandomState().set_state(numpy_state)  # validate before touching the global states
        random.Random().setstate(python_state)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{source}/{RNG}: malformed RNG state ({describe_error(e)})") from e
    th.set_rng_state(torch_state)
    np.random.set_state(numpy_state)
    random.setstate(python_state)


__all__ = ["FORMAT", "VERSION", "MANIFEST", "decode_space", "encode_space", "is_run_dir", "load_run", "save_run"]
