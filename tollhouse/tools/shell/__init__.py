"""The shell family: ``shell_run``, decided on a parsed argv and run without a shell.

Modules: ``parse`` (argv/command parsing, program normalisation, facets), ``execcap`` (the exec-capable
argument table), ``runner`` (process lifecycle and bounded output), ``output`` (head+tail capture),
``sandbox`` (bubblewrap), ``settings`` (the ``[shell]`` config section), ``tool`` (the tool itself).
"""

from tollhouse.tools.shell.sandbox import SandboxStatus, sandbox_status
from tollhouse.tools.shell.tool import SHELL_RUN, TOOLS, ShellRunInput, ShellRunResult

__all__ = ["SHELL_RUN", "TOOLS", "SandboxStatus", "ShellRunInput", "ShellRunResult", "sandbox_status"]
