"""One error shape for the JSON API: {"error": {"code": ..., "message": ...}}; pages get HTML."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.services.items import StorageError
from app.web.deps import CsrfFailed, LoginRequired
from app.web.render import is_htmx, render

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}


def error_json(status: int, message: str, *, headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    body = {"error": {"code": CODES.get(status, "error"), "message": message, **extra}}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers or None)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if _is_api(request):
            return error_json(exc.status_code, message, headers=exc.headers)
        return render(request, "error.html", {"status": exc.status_code, "message": message},
                      status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        if _is_api(request):
            return error_json(422, "The request is not valid.", details=details)
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "Invalid input."
        return render(request, "error.html", {"status": 422, "message": message}, status_code=422)

    @app.exception_handler(StorageError)
    async def storage_failed(request: Request, exc: StorageError):
        if _is_api(request):
            return error_json(503, str(exc))
        return render(request, "error.html", {"status": 503, "message": str(exc)}, status_code=503)

    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: OperationalError):
        # SQLite still locked after the busy timeout, or the database server unreachable: nothing was
        # committed (the session rolled back), so the client can simply try again.
        message = "The database is busy or unreachable; nothing was saved. Please try again."
        if _is_api(request):
            response = error_json(503, message)
        else:
            response = render(request, "error.html", {"status": 503, "message": message}, status_code=503)
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        from urllib.parse import quote

        target = "/setup" if exc.needs_setup else f"/login?next={quote(exc.next_path, safe='/')}"
        if is_htmx(request):
            return JSONResponse({}, status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed):
        message = "This form has expired or came from another site. Reload the page and try again."
        return render(request, "error.html", {"status": 403, "message": message}, status_code=403)
