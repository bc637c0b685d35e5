"""Errors as JSON: each family has one HTTP status and a stable ``code``; bad input is 4xx."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from raypachy.errors import RaypachyError
from raypachy.secrets import redact

log = logging.getLogger("raypachy.server")


def error_body(code: str, message: str, kind: str) -> dict[str, str]:
    return {"code": code, "message": redact(message), "type": kind}


def install(app: FastAPI) -> None:
    @app.exception_handler(RaypachyError)
    async def raypachy_error(_: Request, e: RaypachyError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if e.http_status == 401 else None
        body = error_body(e.code, e.message, type(e).__name__)
        return JSONResponse(body, e.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, e: RequestValidationError) -> JSONResponse:
        problems = []
        for err in e.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "invalid request: " + "; ".join(problems)
        return JSONResponse(error_body("invalid_argument", message, "InvalidArgumentError"), 400)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        code = "not_found" if e.status_code == 404 else "http_error"
        return JSONResponse(error_body(code, str(e.detail), "HTTPException"), e.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        log.error("unexpected error: %s", redact(f"{type(e).__name__}: {e}"))
        message = f"internal error: {type(e).__name__}: {e}"
        return JSONResponse(error_body("internal", message, type(e).__name__), 500)
