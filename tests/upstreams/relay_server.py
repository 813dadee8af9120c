"""A small MCP server (the official SDK) whose tools need the client: one asks the person a question
(elicitation), one asks the client's model (sampling), one returns audio. Run as a stdio upstream."""

from __future__ import annotations

import base64
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import AcceptedElicitation, Audio, Elicit, ElicitationResult, Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

mcp = MCPServer("relay", version="0.1.0", log_level="WARNING")
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)

# 44-byte WAV header of an empty 8 kHz mono clip, then 4 samples: small, and not valid UTF-8 text.
WAV = base64.b64decode("UklGRigAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQQAAACAgP9/")


class Name(BaseModel):
    name: str = Field(description="Your name")


def ask_name(greeting: str) -> Elicit[Name]:
    return Elicit(f"{greeting}: what is your name?", Name)


@mcp.tool(description="Asks the person for their name, then greets them.", annotations=READ)
async def greet(greeting: str, answer: Annotated[ElicitationResult[Name], Resolve(ask_name)]) -> str:
    if isinstance(answer, AcceptedElicitation):
        return f"{greeting}, {answer.data.name}"
    return f"no name ({answer.action})"


def ask_model(text: str) -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarise: {text}"))],
        max_tokens=50,
    )


@mcp.tool(description="Asks the client's model to summarise the text.", annotations=READ)
async def summarise(text: str, reply: Annotated[CreateMessageResult, Resolve(ask_model)]) -> str:
    content = reply.content
    said = content.text if isinstance(content, TextContent) else type(content).__name__
    return f"{reply.model} said: {said}"


@mcp.tool(description="Returns a short audio clip.", annotations=READ, structured_output=False)
def beep() -> Audio:
    return Audio(data=WAV, format="wav")


if __name__ == "__main__":
    mcp.run()
