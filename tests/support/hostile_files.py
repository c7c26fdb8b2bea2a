"""Hostile checkpoint files, built here, and a runner that loads each one in a subprocess under a memory limit.

Each :class:`Case` writes its files into a directory (:meth:`Case.build`, in the test process) and names the
loader call that must refuse them (run by :func:`run_case` in a fresh interpreter). Kinds:

- ``code``: a payload that writes a marker file if anything unpickles it (``os.system("touch ...")`` through
  ``__reduce__``) inside an SB3 zip ``:serialized:`` entry, a ``.pth`` member, a ``.model`` pickle, a
  ``.weights`` torch zip or a GenRL ``.pt``; the marker must not exist afterwards.
- ``control``: the same payloads read the unsafe way (plain ``pickle``, SB3's own load with
  ``trust_remote_code=True``): the marker MUST appear, which proves the payloads are live.
- ``bomb``: a small file that would hang (repr/hash bombs) or allocate gigabytes (bytearray(n), zip members
  that inflate, stride-0 tensors, configs that declare a huge network); it must be refused with a
  ``CheckpointError`` quickly, under ``RLIMIT_AS`` = the interpreter's size + 2.5 GiB.

``python -m tests.support.hostile_files summary`` builds and runs every case and prints the figures (cases,
code executions, hangs, peak memory). ``python -m tests.support.hostile_files run DIR CASE`` runs one case and
prints one JSON line; ``batch DIR CASE...`` runs several in one interpreter (files in ``DIR/CASE``).
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
MARKER = "marker"
#: Address space allowed beyond the interpreter's own after its imports.
HEADROOM = int(2.5 * (1 << 30))
#: Wall-clock limit for one case's subprocess (imports included); a case that exceeds it hangs.
TIMEOUT_S = 120


class _RunCommand:
    """Pickles to ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def payload(directory: Path) -> _RunCommand:
    return _RunCommand(f"touch {directory / MARKER}")


def repr_bomb(depth: int = 64) -> list:
    """A list whose repr has 2**depth elements (shared sublists: its pickle is a few hundred bytes)."""
    x: list = []
    for _ in range(depth):
        x = [x, x]
    return x


def hash_bomb_dict_pickle(depth: int = 64) -> bytes:
    """A pickle of ``{t: 1}`` with ``t`` a tuple of shared tuples whose hash visits 2**depth nodes."""
    t: tuple = ()
    for _ in range(depth):
        t = (t, t)
    body = pickle.dumps(t, protocol=2)[2:-1]
    return b"\x80\x02}" + body + b"K\x01s."


def allocation_pickle(kind: str = "bytearray", size: int = 8 << 30) -> bytes:
    """``builtins.<kind>(size)``: 36 bytes that ask for ``size`` zero bytes."""
    n = size.to_bytes((size.bit_length() + 8) // 8, "little")
    return b"\x80\x02cbuiltins\n" + kind.encode() + b"\n\x8a" + bytes([len(n)]) + n + b"\x85R."


def torch_zip(path: Path, data_pkl: bytes, members: dict[str, bytes] | None = None) -> Path:
    """A torch-zip-format archive ``archive/data.pkl`` (+ ``archive/<name>`` members), stored uncompressed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", b"little")
        for name, raw in (members or {}).items():
            z.writestr(f"archive/{name}", raw)
    return path


def zeros_deflate_bomb() -> tuple[bytes, int, int]:
    """A raw deflate stream of ~2 MB that inflates to ~2.0 GiB of zeros: ``(stream, inflated size, crc32)``."""
    chunk = bytes(1 << 24)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first, steady = c.compress(chunk), c.compress(chunk)
    tail = c.flush()
    one = len(zlib.decompressobj(-15).decompress(first + steady + tail))
    two = len(zlib.decompressobj(-15).decompress(first + steady * 2 + tail))
    repeats = 127
    size = one + (two - one) * (repeats - 1)
    crc, left = 0, size
    while left:
        n = min(left, len(chunk))
        crc = zlib.crc32(chunk[:n], crc)
        left -= n
    return first + steady * repeats + tail, size, crc


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip from raw members ``(name, raw, method, uncompressed size, crc32)`` (method 0 stored, 8 deflate)."""
    out = io.BytesIO()
    central = []
    for name, raw, method, size, crc in members:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(raw), size,
                              len(encoded), 0) + encoded + raw)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(raw),
                                   size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())
    return path


def _stored(name: str, raw: bytes) -> tuple[str, bytes, int, int, int]:
    return (name, raw, 0, len(raw), zlib.crc32(raw))


# ------------------------------------------------------------------------------------------------ builders


def _pendulum_model() -> Any:
    import gymnasium as gym

    from agents.sb3 import KLPPO

    return KLPPO("MlpPolicy", gym.make("Pendulum-v1"), n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")


def _sb3_zip(directory: Path, edit_data: Callable[[dict], None] | None = None,
             replace: dict[str, tuple[str, bytes, int, int, int]] | None = None) -> Path:
    """A real KLPPO zip, with its ``data`` JSON edited and members replaced."""
    real = directory / "real.zip"
    _pendulum_model().save(real)
    with zipfile.ZipFile(real) as z:
        members = {i.filename: z.read(i.filename) for i in z.infolist()}
    data = json.loads(members["data"])
    if edit_data:
        edit_data(data)
    members["data"] = json.dumps(data).encode()
    entries = [_stored(name, raw) for name, raw in members.items() if name not in (replace or {})]
    entries += list((replace or {}).values())
    real.unlink()
    return write_zip(directory / "model.zip", entries)


def build_sb3_serialized_payload(d: Path) -> None:
    def edit(data: dict) -> None:
        data["policy_class"] = {":type:": "<class 'abc.ABCMeta'>",
                                ":serialized:": base64.b64encode(pickle.dumps(payload(d))).decode()}
    _sb3_zip(d, edit)


def build_sb3_pth_payload(d: Path) -> None:
    buf = io.BytesIO()
    torch.save({"evil": payload(d)}, buf)
    _sb3_zip(d, replace={"policy.pth": _stored("policy.pth", buf.getvalue())})


def build_sb3_inflating_member(d: Path) -> None:
    stream, size, crc = zeros_deflate_bomb()
    _sb3_zip(d, replace={"policy.pth": ("policy.pth", stream, 8, size, crc)})


def build_sb3_huge_net_arch(d: Path) -> None:
    def edit(data: dict) -> None:
        data["policy_kwargs"] = {"net_arch": [1 << 15] * 8}  # 8 layers of 32768 units: ~32 GiB of float32
    _sb3_zip(d, edit)


def build_model_payload(d: Path) -> None:
    from agents.vpt.config import POLICY_PRESETS
    from tests.support.vpt_files import write_tampered_model_file

    write_tampered_model_file(d / "net.model", POLICY_PRESETS["tiny"], d / MARKER)


def _model_file(d: Path, edit: Callable[[dict], None]) -> Path:
    from agents.vpt.config import POLICY_PRESETS
    from tests.support.vpt_files import fake_gym3, model_file_dict

    with fake_gym3():
        data = model_file_dict(POLICY_PRESETS["tiny"])
        edit(data)
        (d / "net.model").write_bytes(pickle.dumps(data))
    return d / "net.model"


def build_weights_payload(d: Path) -> None:
    from agents.vpt.config import POLICY_PRESETS
    from agents.vpt.policy import VPTPolicyNet
    from tests.support.vpt_files import write_model_file, write_tampered_weights_file

    write_model_file(d / "net.model", POLICY_PRESETS["tiny"])
    write_tampered_weights_file(d / "net.weights", VPTPolicyNet("tiny"), d / MARKER)


def build_genrl_payload(d: Path) -> None:
    torch_zip(d / "agent.pt", pickle.dumps({"agent": payload(d)}, protocol=2))


def build_model_repr_bomb(d: Path) -> None:
    _model_file(d, lambda data: data["model"]["args"]["net"]["args"].__setitem__("recurrence_type", repr_bomb()))


def build_model_gym3_repr_bomb(d: Path) -> None:
    def edit(data: dict) -> None:
        data["extra_args"]["ac_space"]._n2t = {"buttons": repr_bomb()}  # DictType entries must be gym3 types
    _model_file(d, edit)


def build_model_config_repr_bomb(d: Path) -> None:
    _model_file(d, lambda data: data["model"]["args"]["net"]["args"].__setitem__("img_shape", repr_bomb()))


def build_model_hash_bomb(d: Path) -> None:
    (d / "net.model").write_bytes(hash_bomb_dict_pickle())


def build_model_bytearray_bomb(d: Path) -> None:
    (d / "net.model").write_bytes(allocation_pickle("bytearray"))


def build_genrl_repr_bomb(d: Path) -> None:
    torch_zip(d / "agent.pt", pickle.dumps(repr_bomb(), protocol=2))


def build_genrl_pid_repr_bomb(d: Path) -> None:
    class WithPid(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return ("storage", repr_bomb(), "0", "cpu", 1) if obj == "tensor" else None

    buf = io.BytesIO()
    WithPid(buf, protocol=2).dump({"agent": "tensor"})
    torch_zip(d / "agent.pt", buf.getvalue())


def build_genrl_hash_bomb(d: Path) -> None:
    torch_zip(d / "agent.pt", hash_bomb_dict_pickle())


def build_genrl_bytes_bomb(d: Path) -> None:
    torch_zip(d / "agent.pt", allocation_pickle("bytes"))


def build_genrl_inflating_member(d: Path) -> None:
    """A reference agent whose first storage is a deflated member that inflates to ~2 GiB."""
    from tests.support.genrl_reference import save_reference_checkpoint

    save_reference_checkpoint(d / "real.pt")
    with zipfile.ZipFile(d / "real.pt") as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    stream, size, crc = zeros_deflate_bomb()
    target = next(name for name, _ in members if "/data/" in name)
    entries = [(name, stream, 8, size, crc) if name == target else _stored(name, raw) for name, raw in members]
    write_zip(d / "agent.pt", entries)
    (d / "real.pt").unlink()


def _stride0(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(1).expand(*shape) if shape else torch.zeros(())


def build_genrl_stride0(d: Path) -> None:
    """A reference agent whose ~0.6e9 weights are all stride-0 views of one stored number each (2.4 GB if
    built), saved by ``torch.save`` itself: a few hundred kilobytes."""
    from torch import nn

    from tests.support.genrl_reference import build_agent, reference_modules, reference_shapes

    sizes = dict(cnn_depth=8, deter=4096, hidden=4096, stoch=64, classes=64, reward_units=4096, embed_dim=4096,
                 ac_units=64, ac_layers=2)
    shapes = reference_shapes(**sizes)
    small = reference_shapes(**{**sizes, "deter": 4, "hidden": 4, "reward_units": 4, "embed_dim": 4, "stoch": 2,
                                "classes": 2})
    with reference_modules() as classes:
        agent, _ = build_agent(classes, small, stoch=64, classes_per=64)  # cfg: the big latent split
        for key, shape in shapes.items():
            path, _, name = key.rpartition(".")
            owner = agent.get_submodule(path)
            if name in owner._parameters:
                owner._parameters[name] = nn.Parameter(_stride0(shape), requires_grad=False)
            else:
                owner._buffers[name] = _stride0(shape)
        del agent.wm.model_opt  # its Adam holds the small parameters
        torch.save(agent, d / "agent.pt")


def build_vpt_stride0(d: Path) -> None:
    """A ``.model`` of the 3x policy (~0.5e9 weights) with ``.weights`` that store one number per tensor."""
    from agents.vpt.config import POLICY_PRESETS
    from agents.vpt.policy import VPTPolicyNet
    from tests.support.vpt_files import write_model_file

    write_model_file(d / "net.model", POLICY_PRESETS["3x"])
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in VPTPolicyNet(POLICY_PRESETS["3x"]).state_dict().items()}
    torch.save({k: _stride0(s) for k, s in shapes.items()}, d / "net.weights")


def build_vpt_dir_config(d: Path) -> None:
    from agents.vpt.io import save_pretrained
    from agents.vpt.policy import VPTPolicyNet

    save_pretrained(VPTPolicyNet("tiny"), d / "vpt")
    config = json.loads((d / "vpt" / "config.json").read_text())
    config.update(hidsize=16384, attention_heads=16, n_recurrence_layers=64)
    (d / "vpt" / "config.json").write_text(json.dumps(config))


def _rewrite_metadata(path: Path, edit: Callable[[dict], None]) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["vpt_gym"])
    edit(meta)
    save_file(load_file(str(path)), str(path), metadata={"vpt_gym": json.dumps(meta)})


def build_genrl_checkpoint_config(d: Path) -> None:
    from tests.support.genrl_agent import save_tiny_genrl_agent

    wm, _ = save_tiny_genrl_agent(d)
    _rewrite_metadata(wm, lambda m: m["config"].update(deter=1 << 15, hidden=1 << 15))


def build_genrl_behaviour_config(d: Path) -> None:
    from tests.support.genrl_agent import save_tiny_genrl_agent

    _, behaviour = save_tiny_genrl_agent(d)
    _rewrite_metadata(behaviour, lambda m: m["config"].update(actor_units=1 << 15, critic_units=1 << 15,
                                                              actor_layers=16, critic_layers=16))


def build_klppo_run_config(d: Path) -> None:
    model = _pendulum_model()
    model.save_pretrained(d / "run")
    manifest = json.loads((d / "run" / "klppo.json").read_text())
    manifest["policy_kwargs"] = {"net_arch": [1 << 15] * 8}
    (d / "run" / "klppo.json").write_text(json.dumps(manifest))


# ------------------------------------------------------------------------------------------------- loaders


def _pendulum_env() -> Any:
    import gymnasium as gym

    return gym.make("Pendulum-v1")


def load_sb3(d: Path, trust: bool = False) -> None:
    from agents.sb3 import KLPPO

    KLPPO.load(d / "model.zip", env=_pendulum_env(), device="cpu", trust_remote_code=trust)


def load_model_file(d: Path) -> None:
    from agents.vpt.io import config_from_model_file

    config_from_model_file(d / "net.model")


def load_vpt_official(d: Path) -> None:
    from agents.vpt.io import load_official

    load_official(d / "net.model", d / "net.weights")


def load_genrl(d: Path) -> None:
    from agents.genrl.official import load_official_genrl

    load_official_genrl(d / "agent.pt")


def load_plain_pickle(d: Path) -> None:
    pickle.loads((d / "net.model").read_bytes())  # noqa: S301 - the unsafe way, on purpose (control)


def load_vpt_dir(d: Path) -> None:
    from agents.vpt.io import load_pretrained

    load_pretrained(d / "vpt")


def load_genrl_checkpoint(d: Path) -> None:
    from agents.genrl.checkpoint import load_checkpoint

    load_checkpoint(d / "world_model.safetensors", restore_rng=False)


def load_genrl_behaviour(d: Path) -> None:
    from agents.genrl.behaviour import load_behaviour

    load_behaviour(d / "behaviour.safetensors")


def load_klppo_run(d: Path) -> None:
    from agents.sb3 import KLPPO

    KLPPO.from_pretrained(d / "run", _pendulum_env(), device="cpu")


@dataclass(frozen=True)
class Case:
    """A hostile file: ``build(dir)`` writes it, ``load(dir)`` is what must refuse it."""

    name: str
    kind: str  # "code", "control" or "bomb"
    build: Callable[[Path], None]
    load: Callable[[Path], None]


CASES: dict[str, Case] = {c.name: c for c in [
    Case("sb3_zip_serialized_payload", "code", build_sb3_serialized_payload, load_sb3),
    Case("sb3_zip_serialized_payload_trusted", "control", build_sb3_serialized_payload,
         lambda d: load_sb3(d, trust=True)),
    Case("sb3_zip_pth_payload", "code", build_sb3_pth_payload, lambda d: load_sb3(d, trust=True)),
    Case("vpt_model_payload", "code", build_model_payload, load_model_file),
    Case("vpt_model_payload_plain_pickle", "control", build_model_payload, load_plain_pickle),
    Case("vpt_weights_payload", "code", build_weights_payload, load_vpt_official),
    Case("genrl_pt_payload", "code", build_genrl_payload, load_genrl),
    Case("vpt_model_repr_bomb", "bomb", build_model_repr_bomb, load_model_file),
    Case("vpt_model_gym3_repr_bomb", "bomb", build_model_gym3_repr_bomb, load_model_file),
    Case("vpt_model_img_shape_bomb", "bomb", build_model_config_repr_bomb, load_model_file),
    Case("vpt_model_hash_bomb", "bomb", build_model_hash_bomb, load_model_file),
    Case("vpt_model_bytearray_8gib", "bomb", build_model_bytearray_bomb, load_model_file),
    Case("genrl_repr_bomb", "bomb", build_genrl_repr_bomb, load_genrl),
    Case("genrl_persistent_id_repr_bomb", "bomb", build_genrl_pid_repr_bomb, load_genrl),
    Case("genrl_hash_bomb", "bomb", build_genrl_hash_bomb, load_genrl),
    Case("genrl_bytes_8gib", "bomb", build_genrl_bytes_bomb, load_genrl),
    Case("genrl_member_inflates_2gib", "bomb", build_genrl_inflating_member, load_genrl),
    Case("genrl_stride0_model_2_4gb", "bomb", build_genrl_stride0, load_genrl),
    Case("vpt_weights_stride0_3x", "bomb", build_vpt_stride0, load_vpt_official),
    Case("vpt_dir_config_huge", "bomb", build_vpt_dir_config, load_vpt_dir),
    Case("genrl_checkpoint_config_huge", "bomb", build_genrl_checkpoint_config, load_genrl_checkpoint),
    Case("genrl_behaviour_config_huge", "bomb", build_genrl_behaviour_config, load_genrl_behaviour),
    Case("klppo_run_net_arch_huge", "bomb", build_klppo_run_config, load_klppo_run),
    Case("sb3_zip_member_inflates_2gib", "bomb", build_sb3_inflating_member, load_sb3),
    Case("sb3_zip_net_arch_huge", "bomb", build_sb3_huge_net_arch, lambda d: load_sb3(d, trust=True)),
]}


# -------------------------------------------------------------------------------------------------- runner


def _status(field: str) -> int:
    """A ``/proc/self/status`` size in bytes (``VmSize``: address space; ``VmHWM``: this process's peak resident
    memory -- unlike ``ru_maxrss``, not inherited from the parent that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _vm_size() -> int:
    return _status("VmSize")


def _limit_memory() -> None:
    """Import what the loaders need, then cap the address space at the interpreter's size + :data:`HEADROOM`."""
    import resource

    import gymnasium  # noqa: F401 - imported before the limit, like everything the loaders need
    import stable_baselines3  # noqa: F401

    import agents.genrl.behaviour  # noqa: F401
    import agents.genrl.checkpoint  # noqa: F401
    import agents.genrl.official  # noqa: F401
    import agents.sb3  # noqa: F401
    import agents.vpt.io  # noqa: F401

    limit = _vm_size() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_case(name: str, directory: Path) -> dict[str, Any]:
    """Load case ``name``'s files (call :func:`_limit_memory` first); report what happened. ``extra_mib`` is the
    growth of the process's peak resident memory (``VmHWM``) during the load."""
    from agents.checkpoints import CheckpointError

    case = CASES[name]
    baseline = _status("VmHWM") / 1024
    start = time.perf_counter()
    outcome, error = "loaded", ""
    try:
        case.load(directory)
    except CheckpointError as e:
        outcome, error = "refused", f"{type(e).__name__}: {e}"
    except BaseException as e:  # noqa: BLE001 - reported, and the test fails on it
        outcome, error = "crashed", f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    peak = _status("VmHWM") / 1024
    return {"case": name, "kind": case.kind, "outcome": outcome, "error": error[:400],
            "marker": (directory / MARKER).exists(), "seconds": round(seconds, 3),
            "baseline_mib": round(baseline / 1024, 1), "peak_mib": round(peak / 1024, 1),
            "extra_mib": round((peak - baseline) / 1024, 1)}


def run_in_subprocess(name: str, directory: Path, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """:func:`run_case` in a fresh interpreter; a timeout is reported as ``outcome == "hang"``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.support.hostile_files", "run", str(directory), name],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": name, "kind": CASES[name].kind, "outcome": "hang", "error": f"no result in {timeout} s",
                "marker": (directory / MARKER).exists()}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"case": name, "kind": CASES[name].kind, "outcome": "crashed",
                "error": f"exit {proc.returncode}: {proc.stderr[-800:]}", "marker": (directory / MARKER).exists()}
    return json.loads(lines[-1])


def summary() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in CASES.items():
            d = Path(tmp) / name
            d.mkdir()
            case.build(d)
            size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
            row = run_in_subprocess(name, d)
            row["file_bytes"] = size
            rows.append(row)
            print(json.dumps(row), flush=True)
    hostile = [r for r in rows if r["kind"] != "control"]
    print(json.dumps({
        "hostile_files": len(hostile),
        "refused": sum(r["outcome"] == "refused" for r in hostile),
        "code_executions": sum(r["marker"] for r in hostile),
        "hangs": sum(r["outcome"] == "hang" for r in rows),
        "controls_that_ran_the_payload": sum(r["marker"] for r in rows if r["kind"] == "control"),
        "worst_extra_mib": max(r.get("extra_mib", 0) for r in hostile),
        "worst_peak_mib": max(r.get("peak_mib", 0) for r in hostile),
        "worst_case": max(hostile, key=lambda r: r.get("extra_mib", 0))["case"],
    }))


def run_batch(directory: Path, names: list[str], timeout: float = TIMEOUT_S) -> list[dict[str, Any]]:
    """Run cases ``names`` (files in ``directory/<name>``) one after the other in ONE fresh interpreter under the
    memory limit; a case that does not finish within ``timeout`` (all cases together) is reported as a hang."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, "-m", "tests.support.hostile_files", "batch", str(directory), *names]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr, code = f"no result in {timeout} s", None
    rows = [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")]
    done = {r["case"] for r in rows}
    first = True
    for name in names:
        if name not in done:  # the first missing case hung or crashed the interpreter; the rest never ran
            outcome = ("hang" if code is None else "crashed") if first else "not run"
            rows.append({"case": name, "kind": CASES[name].kind, "outcome": outcome,
                         "error": f"exit {code}: {stderr[-800:]}", "marker": (directory / name / MARKER).exists()})
            first = False
    return rows


if __name__ == "__main__":
    if sys.argv[1] == "run":
        _limit_memory()
        print(json.dumps(run_case(sys.argv[3], Path(sys.argv[2]))))
    elif sys.argv[1] == "batch":
        _limit_memory()
        for case_name in sys.argv[3:]:
            print(json.dumps(run_case(case_name, Path(sys.argv[2]) / case_name)), flush=True)
    elif sys.argv[1] == "summary":
        summary()
    else:
        raise SystemExit(f"usage: python -m tests.support.hostile_files run DIR CASE | batch DIR CASE... | summary "
                         f"({sys.argv[1]!r})")
