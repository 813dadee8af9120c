"""The GitHub tool family: reads, guarded writes, repository facets, pinning, untrusted content.

See docs/tools/github.md. ``TOOLS`` is what the registry loads.
"""

from tollhouse.tools.base import Tool
from tollhouse.tools.github.reads import READ_TOOLS
from tollhouse.tools.github.search import SEARCH_TOOL
from tollhouse.tools.github.writes import WRITE_TOOLS

TOOLS: list[Tool] = [*READ_TOOLS, SEARCH_TOOL, *WRITE_TOOLS]

__all__ = ["TOOLS"]
