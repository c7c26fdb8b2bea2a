import os

# Rendering needs a GL backend chosen before mujoco is imported; EGL (Mesa llvmpipe) works headless.
os.environ.setdefault("MUJOCO_GL", "egl")

# No test reaches the network: the Hugging Face Hub client and vpt-gym's downloads read the cache only.
# (Download tests that serve files from localhost unset this with monkeypatch.)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# stable-baselines3 makes an (empty) log folder per model, /tmp/SB3-<date-time> unless SB3_LOGDIR names one:
# the tests share one that is removed when they end.
if "SB3_LOGDIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["SB3_LOGDIR"] = tempfile.mkdtemp(prefix="vpt-gym-tests-sb3-")
    atexit.register(shutil.rmtree, os.environ["SB3_LOGDIR"], ignore_errors=True)
