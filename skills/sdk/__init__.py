"""The skill SDK: everything a skill author needs to publish a sidecar.

```python
from skills.sdk import Skill, ToolError, Context

skill = Skill("helm", instructions="Inspect and change Helm releases.")

@skill.tool(read_only=True)
async def release_status(ctx: Context, release: str, namespace: str = "default") -> str:
    \"\"\"Show the status of a Helm release.

    Args:
        release: Release name.
        namespace: Kubernetes namespace.
    \"\"\"
    return await ctx.run(["helm", "status", release, "-n", namespace])
```

Serve it with `podium skill serve path/to/file.py:skill` (socket from `--socket` or
`PODIUM_SKILL_SOCKET`), or `serve(skill, socket=...)`. A tool reads the run's spec (task,
policy, limits) as JSON with `ctx.run_spec`, or anywhere with `run_spec()`.
"""

from skills.sdk._context import Context, ToolError
from skills.sdk._run_spec import RUN_SPEC_ENV, RunSpecError, run_spec
from skills.sdk._server import serve, serve_forever
from skills.sdk._skill import Annotations, Skill, ToolDef, ToolOutput
from skills.sdk._text import printable

__all__ = [
    "RUN_SPEC_ENV",
    "Annotations",
    "Context",
    "RunSpecError",
    "Skill",
    "ToolDef",
    "ToolError",
    "ToolOutput",
    "printable",
    "run_spec",
    "serve",
    "serve_forever",
]
