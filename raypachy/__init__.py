"""raypachy: Git for data and data-driven pipelines, as a plugin on Ray."""

from raypachy._version import __version__
from raypachy.errors import RaypachyError

__all__ = ["RaypachyError", "__version__"]
