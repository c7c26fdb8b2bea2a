"""Model cards: the header the Hub reads (library_name, tags), the task, training settings and evaluation
results, bad input refused."""

from __future__ import annotations

import pytest

from agents.model_card import CARD_FILE, ModelCardInfo


def test_card_has_hub_header_task_settings_and_results(tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    card = ModelCardInfo(task="Stand up (vpt_gym/walker-stand-v0)", training={"steps": 1000, "lr": 3e-4},
                         evaluation={"mean return": 812.5, "episodes": 10}, tags=("genrl", "walker"),
                         license="mit", base_model="mazpie/genrl_models", description="A | test")
    path = card.write(tmp_path, title="walker", usage="print('hi')", files={"a.json": "config"},
                      kind_tags=("world-model",))
    assert path == tmp_path / CARD_FILE
    loaded = hub.ModelCard.load(path)  # the Hub client parses our header
    assert loaded.data.library_name == "vpt-gym"
    assert loaded.data.tags == ["vpt-gym", "reinforcement-learning", "world-model", "genrl", "walker"]
    assert loaded.data.license == "mit" and loaded.data.base_model == "mazpie/genrl_models"
    text = path.read_text()
    for line in ("## Task", "Stand up (vpt_gym/walker-stand-v0)", "| steps | 1000 |", "| lr | 0.0003 |",
                 "| mean return | 812.5 |", "| episodes | 10 |", "- `a.json`: config", "print('hi')"):
        assert line in text
    assert "A | test" in text  # the description is free text
    empty = ModelCardInfo(task="t").render("x")
    assert "No training settings were given." in empty and "No evaluation results were given." in empty


def test_long_values_are_cut_and_pipes_escaped():
    text = ModelCardInfo(task="t", training={"prompt": "a|b", "big": "x" * 5000}).render("x")
    assert "| prompt | a\\|b |" in text and "(5000 chars)" in text and "x" * 400 not in text


@pytest.mark.parametrize("kwargs, match", [
    ({"task": ""}, "needs a task"),
    ({"task": "t", "training": [1]}, "training must be a mapping"),
    ({"task": "t", "tags": "genrl"}, "tags must be a sequence"),
])
def test_bad_cards_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelCardInfo(**kwargs)
