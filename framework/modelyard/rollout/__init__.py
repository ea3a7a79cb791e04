"""Experiment analysis for rollouts: traffic windows, A/B statistics, sample-ratio checks, shadow reports, replay."""
