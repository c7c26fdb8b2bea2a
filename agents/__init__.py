"""Agents of vpt-gym: the VPT policy and IDM, the GenRL world model and behaviours, SB3 adapters."""
