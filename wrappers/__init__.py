"""Gymnasium wrappers of vpt-gym: one behaviour per wrapper, each usable on its own."""
