"""Rollouts: the control loop that moves deployments, and the analysis of experiments.

- :mod:`modelyard.rollout.policy`: guards, the canary ramp and automatic rollback, run on a schedule.
- :mod:`modelyard.rollout.changes`: operator changes to a deployment (start, promote, abort, weights).
- traffic windows, A/B statistics, sample-ratio checks, shadow reports and replay beside them.
"""
