"""Monitoring: reference profiles, drift / quality / performance detectors, alerts.

Detectors compare a window of the prediction log with the :class:`~modelyard.monitoring.profile.Profile`
computed once per training snapshot, so a monitor run never re-reads the training rows.
"""
