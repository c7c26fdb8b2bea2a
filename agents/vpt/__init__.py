"""VPT (OpenAI Video PreTraining): the policy network, the inverse dynamics model, checkpoint I/O and
the agent API.

Modules: ``layers`` (norm->layer->ReLU block), ``impala`` (ImpalaCNN), ``attention`` (masked attention
with K/V cache), ``transformer`` (residual blocks), ``heads`` (action/value heads), ``config`` (presets
and official kwargs), ``policy`` (``VPTPolicyNet``), ``idm`` (``IDMNetwork``), ``gym3_types`` (stand-ins
for the ``.model`` pickles), ``io`` (official files, safetensors, ``from_pretrained``, ``push_to_hub``),
``released`` (OpenAI's files: cache and checked downloads), ``pretrained`` (the networks' Hub methods), ``agent``
(``VPTAgent``).
"""

from agents.vpt.agent import VPTAgent
from agents.vpt.config import CRAFTER_IDM, CRAFTER_POLICY, IDM_PRESETS, POLICY_PRESETS, IDMConfig, PolicyConfig
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import RELEASED, from_pretrained, load_official, load_pretrained, push_to_hub, save_pretrained
from agents.vpt.policy import PolicyOutput, VPTPolicyNet

__all__ = [
    "CRAFTER_IDM",
    "CRAFTER_POLICY",
    "IDMConfig",
    "IDMNetwork",
    "IDM_PRESETS",
    "POLICY_PRESETS",
    "PolicyConfig",
    "PolicyOutput",
    "RELEASED",
    "VPTAgent",
    "VPTPolicyNet",
    "from_pretrained",
    "load_official",
    "load_pretrained",
    "push_to_hub",
    "save_pretrained",
]
