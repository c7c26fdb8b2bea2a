"""A released-format GenRL checkpoint + InternVideo2 in every path that takes a VLM (tiny files, real loaders).

The GenRL file is a pickle with the structure of ``genrl_walker_500k_2.pt`` (read by ``load_official_genrl``)
whose connector takes 512-d embeddings; the VLM is a tiny InternVideo2 checkpoint in the real key layout,
named as a user names it (``internvideo2:<folder>``). Each path must embed the text prompt with
InternVideo2's text tower (512-d) and hand it to the connector's aligner before the rollout.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from agents.genrl.official import load_official_genrl  # noqa: E402
from agents.genrl.reward import MFWM  # noqa: E402
from agents.genrl.vlm import load_vlm  # noqa: E402
from tests.support.genrl_reference import save_reference_checkpoint  # noqa: E402
from tests.support.moving_pattern_env import MovingSquareEnv  # noqa: E402
from tests.support.tiny_internvideo2 import save_tiny_internvideo2  # noqa: E402
from tests.support.torch_threads import one_torch_thread  # noqa: E402,F401 - fixture

PROMPT = "a walker runs"
WALKER = "vpt_gym/walker-stand-v0"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    iv2 = tmp_path_factory.mktemp("models")
    save_tiny_internvideo2(iv2)
    genrl = tmp_path_factory.mktemp("genrl")
    save_reference_checkpoint(genrl / "genrl_walker_500k_2.pt", action_dim=6, embed_dim=512)
    return {"iv2": iv2, "genrl_dir": genrl, "genrl": genrl / "genrl_walker_500k_2.pt"}


@pytest.fixture(scope="module")
def vlm(files: dict[str, Path]):
    return load_vlm(f"internvideo2:{files['iv2']}")


class AlignerSpy:
    """Records what enters the connector's aligner (GenRL: text embedding -> aligner -> connector)."""

    def __init__(self, connector, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inputs: list[torch.Tensor] = []
        original = connector.aligner.align

        def align(e: torch.Tensor) -> torch.Tensor:
            self.inputs.append(e.detach().clone())
            return original(e)

        monkeypatch.setattr(connector.aligner, "align", align)

    def assert_saw(self, embedding: np.ndarray, only: bool = True) -> None:
        """Some aligner call got exactly the prompt embedding in every row (``only``: every call did)."""
        assert self.inputs, "the aligner was not used"
        target = torch.from_numpy(embedding).reshape(-1)
        assert target.shape == (512,)
        hits = [torch.allclose(x.reshape(-1, 512), target.expand(x.numel() // 512, -1), atol=1e-6, rtol=1e-5)
                for x in self.inputs]
        assert all(hits) if only else any(hits), f"aligner inputs matching the prompt: {hits}"


def _model(files: dict[str, Path], vlm) -> MFWM:
    loaded = load_official_genrl(files["genrl"])
    assert loaded.connector.config.embed_dim == 512
    return MFWM(loaded.world_model, loaded.connector, vlm)


def test_genrl_reward_with_a_text_prompt(files, vlm, monkeypatch) -> None:
    from wrappers.genrl_reward import GenRLReward

    model = _model(files, vlm)
    assert model.vlm_label == "internvideo2"
    spy = AlignerSpy(model.connector, monkeypatch)
    env = GenRLReward(MovingSquareEnv(episode_steps=12, action_dim=6), model, PROMPT)
    spy.assert_saw(vlm.embed_text(PROMPT))  # the prompt target: InternVideo2 text -> aligner -> connector
    env.reset(seed=0)
    rewards = [env.step(env.action_space.sample())[1] for _ in range(10)]
    assert np.isfinite(rewards).all() and len(set(np.round(rewards, 6))) > 1


def test_learn_behaviour_from_text(files, vlm, monkeypatch, tmp_path) -> None:
    from agents.genrl.behaviour import BehaviourConfig, learn_behaviour, load_behaviour

    model = _model(files, vlm)
    spy = AlignerSpy(model.connector, monkeypatch)
    policy = learn_behaviour(model, PROMPT, None, steps=2, config=BehaviourConfig.small(batch_size=2, batch_length=2),
                             run_dir=tmp_path, checkpoint_every=1, progress=False)
    spy.assert_saw(vlm.embed_text(PROMPT), only=False)  # data-free start states also go through the aligner
    _, step, embedding, _ = load_behaviour(tmp_path / "behaviour.safetensors")
    assert step == 2
    np.testing.assert_allclose(embedding.numpy(), vlm.embed_text(PROMPT)[0], atol=1e-6)  # the stored prompt
    policy.reset(np.zeros((1, 64, 64, 3), np.uint8))
    assert policy.act().shape == (1, 6)


def _decode_args(*argv: str) -> argparse.Namespace:
    from agents.genrl.cli import decode_add_arguments

    parser = argparse.ArgumentParser()
    decode_add_arguments(parser)
    return parser.parse_args(list(argv))


def test_genrl_decode_prompt_with_an_official_checkpoint(files, vlm, monkeypatch, tmp_path, capsys) -> None:
    import imageio.v3 as iio

    from agents.genrl import connector as connector_module
    from agents.genrl.cli import decode_run

    seen: list[torch.Tensor] = []
    spies: list[AlignerSpy] = []
    original = connector_module.decode_prompt

    def spy(world_model, connector, embedding, steps=16):  # noqa: ANN001, ANN202
        seen.append(embedding.clone())
        spies.append(AlignerSpy(connector, monkeypatch))
        return original(world_model, connector, embedding, steps=steps)

    monkeypatch.setattr(connector_module, "decode_prompt", spy)
    out = tmp_path / "walker.gif"
    rc = decode_run(_decode_args("--checkpoint", str(files["genrl"]), "--prompt", PROMPT,
                                 "--vlm", f"internvideo2:{files['iv2']}", "--out", str(out), "--steps", "8"))
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_allclose(seen[0].numpy(), vlm.embed_text(PROMPT)[0], atol=1e-6)
    spies[0].assert_saw(vlm.embed_text(PROMPT))
    from PIL import Image

    frames = iio.imread(out, index=None)
    assert frames.shape[1:3] == (64, 64)
    with Image.open(out) as im:  # identical consecutive frames are merged in a GIF: count the time instead
        total_ms = 0.0
        for i in range(im.n_frames):
            im.seek(i)
            total_ms += im.info["duration"]
    assert abs(total_ms - 8 * 1000 / 15) <= 8 * 10  # 8 frames at 15 fps (GIF durations are in 10 ms)
    # a released .pt records no VLM: --vlm is required, and the error says so
    rc = decode_run(_decode_args("--checkpoint", str(files["genrl"]), "--prompt", PROMPT, "--out", str(out)))
    assert rc == 2 and "pass --vlm NAME" in capsys.readouterr().err
    # the gated checkpoint missing: the error says where to get it
    rc = decode_run(_decode_args("--checkpoint", str(files["genrl"]), "--prompt", PROMPT,
                                 "--vlm", f"internvideo2:{tmp_path / 'none.pt'}", "--out", str(out)))
    assert rc == 2 and "OpenGVLab/InternVideo2-Stage2_1B-224p-f4" in capsys.readouterr().err


def test_bench_genrl_agent_with_internvideo2(files, vlm, monkeypatch, tmp_path) -> None:
    import benchmarks.runner as runner
    from agents.genrl import behaviour as behaviour_module
    from benchmarks.agents import AgentContext, AgentOptions, check_agent

    prompts: list[object] = []
    original = behaviour_module.learn_behaviour

    def spy(model, prompt, *args, **kwargs):  # noqa: ANN001, ANN202
        prompts.append(model.embed(prompt))
        assert model.vlm.name == "internvideo2" and model.vlm.dim == 512
        return original(model, prompt, *args, **kwargs)

    monkeypatch.setattr(behaviour_module, "learn_behaviour", spy)
    # the --vlm spec as the bench CLI passes it; the release name is found in the --genrl-checkpoint DIR
    options = AgentOptions(genrl_checkpoints={"*": str(files["genrl_dir"])}, vlm=f"internvideo2:{files['iv2']}")
    kwargs = {"render_quality": "fast", "max_episode_steps": 4}
    context = AgentContext(env_id=WALKER, env_kwargs=kwargs, options=options,
                           settings={"steps": 1, "config": "small", "batch_size": 2, "batch_length": 2},
                           work_dir=tmp_path / "work")
    check_agent("genrl", context)
    cell = runner.evaluate(WALKER, "genrl", 1, seed=0, env_kwargs=kwargs, context=context)
    assert cell["lengths"] == [4] and "VLM internvideo2" in cell["agent_label"]
    from vpt_gym.tasks import TASKS

    task = next(t for t in TASKS.values() if t.env_id == WALKER)
    np.testing.assert_allclose(prompts[0].numpy(), vlm.embed_text(task.prompt)[0], atol=1e-6)


def test_bench_cli_reports_a_missing_internvideo2_checkpoint(files, tmp_path) -> None:
    import json

    from benchmarks.cli import main

    code = main(["--suite", "genrl-dmc", "--tasks", WALKER, "--agent", "genrl", "--out", str(tmp_path / "o"),
                 "--genrl-checkpoint", str(files["genrl_dir"]), "--vlm", f"internvideo2:{tmp_path / 'absent'}"])
    assert code == 1  # every cell was skipped: the run says so with its exit status (issue #15)
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    skipped = data["skipped_cells"][data["meta"]["cell_keys"][0]]["message"]
    assert "internvideo2" in skipped and "huggingface.co/OpenGVLab/InternVideo2-Stage2_1B-224p-f4" in skipped
