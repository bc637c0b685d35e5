# The raypachy image for KubeRay: Ray 2.60 with raypachy (and the examples' libraries).
#   docker build -t ghcr.io/<you>/raypachy:0.1.0 . && docker push ghcr.io/<you>/raypachy:0.1.0
# The Kubernetes files expect `raypachy` on PATH in every Ray container (head and workers).
FROM rayproject/ray:2.60.0-py311

USER root
# util-linux provides unshare: command transforms get a private /pfs per datum.
RUN apt-get update && apt-get install -y --no-install-recommends util-linux \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /pfs /data && chown ray:users /data
USER ray

COPY --chown=ray:users . /home/ray/raypachy
RUN pip install --no-cache-dir "/home/ray/raypachy[examples]"
