"""Containerize a yard: a Docker build context and Kubernetes manifests generated from its config.

:func:`modelyard.deploy.context.write_build_context` is what ``modelyard containerize`` runs.
"""
