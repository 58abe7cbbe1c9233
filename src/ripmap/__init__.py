"""ripmap: codebase cartography for LLMs.

Parses a repository with tree-sitter, builds the graph of who defines and who
references what, ranks files and symbols with personalized PageRank plus git-aware
signals and the user's focus, and prints what fits a token budget.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .api import RepoMap  # noqa: E402
from .errors import RipmapError, UsageError  # noqa: E402
from .rank import Ranking  # noqa: E402
from .rank.params import Params  # noqa: E402

__all__ = ["RepoMap", "Ranking", "Params", "RipmapError", "UsageError", "__version__"]
