"""The VLM of the prompt-driven benchmark agents (``genrl``, ``vlm-ppo``): loaded once, checked for a text tower.

GenRL's 35 task prompts are text, so these agents need a VLM that embeds text: a real backend (``clip``,
``siglip``, ``xclip`` through ``pip install -e ".[vlm]"``, with their weights on this machine) given as
``--vlm NAME_OR_DIR``. Every way this can fail becomes an :class:`~benchmarks.agents.AgentUnavailable`
whose message says what to pass or install, so the runner skips the cells instead of crashing.
"""
from __future__ import annotations

from typing import Any

from benchmarks.agents import AgentOptions, AgentUnavailable

VLM_HELP = (
    'pass --vlm NAME_OR_DIR with a text-capable VLM whose weights are on this machine, e.g. --vlm clip:/models/'
    'clip-vit-base-patch32 or --vlm /models/xclip-base-patch32 (needs pip install -e ".[vlm]")'
)


def text_vlm(options: AgentOptions, agent: str) -> Any:
    """The user's VLM (loaded once per run), which must embed text prompts.

    :param options: the run's agent options (``options.vlm``: a name, a directory, or a VLM object).
    :param agent: the agent's name, for messages.
    :raises AgentUnavailable: no VLM given, its weights or the ``vlm`` extra missing, or no text tower.
    """
    if options.vlm is None:
        raise AgentUnavailable(f"{agent}: the tasks' prompts are text and no VLM was given; {VLM_HELP}")
    key = options.vlm if isinstance(options.vlm, str) else f"object:{id(options.vlm)}"
    vlm = options.cached(f"vlm:{key}", lambda: _load(options.vlm, agent))
    if not getattr(vlm, "has_text", False):
        name = getattr(vlm, "name", type(vlm).__name__)
        raise AgentUnavailable(
            f"{agent}: the VLM {name!r} has no text tower (the offline stand-in 'random-features' embeds video "
            f"only), so it cannot embed the tasks' text prompts; {VLM_HELP}"
        )
    return vlm


def _load(vlm: Any, agent: str) -> Any:
    if not isinstance(vlm, str):
        return vlm  # an already-built VLM object (tests, notebooks)
    from agents.genrl.vlm import MissingWeightsError, load_vlm

    try:
        return load_vlm(vlm)
    except MissingWeightsError as err:
        raise AgentUnavailable(f"{agent}: VLM {vlm!r} has no weights here: {err}") from err
    except ImportError as err:
        raise AgentUnavailable(f'{agent}: VLM {vlm!r} needs the "vlm" extra (pip install -e ".[vlm]" in the vpt-gym checkout): {err}') from err
    except ValueError as err:
        raise AgentUnavailable(f"{agent}: {err}") from err
