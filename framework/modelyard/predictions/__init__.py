"""What predictions leave behind: records, the prediction log and its sinks, feedback, the cache.

Written by serving and batch scoring, read by monitoring and rollout, so it sits below all of
them: :mod:`~modelyard.predictions.records` (:class:`PredictionRecord` and its row form),
:mod:`~modelyard.predictions.log` (the buffered logger and the LogSink contract),
:mod:`~modelyard.predictions.feedback` and :mod:`~modelyard.predictions.feedback_store` (ground
truth), :mod:`~modelyard.predictions.cache` (the PredictionCache contract). Import-light.
"""
