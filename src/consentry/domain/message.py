"""Campaign messages: the public face of ``message_headers``, ``message_splice`` and
``message_lint``.

Build a :class:`SplicedMessage` once per campaign from :class:`CampaignHeaders` and the compiled
bodies (``services.templates``), then :meth:`SplicedMessage.render` it per :class:`Recipient`;
:func:`lint_headers` is the R17 header linter run on rendered messages in CI and on a production
sample.
"""

from __future__ import annotations

from consentry.domain.message_headers import (
    LIST_UNSUBSCRIBE_POST,
    CampaignHeaders,
    check_header_block,
    check_header_value,
    format_date,
)
from consentry.domain.message_lint import lint_headers
from consentry.domain.message_splice import RECIPIENT_FIELDS, Recipient, Slot, SplicedMessage

__all__ = [
    "LIST_UNSUBSCRIBE_POST",
    "RECIPIENT_FIELDS",
    "CampaignHeaders",
    "Recipient",
    "Slot",
    "SplicedMessage",
    "check_header_block",
    "check_header_value",
    "format_date",
    "lint_headers",
]
