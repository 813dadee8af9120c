"""The ``files`` family: file tools confined to the workspace roots.

Every tool resolves and opens its paths through :mod:`tollhouse.tools.files.confine`; see
docs/tools/files.md for the limits and the confinement guarantees.
"""

from __future__ import annotations

from tollhouse.tools.base import Tool
from tollhouse.tools.files.listing import LISTING_TOOLS
from tollhouse.tools.files.manage import MANAGE_TOOLS
from tollhouse.tools.files.read import READ_TOOLS
from tollhouse.tools.files.search import SEARCH_TOOLS
from tollhouse.tools.files.write import WRITE_TOOLS

TOOLS: list[Tool] = [*READ_TOOLS, *LISTING_TOOLS, *SEARCH_TOOLS, *WRITE_TOOLS, *MANAGE_TOOLS]
