"""The OpenAPI description of the HTTP routes: each handler's docstring, plus request schemas built from code.

Values the code defines (the retrieval strategies, the default strategy) are filled in here, so the
description never lists what the server would refuse.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

from streammm import __version__
from streammm.config import STRATEGIES

SCHEMA = SchemaGenerator({"openapi": "3.0.0", "info": {"title": "streammm", "version": __version__}})


def search_body(default_strategy: str) -> dict[str, Any]:
    """The `POST /v1/search` request body (what protocol.SearchBody accepts)."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["query"],
                    "properties": {
                        "query": {"type": "string"},
                        "streams": {"type": "array", "items": {"type": "string"}},
                        "time_range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                        "k": {"type": "integer", "minimum": 1},
                        "strategy": {"type": "string", "enum": list(STRATEGIES), "default": default_strategy},
                    },
                }
            }
        },
    }


def describe(routes: list[BaseRoute], default_strategy: str) -> dict[str, Any]:
    schema = SCHEMA.get_schema(routes=routes)
    generated = {("/v1/search", "post"): {"requestBody": search_body(default_strategy)}}
    for (path, method), parts in generated.items():
        operation = schema["paths"].get(path, {}).get(method)
        if operation is not None:
            operation.update(parts)
    return schema


async def openapi(request: Request) -> Response:
    return JSONResponse(describe(request.app.routes, request.app.state.ctx.settings.qa.strategy))
