"""vpt-gym: VPT and GenRL through gymnasium and stable-baselines3."""
from setuptools import find_packages, setup

EXTRAS = {
    # MineRL 1.0 is not on PyPI. It needs a Java 8 JDK and builds Minecraft during its install:
    #   pip install -e ".[minerl]"   from a checkout (vpt-gym is not on PyPI), after installing a JDK 8 such as
    #   Eclipse Temurin 8; see the README, "MineRL"
    "minerl": ["minerl @ git+https://github.com/minerllabs/minerl"],
    # Franka kitchen (gymnasium-robotics; vpt_gym.envs.kitchen fixes its mujoco>=3.12 joint-type check at run time)
    "kitchen": ["gymnasium-robotics>=1.4.2,<1.5"],
    # one Ray task per video for pseudo-labelling (`label_directory(..., backend="ray")`)
    "ray": ["ray>=2.9"],
    # Crafter, a 2D Minecraft-like tech tree (opensimplex 0.3: resets 4x faster than newer releases)
    "crafter": ["crafter==1.8.3", "opensimplex==0.3"],
    # real vision-language models (CLIP, SigLIP, X-CLIP) for GenRL prompts; weights from a local folder or the Hub
    "vlm": ["transformers>=5.0,<6", "huggingface_hub>=0.34"],
    # the Hugging Face Hub: from_pretrained("owner/name"), push_to_hub, GenRL's released models, VLM downloads
    # (0.34: the `hf` command line the error messages name)
    "hub": ["huggingface_hub>=0.34"],
    # the benchmark report: plots and videos (moviepy: gymnasium.wrappers.RecordVideo)
    "bench": ["matplotlib>=3.7", "imageio>=2.30", "moviepy>=2.1,<3"],
    # render_mode="human": a window drawn by gymnasium's HumanRendering (needs a display)
    "human": ["pygame-ce>=2.1.3"],
    # Minari datasets (Farama's offline-RL format) of episode stores and contractor data; HDF5 storage
    "minari": ["minari[hdf5]>=0.5.4,<0.6"],
    # ray: the Ray labelling tests run on a local Ray instance (ray 2.60 wheel 79 MB, 240 MB installed);
    # minari: 0.6 MB + h5py 11 MB, for the Minari export tests; pygame-ce: the render_mode="human" test
    "dev": ["pytest>=8", "hypothesis>=6.100", "imageio>=2.30", "tensorboard>=2.14", "ray>=2.9",
            "minari[hdf5]>=0.5.4,<0.6", "huggingface_hub>=0.34", "pygame-ce>=2.1.3"],
}

setup(
    name="vpt-gym",
    version="0.1.0",
    description="VPT (Video PreTraining) and GenRL as gymnasium environments, reward wrappers "
    "and stable-baselines3 agents",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["vpt_gym*", "agents*", "wrappers*", "benchmarks*"]),
    package_data={"vpt_gym": ["envs/suites/*.xml"]},
    install_requires=[
        "gymnasium>=1.0,<2",
        "numpy>=1.24",
        # Install torch==2.13.0 first (README): an unpinned torch pulls GBs of CUDA wheels.
        "torch>=2.1",
        "stable-baselines3>=2.3",
        "dm-control>=1.0.20",
        # mujoco 4.x breaks dm_control 1.0.50 at suite.load (MjModel has no flex_vertedge).
        "mujoco==3.17.0",
        "shimmy[dm-control]>=2.0",
        "opencv-python-headless>=4.8",
        "safetensors>=0.4",
        "tqdm>=4.60",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["vpt-gym=vpt_gym.cli:main"]},
)
