"""Campaign templates compiled once into the parts a ``SplicedMessage`` is built from.

A campaign has three Jinja2 templates: ``subject``, ``text`` and (optionally) ``html``. They are
compiled and checked once per campaign, never per recipient:

* A ``SandboxedEnvironment`` with ``StrictUndefined`` and no globals; autoescape is on for HTML and
  off for the text and the subject. A syntax error is a ``TemplateError`` naming the template and
  the line.
* Templates may name only :data:`CAMPAIGN_FIELDS` (``sender``, ``campaign``, ``list``) and the
  recipient fields ``email`` and ``unsubscribe_url`` (a double opt-in confirmation also
  ``confirm_url``); the subject only campaign fields. Anything else is a ``TemplateError``
  naming the fields.
* Recipient fields may only be output as they are, ``{{ email }}``, at the top level or inside
  ``if``, ``for`` and ``with`` blocks: not filtered, tested, sliced, captured or used in a macro,
  since the output per recipient is spliced in later, outside Jinja.
* Rendering happens once, with a sentinel (letters and digits, checked not to occur in any
  template or campaign value) in place of each recipient field; the output is split at the
  sentinels into ``str`` and ``Slot`` parts. A sentinel that comes out altered (``|upper``
  through a macro, say) is caught and refused.
* The sender footer (``domain.sender``, R29) is rendered the same way and appended to the text and
  put before the last ``</body>`` in the HTML (else before ``</html>``, else at the end). It
  carries the visible unsubscribe link (R17).
* The rendered subject is checked for CR, LF, NUL and encoded-words (``HeaderInjection``, R27).

R16: :func:`promotional_markers` is a deliberately simple lint for promotional wording (below). A
template classed *service* in which it finds anything is refused: "a service template with
promotional content is marketing". A marketing template's markers are returned for the record.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import StrictUndefined, meta, nodes
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from consentry.domain.errors import TemplateError
from consentry.domain.message import RECIPIENT_FIELDS, Slot, check_header_value
from consentry.domain.profiles import Jurisdiction, TemplateClass
from consentry.domain.sender import SenderIdentity, check_identity, footer_html, footer_text

__all__ = [
    "CAMPAIGN_FIELDS",
    "PROMOTIONAL_MARKERS",
    "CompiledContent",
    "compile_content",
    "promotional_markers",
]

CAMPAIGN_FIELDS: Final = ("sender", "campaign", "list")
#: The recipient fields of a campaign; a double opt-in confirmation also has ``confirm_url``.
MARKETING_RECIPIENT_FIELDS: Final = ("email", "unsubscribe_url")

#: (marker reported, pattern): matched case-insensitively at word boundaries. A simple lint, not
#: a classifier: it reports wording that makes a message promotional in the ICO's sense, and a
#: reviewer decides about the rest. "sales" and "upgraded" are left out on purpose ("contact our
#: sales team", "your plan was upgraded" are service wording).
PROMOTIONAL_MARKERS: Final = (
    ("sale", r"\bsale\b"),
    ("% off", r"%\s*off\b"),
    ("discount", r"\bdiscount(?:s|ed)?\b"),
    ("offer", r"\boffers?\b"),
    ("buy now", r"\bbuy\s+now\b"),
    ("shop now", r"\bshop\s+now\b"),
    ("limited time", r"\blimited[\s-]+time\b"),
    ("free shipping", r"\bfree\s+shipping\b"),
    ("coupon", r"\bcoupons?\b"),
    ("promo code", r"\bpromo(?:tional)?\s+codes?\b"),
    ("upgrade", r"\bupgrades?\b"),
)
_MARKERS: Final = tuple((label, re.compile(p, re.IGNORECASE)) for label, p in PROMOTIONAL_MARKERS)
_TAG = re.compile(r"<[^>]*>")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_HTML_END = re.compile(r"</html\s*>", re.IGNORECASE)
#: Blocks a recipient field may be output inside; each renders its body in place, unchanged.
_PLAIN_BLOCKS: Final = (nodes.Template, nodes.Output, nodes.If, nodes.For, nodes.With, nodes.Scope)


@dataclass(frozen=True)
class CompiledContent:
    """A campaign's content, rendered once: the subject, and the bodies as ``str`` and ``Slot``
    parts with the footer in; ``promotional`` lists the R16 markers found."""

    subject: str
    text: tuple[str | Slot, ...]
    html: tuple[str | Slot, ...] | None
    promotional: tuple[str, ...]


@dataclass(frozen=True)
class _Sender:
    name: str
    postal_address: str | None
    contact: str | None
    from_address: str


@dataclass(frozen=True)
class _Campaign:
    name: str


@dataclass(frozen=True)
class _List:
    id: str
    purpose: str


def promotional_markers(text: str) -> list[str]:
    """The :data:`PROMOTIONAL_MARKERS` found in ``text``, in the order of that table."""
    return [label for label, pattern in _MARKERS if pattern.search(text)]


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.globals.clear()
    return env


_TEXT_ENV: Final = _environment(autoescape=False)
_HTML_ENV: Final = _environment(autoescape=True)


def _parse(env: SandboxedEnvironment, name: str, source: str) -> nodes.Template:
    try:
        return env.parse(source, name=name)
    except JinjaError as exc:
        line = getattr(exc, "lineno", None)
        where = f" on line {line}" if line else ""
        raise TemplateError(f"{name} template: syntax error{where}: {exc.message}") from None


def _walk(node: nodes.Node, ancestors: tuple[nodes.Node, ...]) -> Iterator[tuple[nodes.Name, bool]]:
    """Each recipient-field ``Name`` loaded in ``node``, and whether it is output plainly."""
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Name) and child.ctx == "load" and child.name in RECIPIENT_FIELDS:
            plain = isinstance(node, nodes.Output) and all(
                isinstance(a, _PLAIN_BLOCKS) for a in ancestors
            )
            yield child, plain
        yield from _walk(child, (*ancestors, node))


def _check_fields(ast: nodes.Template, name: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(meta.find_undeclared_variables(ast) - set(allowed))
    if unknown:
        recipient = [f for f in unknown if f in RECIPIENT_FIELDS]
        if recipient and name == "subject":
            raise TemplateError(
                f"the subject may use campaign fields only ({', '.join(CAMPAIGN_FIELDS)}), "
                f"not the recipient field(s) {', '.join(recipient)}"
            )
        raise TemplateError(
            f"{name} template names unknown field(s) {', '.join(unknown)}; use {', '.join(allowed)}"
        )
    for field, plain in _walk(ast, ()):
        if not plain:
            raise TemplateError(
                f"{name} template, line {field.lineno}: the recipient field {field.name!r} can "
                f"only be output as it is, {{{{ {field.name} }}}}, outside macros, filter and "
                "set blocks (it is filled in per recipient after rendering)"
            )


def _render(
    env: SandboxedEnvironment, name: str, ast: nodes.Template, ctx: Mapping[str, Any]
) -> str:
    try:
        return env.from_string(ast).render(ctx)
    except JinjaError as exc:
        raise TemplateError(f"{name} template: {exc}") from None
    except Exception as exc:  # a template is user input; whatever it does wrong is its error
        raise TemplateError(f"{name} template failed to render: {exc!r}") from None


def _sentinels(texts: list[str]) -> dict[str, str]:
    """A sentinel per recipient field: letters and digits found (case-insensitively) in none of
    ``texts``, derived from their hash so that the result is reproducible."""
    corpus = "\0".join(texts).lower()
    seed = hashlib.sha256(corpus.encode("utf-8", "surrogatepass")).hexdigest()
    out: dict[str, str] = {}
    counter = 0
    for field in RECIPIENT_FIELDS:
        while True:
            digest = hashlib.sha256(f"{seed}:{field}:{counter}".encode()).hexdigest()
            candidate = f"zq{digest[:24]}x"
            counter += 1
            if candidate not in corpus and all(candidate not in s for s in out.values()):
                out[field] = candidate
                break
    return out


def _split(output: str, sentinels: Mapping[str, str], name: str) -> list[str | Slot]:
    by_sentinel = {s: Slot(field) for field, s in sentinels.items()}
    anywhere = re.compile("|".join(sentinels.values()), re.IGNORECASE)
    for match in anywhere.finditer(output):
        if match.group() not in by_sentinel:
            raise TemplateError(
                f"{name} template changes a recipient field (a filter or macro); "
                "output recipient fields as they are"
            )
    parts: list[str | Slot] = []
    for index, piece in enumerate(re.split(f"({anywhere.pattern})", output)):
        if index % 2:
            parts.append(by_sentinel[piece])
        elif piece:
            parts.append(piece)
    return parts


def _visible_text(output: str, sentinels: Mapping[str, str], is_html: bool) -> str:
    for sentinel in sentinels.values():
        output = output.replace(sentinel, " ")
    return html.unescape(_TAG.sub(" ", output)) if is_html else output


def compile_content(
    subject: str,
    text: str,
    html: str | None,
    *,
    identity: SenderIdentity,
    jurisdiction: Jurisdiction,
    template_class: TemplateClass,
    campaign_name: str,
    list_id: str,
    list_purpose: str,
    confirmation: bool = False,
) -> CompiledContent:
    """Compile, check and render a campaign's templates once (see the module docstring).

    Raises ``SenderIdentityMissing`` (R29), ``TemplateError`` (syntax, unknown or misused
    fields, R16 promotional content in a service template) or ``HeaderInjection`` (subject)."""
    check_identity(identity, jurisdiction, template_class)
    sender = _Sender(
        name=identity.name,
        postal_address=identity.postal_address,
        contact=identity.contact,
        from_address=identity.from_address,
    )
    campaign_ctx: dict[str, Any] = {
        "sender": sender,
        "campaign": _Campaign(name=campaign_name),
        "list": _List(id=list_id, purpose=list_purpose),
    }
    footers = {
        "text": footer_text(identity, jurisdiction, template_class),
        "html": footer_html(identity, jurisdiction, template_class),
    }
    sources = {"subject": subject, "text": text} | ({} if html is None else {"html": html})
    asts: dict[str, nodes.Template] = {}
    for name, source in sources.items():
        env = _HTML_ENV if name == "html" else _TEXT_ENV
        asts[name] = _parse(env, name, source)
        fields = RECIPIENT_FIELDS if confirmation else MARKETING_RECIPIENT_FIELDS
        allowed = CAMPAIGN_FIELDS if name == "subject" else (*CAMPAIGN_FIELDS, *fields)
        _check_fields(asts[name], name, allowed)

    values = [identity.name, identity.from_address, campaign_name, list_id, list_purpose]
    values += [v for v in (identity.postal_address, identity.contact) if v is not None]
    sentinels = _sentinels([*sources.values(), *footers.values(), *values])
    ctx = campaign_ctx | sentinels

    rendered_subject = _render(_TEXT_ENV, "subject", asts["subject"], campaign_ctx)
    check_header_value("subject", rendered_subject)
    text_out = _render(_TEXT_ENV, "text", asts["text"], ctx)
    if not text_out.endswith("\n"):
        text_out += "\n"
    text_footer = _render(
        _TEXT_ENV, "text footer", _parse(_TEXT_ENV, "text footer", footers["text"]), ctx
    )
    visible = [rendered_subject, _visible_text(text_out, sentinels, is_html=False)]
    html_parts: tuple[str | Slot, ...] | None = None
    if "html" in asts:
        html_out = _render(_HTML_ENV, "html", asts["html"], ctx)
        html_footer = _render(
            _HTML_ENV, "html footer", _parse(_HTML_ENV, "html footer", footers["html"]), ctx
        )
        visible.append(_visible_text(html_out, sentinels, is_html=True))
        ends = list(_BODY_END.finditer(html_out)) or list(_HTML_END.finditer(html_out))
        at = ends[-1].start() if ends else len(html_out)
        html_parts = tuple(_split(html_out[:at] + html_footer + html_out[at:], sentinels, "html"))

    markers = promotional_markers("\n".join(visible))
    if template_class is TemplateClass.SERVICE and markers:
        found = ", ".join(f"'{m}'" for m in markers)
        raise TemplateError(
            f"a service template with promotional content is marketing (R16): found {found}"
        )
    return CompiledContent(
        subject=rendered_subject.strip(),
        text=tuple(_split(text_out + text_footer, sentinels, "text")),
        html=html_parts,
        promotional=tuple(markers),
    )
