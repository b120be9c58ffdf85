"""Who a campaign says it is from, what each jurisdiction makes it show, and the footer (R29).

:func:`check_identity` lists everything the jurisdiction requires that the identity lacks and
raises one ``SenderIdentityMissing`` naming all of it (reference/requirements.md §2.1, §2.4, §2.5,
§2.6 and R29). The rules are the same for marketing and service templates: a service message
that goes to a list still identifies its sender, and failing closed costs nothing here.

* UK and EU (PECR reg 23, ePrivacy): the sender's name, so that its identity is not "disguised
  or concealed", and "a valid address to which the recipient may send a request that such
  communications cease". Every message has the one-click unsubscribe URL, but consentry also
  requires ``opt_out_email``, a mailbox that takes opt-out requests: an address, in the plain
  sense the regulation uses, that works without a browser and outlives any web front end.
* US (CAN-SPAM): a valid physical postal address. Marketing messages are also marked as an
  advertisement, which the footer does automatically.
* Canada (CASL s.6(2), Regulations s.2): the sender's name, a mailing address, and a phone
  number, email address or web address to contact the sender (``contact``).

In every jurisdiction a display name must not conceal the sender (reg 23; Gmail's display-name
rules): a name that looks like an email address, and so can pose as another sender, is refused.
Header-bound values (name, from, reply-to and opt-out addresses) are checked for CR/LF/NUL
(``HeaderInjection``, R27) and addresses are parsed with ``parse_address`` (``InvalidAddress``).

:func:`footer_text` and :func:`footer_html` return the footer as Jinja *source*, for
``services.templates`` to render with the body. The only Jinja in it is the recipient field
``{{ unsubscribe_url }}``; every sender value is escaped so that it can never be read as Jinja
(text: each ``{`` becomes the expression ``{{ "{" }}``; HTML: values are HTML-escaped and ``{``
and ``}`` become character references).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from consentry.domain.addresses import parse_address
from consentry.domain.errors import SenderIdentityMissing
from consentry.domain.message_headers import check_header_value
from consentry.domain.profiles import Jurisdiction, TemplateClass

__all__ = ["SenderIdentity", "check_identity", "footer_html", "footer_text"]

ADVERTISEMENT = "This message is an advertisement."
UNSUBSCRIBE_FIELD = "{{ unsubscribe_url }}"
_LOOKS_LIKE_ADDRESS = re.compile(r"[^\s@]@[^\s@]+\.[^\s@]")


@dataclass(frozen=True)
class SenderIdentity:
    """The sender as the recipient sees it.

    ``name`` is the controller or sender shown in From and in the footer; ``from_address`` the
    literal From address; ``postal_address`` may span lines; ``contact`` is a phone number, email
    address or web address; ``opt_out_email`` a mailbox that takes opt-out requests (used for the
    ``mailto:`` in List-Unsubscribe and shown in the footer)."""

    name: str
    from_address: str
    reply_to: str | None = None
    postal_address: str | None = None
    contact: str | None = None
    opt_out_email: str | None = None


def _present(value: str | None) -> bool:
    return value is not None and bool(value.strip())


def check_identity(
    identity: SenderIdentity, jurisdiction: Jurisdiction, template_class: TemplateClass
) -> None:
    """Raise ``SenderIdentityMissing`` listing everything ``jurisdiction`` needs that
    ``identity`` lacks; ``HeaderInjection`` or ``InvalidAddress`` for a value that cannot go
    into a header. ``template_class`` changes only the footer (the US advertisement marking)."""
    check_header_value("sender name", identity.name)
    parse_address(_header("from address", identity.from_address))
    for what, value in (("reply-to", identity.reply_to), ("opt-out", identity.opt_out_email)):
        if value is not None:
            parse_address(_header(f"{what} address", value))

    missing: list[str] = []
    needs_name = jurisdiction in (Jurisdiction.UK, Jurisdiction.EU, Jurisdiction.CA)
    if needs_name and not _present(identity.name):
        missing.append("the sender's name (name)")
    if jurisdiction in (Jurisdiction.UK, Jurisdiction.EU) and not _present(identity.opt_out_email):
        missing.append("a valid address for opt-out requests (opt_out_email; PECR reg 23)")
    if jurisdiction in (Jurisdiction.US, Jurisdiction.CA) and not _present(identity.postal_address):
        law = "CAN-SPAM" if jurisdiction is Jurisdiction.US else "CASL"
        missing.append(f"a postal address (postal_address; {law})")
    if jurisdiction is Jurisdiction.CA and not _present(identity.contact):
        missing.append("a phone number, email or web address to contact (contact; CASL)")
    if _LOOKS_LIKE_ADDRESS.search(identity.name):
        missing.append(
            f"a display name that does not conceal the sender: {identity.name!r} looks like "
            "an email address"
        )
    if missing:
        profile = f"the {jurisdiction.value.upper()} profile"
        raise SenderIdentityMissing(
            f"the sender identity lacks what {profile} requires ({template_class.value}): "
            + "; ".join(missing)
        )


def _header(field: str, value: str) -> str:
    check_header_value(field, value)
    return value


def _lines(value: str | None) -> list[str]:
    if value is None:
        return []
    return [line.strip() for line in value.splitlines() if line.strip()]


def _jinja_text(value: str) -> str:
    """``value`` as Jinja source that renders to exactly ``value`` without autoescape."""
    return value.replace("{", '{{ "{" }}')


def _jinja_html(value: str) -> str:
    """``value`` HTML-escaped, as Jinja source that renders to exactly that."""
    return html.escape(value).replace("{", "&#123;").replace("}", "&#125;")


def footer_text(
    identity: SenderIdentity, jurisdiction: Jurisdiction, template_class: TemplateClass
) -> str:
    """The plain-text footer as Jinja source, to follow a body ending in a line break; it
    starts with an empty line and ends with a line break."""
    lines = ["", "----"]
    if jurisdiction is Jurisdiction.US and template_class is TemplateClass.MARKETING:
        lines.append(ADVERTISEMENT)
    if _present(identity.name):
        lines.append(f"Sent by {_jinja_text(identity.name.strip())}")
    lines += [_jinja_text(line) for line in _lines(identity.postal_address)]
    if _present(identity.contact):
        lines.append(f"Contact: {_jinja_text(str(identity.contact).strip())}")
    lines.append(f"Unsubscribe: {UNSUBSCRIBE_FIELD}")
    if _present(identity.opt_out_email):
        mailbox = _jinja_text(str(identity.opt_out_email).strip())
        lines.append(f"Or email {mailbox} to stop these emails.")
    return "\n".join(lines) + "\n"


def footer_html(
    identity: SenderIdentity, jurisdiction: Jurisdiction, template_class: TemplateClass
) -> str:
    """The HTML footer as Jinja source (for an autoescaping environment), one ``<div>``."""
    paragraphs: list[str] = []
    if jurisdiction is Jurisdiction.US and template_class is TemplateClass.MARKETING:
        paragraphs.append(f"<strong>{ADVERTISEMENT}</strong>")
    who = ([f"Sent by {_jinja_html(identity.name.strip())}"] if _present(identity.name) else []) + [
        _jinja_html(line) for line in _lines(identity.postal_address)
    ]
    if who:
        paragraphs.append("<br>".join(who))
    if _present(identity.contact):
        paragraphs.append(f"Contact: {_jinja_html(str(identity.contact).strip())}")
    paragraphs.append(f'<a href="{UNSUBSCRIBE_FIELD}">Unsubscribe</a> from these emails.')
    if _present(identity.opt_out_email):
        mailbox = _jinja_html(str(identity.opt_out_email).strip())
        paragraphs.append(
            f'Or email <a href="mailto:{mailbox}">{mailbox}</a> to stop these emails.'
        )
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return f'\n<div class="consentry-footer" style="font-size:12px;color:#555">\n{body}</div>\n'
