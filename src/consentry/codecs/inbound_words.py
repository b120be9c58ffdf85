"""What a person wrote: the first lines of their own text in a reply (never the quoted message
below it), and whether the subject or those lines ask to stop (R20: replies saying
"unsubscribe" or "stop").

* The text is the first ``text/plain`` part that is not an attachment and not inside a returned
  or forwarded message, else the first ``text/html`` part read as text with ``<blockquote>`` and
  the quote containers of Gmail, Outlook and Thunderbird left out.
* A person's own lines end at the first quote: a ``>`` line, an attribution ("On ... wrote:",
  "Le ... a écrit :", "Am ... schrieb ...:", ...), an Outlook header block or separator, a
  forwarded-message marker or the ``-- `` signature line. Only the first few lines before it
  count.
* Asking to stop: a clear phrase anywhere in those lines or the subject (unsubscribe, opt out,
  remove me, take me off, no longer wish to receive, désabonner, désinscrire, abmelden,
  abbestellen, austragen, darme de baja, afmelden, uitschrijven, disiscrivimi, ...), unless a
  negation comes just before it; or a line (or subject) that is only "stop" or "cancel" with a
  few words around it ("STOP", "stop sending me these please"), so that "Don't stop believing"
  in a quoted campaign subject or "can't stop smiling" in a note does not count.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message
from html.parser import HTMLParser
from typing import Final

from consentry.codecs.inbound_mime import part_text, payload_of

MAX_LINES: Final = 6  # of a person's own text, counted after blank lines are dropped

_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|tr|sv|vs|antw|rif|r|réf|enc|rv)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+",
    re.IGNORECASE,
)
_STRONG = re.compile(
    r"\b(?:un-?subscribe\w*|unsub|opt(?:ing)?[\s-]?out|remove\s+me|take\s+me\s+off"
    r"|no\s+longer\s+(?:wish|want)\s+to\s+receive|stop\s+(?:sending|emailing|mailing|receiving"
    r"|getting|contacting)\b|d[ée]s(?:abonn|inscri|incri)\w*|abmeld\w*|abbestell\w*|austragen"
    r"|(?:darme|dar|darse)\s+de\s+baja|desuscrib\w*|desinscrib\w*|afmeld\w*|uitschrijv\w*"
    r"|disiscriv\w*|cancellami|annulla\w*\s+(?:l'\s*)?iscrizione)"
)
_NEGATED = re.compile(r"\b(?:don['\u2019]?t|do\s+not|never|not|nicht|ne)\s+(?:\w+\s+){0,2}$")
_ONLY_STOP = re.compile(
    r"(?:please\s+|pls\s+|bitte\s+)?(?:stop|stopp|cancel|arr[êe]t(?:er|ez)?|baja)"
    r"(?:\s+(?:it|all|now|this|these|them|sending|emailing|mailing|me|emails?|e-mails?|mails?"
    r"|messages?|newsletters?|please|pls|thanks|thank\s+you|bitte|svp|merci|por\s+favor))*"
)
_ATTRIBUTION = re.compile(
    r"^(?:on\s.+\bwrote|le\s.+\ba\s+écrit|am\s.+\bschrieb.*|el\s.+\bescribió|il\s.+\bha\s+scritto"
    r"|op\s.+\bschreef.*|em\s.+\bescreveu|.+\bwrote)\s*:$",
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTION_START = re.compile(r"(?:on|le|am|el|il|op|em)\s", re.IGNORECASE)
_BOUNDARY = re.compile(
    r"^(?:-{2,}\s*(?:original\s+message|forwarded\s+message|ursprüngliche\s+nachricht"
    r"|message\s+d'origine|mensaje\s+original)\s*-{2,}|_{8,}|-{8,}|--\s?"
    r"|(?:from|de|von|van|da|från|fra):\s.*|sent\s+from\s+my\s.*|begin\s+forwarded\s+message:?)$",
    re.IGNORECASE,
)
_PUNCTUATION = re.compile(r"[^\w\s'-]+")


def subject_line(subject: str) -> str:
    """The subject without Re:/Fwd:/AW:/TR:... prefixes."""
    return _PREFIX.sub("", subject).strip()


def body_text(msg: Message) -> str:
    """The person's text: the first readable plain part, else the first HTML part as text."""
    plain = _first_text(msg, "text/plain")
    if plain is not None:
        return part_text(plain)
    html = _first_text(msg, "text/html")
    return html_text(part_text(html)) if html is not None else ""


def own_lines(text: str, limit: int = MAX_LINES) -> list[str]:
    """The first non-empty lines of ``text`` before anything quoted (see the module docstring)."""
    lines = [unicodedata.normalize("NFC", line).strip() for line in text.splitlines()]
    out: list[str] = []
    for i, line in enumerate(lines):
        if not line:
            continue
        if line.startswith(">") or line.startswith("|>") or _BOUNDARY.match(line):
            break
        if _attribution(line, lines[i + 1 : i + 3]):
            break
        out.append(line)
        if len(out) >= limit:
            break
    return out


def asks_to_stop(subject: str, lines: list[str]) -> bool:
    """True when the subject or one of the person's own lines asks to unsubscribe or stop."""
    return any(_asks(text) for text in [subject_line(subject), *lines])


def _asks(text: str) -> bool:
    folded = text.casefold()
    for match in _STRONG.finditer(folded):
        if not _NEGATED.search(folded[: match.start()]):
            return True
    bare = " ".join(_PUNCTUATION.sub(" ", folded).split())
    return bool(_ONLY_STOP.fullmatch(bare))


def _attribution(line: str, following: list[str]) -> bool:
    """An attribution line, also when a client wraps one ("On ... <a@b>" / "wrote:") over up to
    three lines."""
    if len(line) > 400:
        return False
    if _ATTRIBUTION.match(line):
        return True
    if not _ATTRIBUTION_START.match(line):
        return False
    candidate = line
    for extra in following:
        if not extra:
            return False
        candidate = f"{candidate} {extra}"
        if _ATTRIBUTION.match(candidate):
            return True
    return False


def _first_text(msg: Message, content_type: str) -> Message | None:
    """The first ``content_type`` part that is not an attachment, not descending into
    ``message/*`` parts (a forwarded or returned message is not the sender's text)."""
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_maintype() == "message" and part is not msg:
            continue
        payload = payload_of(part)
        if part.is_multipart() and isinstance(payload, list):
            stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
        if part.get_content_type() == content_type and disposition != "attachment":
            return part
    return None


_QUOTE_CLASSES: Final = ("gmail_quote", "gmail_extra", "moz-cite-prefix", "yahoo_quoted",
                         "protonmail_quote", "outlookmessageheader")  # fmt: skip
_END_IDS: Final = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")
_BLOCK_TAGS: Final = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "hr", "table"})
_VOID_TAGS: Final = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col"})


class _TextOfHTML(HTMLParser):
    """Text of an HTML reply without what it quotes: skips <blockquote>, quote containers,
    <style>, <script> and <head>, and stops at Outlook's reply header."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping: list[str] = []  # the tags whose content is being skipped, innermost last
        self.open: list[str] = []
        self.ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.ended:
            return
        values = {k: (v or "").lower() for k, v in attrs}
        if values.get("id", "") in _END_IDS:
            self.ended = True
            return
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag in _VOID_TAGS:
            return
        quoted = tag == "blockquote" or any(c in values.get("class", "") for c in _QUOTE_CLASSES)
        if self.skipping or quoted or tag in ("style", "script", "head", "title"):
            self.skipping.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag in self.open:
            while self.open:
                closed = self.open.pop()
                if self.skipping and self.skipping[-1] == closed:
                    self.skipping.pop()
                if closed == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.ended and not self.skipping:
            self.chunks.append(data)


def html_text(html: str) -> str:
    parser = _TextOfHTML()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)
