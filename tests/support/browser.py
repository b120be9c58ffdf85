"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright
(never a downloaded browser), where the screenshots go, and the checks a page must pass, computed
in the browser from what it rendered (computed styles, layout boxes, accessible names).

Without Chromium (or Playwright) the browser tests skip with the reason; in CI (``CI`` set) they
fail instead, so a CI machine without the browser cannot pass them by skipping.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_ENV = "CONSENTRY_TEST_ARTIFACTS"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
MIN_TEXT_CONTRAST = 4.5  # WCAG 2.x AA, normal-size text


def require_chromium() -> Path:
    """The Chromium binary, or a skip saying what is missing; in CI (``CI`` set) a failure."""
    problem = None
    if not os.access(CHROMIUM, os.X_OK):
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the Python package playwright is not installed in this environment"
    if problem is not None:
        message = f"browser tests need headless Chromium: {problem}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}. CI must run the browser tests.")
        pytest.skip(message)
    return CHROMIUM


def artifacts_dir() -> Path:
    """Where screenshots go: ``$CONSENTRY_TEST_ARTIFACTS``, else ``<repo>/test-artifacts``."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG of ``page`` as ``<artifacts>/browser/<name>.png``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = artifacts_dir() / "browser" / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


# --- checks computed in the page ------------------------------------------------------------------

# For every element with its own visible text: its colour and the colour behind it (the first
# opaque background up the tree, alpha-blended, white at the root), and the WCAG contrast ratio.
_CONTRAST_JS = """() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return [0, 0, 0, 1];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c); if (c[3] >= 1) break; }
    let bg = [255, 255, 255, 1];
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg; };
  const lum = (c) => { const ch = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]; };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent)
      .join('').trim();
    const r = el.getBoundingClientRect();
    if (!own || r.width === 0 || r.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || Number(style.opacity) === 0) continue;
    const bg = background(el), fg = over(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({text: own.slice(0, 60), tag: el.tagName.toLowerCase(), color: style.color,
              background: `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`,
              ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return out;
}"""

# The page's width against the viewport's, and every element that sticks out on the right.
_OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > width + 0.5 || r.left < -0.5))
      out.push({tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim().slice(0, 40),
                left: r.left, right: r.right});
  }
  return {viewport: width, scroll: document.documentElement.scrollWidth, sticking_out: out};
}"""

# Every control a person can operate (not type=hidden), described for the failure message.
_CONTROLS_JS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), button, select, textarea, [role=button], [role=checkbox]')]
  .filter(el => !el.closest('[aria-hidden="true"]'))  // hidden from assistive tech by design
  .map(el => el.outerHTML.slice(0, 120))"""

_FOCUSED_JS = """() => { const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), type: el.type || '', id: el.id,
          text: (el.innerText || el.value || '').trim(),
          outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
          outlined: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0}; }"""

_CONTROL_ROLES = ("button", "checkbox", "radio", "textbox", "combobox", "listbox", "switch")


@dataclass(frozen=True)
class Contrast:
    text: str
    tag: str
    color: str
    background: str
    ratio: float


def text_contrasts(page: Any) -> list[Contrast]:
    """Every piece of visible text on the page with its contrast ratio against what is behind it."""
    return [Contrast(**found) for found in page.evaluate(_CONTRAST_JS)]


def horizontal_overflow(page: Any) -> dict[str, Any]:
    """``viewport`` and ``scroll`` widths, and the elements that stick out of the viewport."""
    result: dict[str, Any] = page.evaluate(_OVERFLOW_JS)
    return result


def unlabelled_controls(page: Any) -> list[str]:
    """Controls without an accessible name, by Playwright's accessible-name computation: every
    control must be found by its role with a non-empty name."""
    controls = page.evaluate(_CONTROLS_JS)
    named = sum(page.get_by_role(role, name=re.compile(r"\S")).count() for role in _CONTROL_ROLES)
    if named == len(controls):
        return []
    nameless = []
    for role in _CONTROL_ROLES:
        every = page.get_by_role(role)
        for i in range(every.count()):
            item = every.nth(i)
            label = item.evaluate(
                "el => (el.labels && [...el.labels].map(l => l.innerText).join(' ')) || "
                "el.getAttribute('aria-label') || el.innerText || ''"
            )
            if not str(label).strip():
                nameless.append(item.evaluate("el => el.outerHTML.slice(0, 120)"))
    return nameless or [f"{len(controls)} controls but {named} with a name: {controls}"]


def focused(page: Any) -> dict[str, Any] | None:
    """What has the keyboard focus (tag, type, id, text, its outline), or None for the body."""
    result: dict[str, Any] | None = page.evaluate(_FOCUSED_JS)
    return result


def tab_until(page: Any, wanted: Any, limit: int = 12) -> tuple[dict[str, Any], int]:
    """Press Tab until ``wanted(focused(page))`` holds; the focused element and the presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        now = focused(page)
        if now is not None and wanted(now):
            return now, presses
    raise AssertionError(f"{limit} presses of Tab never reached the element; last: {now}")
