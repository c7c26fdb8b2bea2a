import os

# Rendering needs a GL backend chosen before mujoco is imported; EGL (Mesa llvmpipe) works headless.
os.environ.setdefault("MUJOCO_GL", "egl")

# No test reaches the network: the Hugging Face Hub client and vpt-gym's downloads read the cache only.
# (Download tests that serve files from localhost unset this with monkeypatch.)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
