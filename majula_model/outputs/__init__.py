"""Outputs for people and machines: the plan table, plan plots, the mig-parted config, simulation reports."""
