"""Kubernetes manifests of a serving deployment: ConfigMap, Deployment, Service, HorizontalPodAutoscaler.

Workers are stateless: features come from the Feast online store (Redis), versions and
aliases from the registry database (PostgreSQL), so any number of replicas can run behind
the Service and the autoscaler adds them on CPU. Secrets (database URLs, the Redis
connection string) come from an optional Secret referenced with ``envFrom``; the config
refers to them as ``${VAR}``. The API's bearer tokens come from the Secret
``<name>-tokens`` (keys ``predict``, ``feedback``, ``admin``) as ``MODELYARD_TOKENS_*``.
"""

from __future__ import annotations

from typing import Any

from modelyard.deploy.settings import UID, YARD_DIR, ContainerSettings


def _meta(s: ContainerSettings, name: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name or s.name, "labels": _labels(s)}
    if s.namespace:
        meta["namespace"] = s.namespace
    return meta


def _labels(s: ContainerSettings) -> dict[str, str]:
    return {"app.kubernetes.io/name": s.name, "app.kubernetes.io/component": "serving"}


def config_map(s: ContainerSettings, modelyard_yaml: str) -> dict[str, Any]:
    """The yard's modelyard.yaml, mounted over the one in the image (change config without a rebuild)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(s, f"{s.name}-config"),
        "data": {"modelyard.yaml": modelyard_yaml},
    }


def _probe(s: ContainerSettings, path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, **timing}


def deployment(s: ContainerSettings) -> dict[str, Any]:
    """The serving Deployment: non-root, resources, probes on the v2 health endpoints, graceful stop."""
    container: dict[str, Any] = {
        "name": "serving",
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "args": s.serve_args,
        "ports": [{"name": "http", "containerPort": s.port, "protocol": "TCP"}],
        "env": [{"name": "MODELYARD_REPO", "value": YARD_DIR}],
        "resources": {
            "requests": {"cpu": s.cpu_request, "memory": s.memory_request},
            "limits": {"cpu": s.cpu_limit, "memory": s.memory_limit},
        },
        "startupProbe": _probe(s, s.health_live, periodSeconds=5, failureThreshold=36),
        "livenessProbe": _probe(s, s.health_live, periodSeconds=10, timeoutSeconds=3, failureThreshold=3),
        "readinessProbe": _probe(s, s.health_ready, periodSeconds=5, timeoutSeconds=3, failureThreshold=2),
        # leave the Service's endpoints before stopping, then let the server flush its prediction log
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": f"{YARD_DIR}/modelyard.yaml", "subPath": "modelyard.yaml"},
            {"name": "state", "mountPath": f"{YARD_DIR}/.modelyard"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if s.feature_store_yaml:
        container["env"].append({"name": "MODELYARD_FEATURE_STORE_YAML", "value": s.feature_store_yaml})
    # the API's bearer tokens: a pod without any refuses to start (it binds 0.0.0.0), so none is optional
    # to Kubernetes but each key is: a yard may use only some scopes
    container["env"] += [
        {
            "name": f"MODELYARD_TOKENS_{scope.upper()}",
            "valueFrom": {"secretKeyRef": {"name": s.token_secret_name, "key": scope, "optional": True}},
        }
        for scope in ("predict", "feedback", "admin")
    ]
    if s.env_secret:
        container["envFrom"] = [{"secretRef": {"name": s.env_secret, "optional": False}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(s),
        "spec": {
            "replicas": s.replicas,
            "selector": {"matchLabels": _labels(s)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": _labels(s),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(s.port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": True, "fsGroup": UID},
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": f"{s.name}-config"}},
                        {"name": "state", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def service(s: ContainerSettings) -> dict[str, Any]:
    """A ClusterIP Service on port 80 in front of the pods' http port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(s),
        "spec": {
            "type": "ClusterIP",
            "selector": _labels(s),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(s: ContainerSettings) -> dict[str, Any]:
    """An autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation (of the CPU request)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(s),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.name},
            "minReplicas": s.min_replicas,
            "maxReplicas": s.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": s.target_cpu_percent},
                    },
                }
            ],
        },
    }


def manifests(s: ContainerSettings, modelyard_yaml: str) -> dict[str, list[dict[str, Any]]]:
    """File name -> the objects it holds."""
    return {
        "configmap.yaml": [config_map(s, modelyard_yaml)],
        "deployment.yaml": [deployment(s)],
        "service.yaml": [service(s)],
        "hpa.yaml": [autoscaler(s)],
    }
