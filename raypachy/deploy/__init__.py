"""Rendering deployment files (KubeRay manifests, Helm values); no Kubernetes client needed."""
