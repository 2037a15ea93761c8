"""PDF extraction in a child process, so a hostile or broken PDF cannot hang, crash or bloat the worker.

How it runs: each caller process owns one small child (``python -m app.extract.sandbox``) that
imports PyMuPDF once and then extracts one PDF per request, answering with one JSON line:

- wall clock: the caller kills the child at ``timeout`` and starts a new one for the next PDF;
- CPU: before each PDF the child sets RLIMIT_CPU to the CPU it has used plus ``timeout``;
- memory: RLIMIT_AS for the child's whole address space; after running out, the child exits;
- a crash (SIGSEGV, abort) kills only the child; the next PDF gets a new one.

Reusing the child keeps the sandbox close to in-process speed (bench/extract_bench.py measured
0.83-0.92 of raw ``get_text()``); forking a fresh process per PDF from a warm parent measured
0.70-0.75. Calls from several threads take turns on the one child.
"""

from __future__ import annotations

import atexit
import base64
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.extract.pdf import PdfText

if TYPE_CHECKING:
    from app.config import Settings

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SNIFF_BYTES = 1024  # the PDF header may follow a little junk (the spec allows it; readers do)
MAX_JOBS_PER_CHILD = 500  # then a fresh child, so nothing MuPDF keeps piles up forever


class ExtractError(Exception):
    """Extraction failed; ``str(error)`` is a sentence for the user, ``kind`` a stable code:
    not_pdf, too_large, encrypted, damaged, timeout, memory, crashed, missing."""

    def __init__(self, message: str, *, kind: str = "damaged") -> None:
        super().__init__(message)
        self.kind = kind


def extract_in_child(path: str | Path, settings: Settings) -> PdfText:
    """Extract ``path`` in a child process under the limits in ``settings``.

    Limits: ``extract_timeout`` (wall clock, and the CPU limit), ``extract_max_memory_mb``
    (address space), ``extract_max_pages`` (pages beyond are not read; ``truncated`` says so)
    and ``fetch_max_bytes`` (larger files are refused before MuPDF sees them).
    """
    return default_sandbox().extract(
        path,
        timeout=settings.extract_timeout,
        max_pages=settings.extract_max_pages,
        memory_mb=settings.extract_max_memory_mb,
        max_bytes=settings.fetch_max_bytes,
    )


def thumbnail_in_child(path: str | Path, settings: Settings, *, width: int = 240) -> bytes:
    """PNG of page 1, rendered in the child process under the same limits."""
    return default_sandbox().thumbnail(
        path,
        width=width,
        timeout=settings.extract_timeout,
        memory_mb=settings.extract_max_memory_mb,
        max_bytes=settings.fetch_max_bytes,
    )


_default: ExtractSandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> ExtractSandbox:
    """This process's sandbox, started on first use (a forked worker gets its own)."""
    global _default
    with _default_lock:
        if _default is None or _default.owner_pid != os.getpid():
            _default = ExtractSandbox()
            atexit.register(_default.close)
        return _default


class ExtractSandbox:
    """A handle on one extraction server. Thread-safe; ``close()`` stops the server."""

    def __init__(self) -> None:
        self.owner_pid = os.getpid()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._memory_mb = 0
        self._jobs = 0
        self._buffer = b""

    # Public --------------------------------------------------------------------------------

    def extract(
        self,
        path: str | Path,
        *,
        timeout: float = 120.0,
        max_pages: int = 2000,
        memory_mb: int = 1024,
        max_bytes: int | None = None,
    ) -> PdfText:
        path = _check_file(path, max_bytes)
        reply = self._call(
            {"op": "extract", "path": str(path), "max_pages": max_pages},
            timeout=timeout,
            memory_mb=memory_mb,
        )
        return PdfText.from_dict(reply["result"])

    def thumbnail(
        self,
        path: str | Path,
        *,
        width: int = 240,
        timeout: float = 120.0,
        memory_mb: int = 1024,
        max_bytes: int | None = None,
    ) -> bytes:
        path = _check_file(path, max_bytes)
        reply = self._call(
            {"op": "thumbnail", "path": str(path), "width": width},
            timeout=timeout,
            memory_mb=memory_mb,
        )
        return base64.b64decode(reply["result"])

    def start(self, memory_mb: int = 1024) -> None:
        """Start the child now (a worker may call this at boot so the first PDF is not slower)."""
        with self._lock:
            self._ensure_server(memory_mb)

    def close(self) -> None:
        with self._lock:
            self._stop_server()

    # Internals -----------------------------------------------------------------------------

    def _call(self, request: dict[str, Any], *, timeout: float, memory_mb: int) -> dict[str, Any]:
        request = {**request, "timeout": timeout}
        with self._lock:
            proc = self._ensure_server(memory_mb)
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
                line = self._read_line(proc, deadline=time.monotonic() + timeout)
            except TimeoutError as exc:
                self._stop_server()
                raise ExtractError(
                    f"PDF extraction timed out after {timeout:g} s", kind="timeout"
                ) from exc
            except (BrokenPipeError, EOFError) as exc:
                returncode = self._stop_server()
                if returncode == -signal.SIGXCPU:
                    raise ExtractError(
                        f"PDF extraction timed out after {timeout:g} s", kind="timeout"
                    ) from exc
                raise ExtractError(_crash_message(returncode), kind="crashed") from exc
            reply = json.loads(line)
            self._jobs += 1
            if reply.get("retire") or self._jobs >= MAX_JOBS_PER_CHILD:
                self._stop_server()
        if not reply.get("ok"):
            raise ExtractError(reply["message"], kind=reply["kind"])
        return reply

    def _ensure_server(self, memory_mb: int) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None and self._memory_mb == memory_mb:
            return self._proc
        self._stop_server()
        pythonpath = [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "app.extract.sandbox", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))},
            cwd=_PROJECT_ROOT,
        )
        self._memory_mb = memory_mb
        self._jobs = 0
        self._buffer = b""
        return self._proc

    def _stop_server(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()  # the child holds nothing worth a graceful stop
        returncode = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        return returncode

    def _read_line(self, proc: subprocess.Popen[bytes], *, deadline: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise EOFError
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


def _crash_message(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        return f"PDF extraction crashed ({name}); the file is probably damaged"
    return f"PDF extraction crashed (exit status {returncode})"


def _check_file(path: str | Path, max_bytes: int | None) -> Path:
    """Refuse, without MuPDF, what is missing, too large, or plainly not a PDF."""
    path = Path(path).resolve()  # the child runs in the project directory, not the caller's
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ExtractError(f"the file could not be read ({exc.strerror})", kind="missing") from exc
    if max_bytes is not None and size > max_bytes:
        raise ExtractError(
            f"the file is {size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.1f} MB limit",
            kind="too_large",
        )
    if b"%PDF-" not in head:
        lowered = head.lstrip().lower()
        if not head:
            what = "the file is empty"
        elif lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
            what = "the file is a web page (HTML)"
        else:
            what = "the file does not start with a PDF header"
        raise ExtractError(f"not a PDF: {what}", kind="not_pdf")
    return path


# The child process ----------------------------------------------------------------------


def _serve(memory_mb: int) -> None:
    """Answer one JSON request a line from stdin with one JSON line on stdout, until EOF.

    The address-space limit is set once; the CPU limit is moved before each job to "CPU used so
    far + this job's timeout", so one slow PDF cannot borrow another's time. After running out of
    memory the child answers and exits: MuPDF's state after a failed allocation is not trusted.
    """
    import resource

    import pymupdf  # mapped before the limit: its libraries are not what the limit is for

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        request = json.loads(line)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_limit = math.ceil(usage.ru_utime + usage.ru_stime + float(request["timeout"])) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, resource.RLIM_INFINITY))
        try:
            reply = {"ok": True, "result": _do(request)}
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
            reply = _classify(exc, memory_mb)
        try:
            payload = json.dumps(reply, ensure_ascii=False).encode()
        except MemoryError:
            reply = _classify(MemoryError(), memory_mb)
            payload = json.dumps(reply).encode()
        # Near the limit once means the next PDF would start short of memory: start afresh.
        retire = reply.get("kind") == "memory" or _vm_peak() > 0.75 * memory
        out.write(payload[:-1] + b', "retire": true}\n' if retire else payload + b"\n")
        out.flush()
        if retire:
            return


def _vm_peak() -> int:
    """Peak address space of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _do(request: dict[str, Any]) -> Any:
    from app.extract.pdf import extract_pdf, render_thumbnail

    if request["op"] == "thumbnail":
        return base64.b64encode(render_thumbnail(request["path"], int(request["width"]))).decode()
    return extract_pdf(request["path"], max_pages=int(request["max_pages"])).to_dict()


def _classify(exc: BaseException, memory_mb: int) -> dict[str, Any]:
    text = str(exc)
    lowered = text.lower()
    # MuPDF reports a failed allocation while opening as "Failed to open file": the peak address
    # space near the limit tells it apart from a damaged file.
    near_limit = _vm_peak() > 0.9 * memory_mb * 1024 * 1024
    if (
        isinstance(exc, MemoryError)
        or "malloc" in lowered
        or "out of memory" in lowered
        or near_limit
    ):
        return _failure("memory", f"PDF extraction ran out of memory (limit {memory_mb} MB)")
    if isinstance(exc, PermissionError) or "password" in lowered or "encrypt" in lowered:
        return _failure("encrypted", "the PDF is password-protected; save an unlocked copy")
    if "no objects found" in lowered or "is no pdf" in lowered or "not a pdf" in lowered:
        return _failure("not_pdf", "not a PDF: MuPDF found no PDF objects in it")
    detail = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    if "failed to open file" in lowered:
        detail = "MuPDF could not open it"
    detail = re.sub(r"'/[^']*'", "the file", detail)  # no server paths in what the user reads
    return _failure("damaged", f"the PDF is damaged or corrupt ({detail})")


def _failure(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message}


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
