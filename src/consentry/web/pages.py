"""The HTML pages people see: one small, accessible layout (labels, visible focus, contrast above
4.5:1, a phone-width viewport), no scripts, no third-party resources, nothing cached.

Every value that comes from a request or the database goes through :func:`html.escape` before it
is put into a page; the helpers here take already-escaped HTML fragments."""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse

_STYLE = (
    "body{font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#111;background:#fff}button{font:inherit;padding:.6rem 1.2rem;border:2px solid #114;"
    "border-radius:.4rem;background:#114;color:#fff;cursor:pointer}button.secondary{"
    "background:#fff;color:#114}:focus-visible,button:focus,input:focus,a:focus{"
    "outline:3px solid #b45309;outline-offset:2px}input[type=checkbox]{width:1.5rem;"
    "height:1.5rem;flex:none;margin:.1rem 0 0}input[type=email]{font:inherit;width:100%;"
    "box-sizing:border-box;padding:.5rem;border:2px solid #444;border-radius:.3rem}"
    "li{margin:.8rem 0}a{color:#114}.choices{list-style:none;padding:0}.choices li{"
    "display:flex;gap:.6rem;align-items:flex-start}.saved{border-left:4px solid #166534;"
    "background:#f0fdf4;padding:.5rem 1rem;font-weight:600}.notice{border-left:4px solid #114;"
    "padding:.2rem 1rem;margin:1rem 0;background:#f4f4f8}.error{color:#a00000;font-weight:600}"
    ".hp{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);"
    "white-space:nowrap}"
)

#: Headers of every page: never cached, no referrer sent on, not framed (clickjacking).
NO_FRAMES = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
#: The signup form is meant to be embedded in the organisation's own pages (an iframe).
FRAMES_OK = {"Content-Security-Policy": "frame-ancestors *"}


def page(
    title: str, body: str, status: int = 200, frames: dict[str, str] | None = None
) -> HTMLResponse:
    """A page: ``title`` is text (escaped here), ``body`` is an HTML fragment already escaped."""
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        **(NO_FRAMES if frames is None else frames),
    }
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>",
        status_code=status,
        headers=headers,
    )


NOT_FOUND = "<h1>This link is not valid</h1><p>Check that you copied the whole link.</p>"


def not_found() -> HTMLResponse:
    return page("Not found", NOT_FOUND, 404)


def paragraphs(text: str) -> str:
    """Plain text as escaped HTML paragraphs (blank lines split them, line breaks are kept)."""
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return "".join(f"<p>{html.escape(b).replace(chr(10), '<br>')}</p>" for b in blocks)
