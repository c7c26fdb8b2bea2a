"""GenRL's multimodal-foundation world model (MFWM): networks, RSSM, world model, episode store.

Submodules are small and imported on demand, e.g.::

    from agents.genrl.world_model import WorldModel, WorldModelConfig
    from agents.genrl.episodes import EpisodeStore, collect
"""
