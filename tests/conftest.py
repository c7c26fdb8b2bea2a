import os

# Rendering needs a GL backend chosen before mujoco is imported; EGL (Mesa llvmpipe) works headless.
os.environ.setdefault("MUJOCO_GL", "egl")
