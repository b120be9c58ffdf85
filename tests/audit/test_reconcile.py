"""``audit reconcile-events`` (R38): a provider's event export against the ledger. Every delivery
of a message we decided to send matches its allow decision; a delivery the ledger never allowed
is reported, and so is a complaint or unsubscribe whose leaf is missing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from consentry.services.audit_delivered import clean_message_id, read_payload
from consentry.services.audit_reconcile import reconcile_events
from consentry.services.context import Context
from tests.audit.support import Population, build
from tests.conftest import FixedClock

AT = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


def ses(recipient: str, message_id: str | None, kind: str = "Delivery") -> Any:
    mail: dict[str, Any] = {
        "timestamp": "2026-03-01T14:00:00.000Z", "source": "news@example.com",
        "messageId": "0102018e5f0a1b2c-aaaa-bbbb-cccc-000000000000-000000",
        "destination": [recipient],
    }  # fmt: skip
    if message_id:
        mail["commonHeaders"] = {
            "from": ["news@example.com"],
            "to": [recipient],
            "messageId": f"<{message_id}>",
            "subject": "Spring news",
        }
    if kind == "Delivery":
        body = {
            "notificationType": "Delivery",
            "mail": mail,
            "delivery": {
                "timestamp": "2026-03-01T14:00:01.000Z",
                "recipients": [recipient],
                "processingTimeMillis": 512,
                "smtpResponse": "250 2.0.0 OK",
            },
        }
    else:
        body = {
            "notificationType": "Complaint",
            "mail": mail,
            "complaint": {
                "complainedRecipients": [{"emailAddress": recipient}],
                "timestamp": "2026-03-01T15:00:00.000Z",
                "feedbackId": "0102-feedback",
                "complaintFeedbackType": "abuse",
            },
        }
    return {
        "Type": "Notification", "MessageId": "b1f4c1d2-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
        "Message": json.dumps(body), "Timestamp": "2026-03-01T14:00:02.000Z",
        "SignatureVersion": "1", "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
    }  # fmt: skip


def sendgrid(recipient: str, message_id: str | None, kind: str = "delivered") -> Any:
    event = {"email": recipient, "timestamp": 1772373600, "event": kind,
             "sg_event_id": f"ev-{recipient}-{kind}", "sg_message_id": "14c5d75ce93.dfd.64b469.0",
             "response": "250 OK"}  # fmt: skip
    if message_id:
        event["smtp-id"] = f"<{message_id}>"
    return [event]


def mailgun(recipient: str, message_id: str | None, kind: str = "delivered") -> Any:
    data: dict[str, Any] = {
        "event": kind, "timestamp": 1772373600.25, "id": f"mg-{recipient}-{kind}",
        "recipient": recipient, "delivery-status": {"code": 250, "message": "OK"},
        "message": {"headers": {"to": recipient, "from": "news@example.com",
                                "subject": "Spring news"}},
    }  # fmt: skip
    if message_id:
        data["message"]["headers"]["message-id"] = message_id
    return {"signature": {"timestamp": "1772373600", "token": "t" * 50, "signature": "0" * 64},
            "event-data": data}  # fmt: skip


def postmark(recipient: str, message_id: str | None, kind: str = "Delivery") -> Any:
    if kind == "Delivery":
        return {"RecordType": "Delivery", "ServerID": 23, "MessageStream": "broadcast",
                "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Recipient": recipient,
                "Tag": "spring", "DeliveredAt": "2026-03-01T09:00:00-05:00",
                "Details": "smtp;250 2.0.0 OK", "Metadata": {}}  # fmt: skip
    return {"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "TypeCode": 512,
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79484", "Email": recipient,
            "BouncedAt": "2026-03-01T10:00:00-05:00", "Description": "spam"}  # fmt: skip


PROVIDERS: dict[str, tuple[Callable[..., Any], str]] = {
    "ses": (ses, "Complaint"),
    "sendgrid": (sendgrid, "spamreport"),
    "mailgun": (mailgun, "complained"),
    "postmark": (postmark, "SpamComplaint"),
}


def delivered_ids(pop: Population) -> dict[str, str]:
    assert pop.outbox is not None
    out = {}
    for env in pop.outbox.delivered:
        found = re.search(rb"^Message-ID: <([^>]+)>", env.data, re.MULTILINE | re.IGNORECASE)
        assert found is not None
        out[env.recipient] = found.group(1).decode()
    return out


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_delivery_matches_an_allow_and_a_rogue_one_is_reported(
    ctx: Context, clock: FixedClock, provider: str
) -> None:
    pop = build(ctx, clock, small=True)
    make, complaint = PROVIDERS[provider]
    by_id = provider != "postmark"  # Postmark reports its own id only: matched by recipient
    ids = delivered_ids(pop)
    lines = [json.dumps(make(r, m if by_id else None)).encode() for r, m in ids.items()]
    rogue = pop.withdrew[0]  # denied by us, yet the provider delivered something to them
    lines.append(json.dumps(make(rogue, "rogue.1@example.com" if by_id else None)).encode())
    lines.append(json.dumps(make(pop.unsubscribed[0], None, complaint)).encode())  # has its leaf
    lines.append(json.dumps(make("fresh@example.org", None, complaint)).encode())  # has none
    lines.append(b"{not json")
    report = reconcile_events(ctx, provider, lines)
    delivered = len(delivered_ids(pop))
    assert report.delivered == delivered + 1
    matched = report.matched_by_message_id if by_id else report.matched_by_recipient
    assert matched == delivered
    assert [u["recipient"] for u in report.unmatched] == [rogue]
    assert [m["recipient"] for m in report.objections_missing] == ["fresh@example.org"]
    assert len(report.problems) == 1 and report.problems[0].startswith(f"line {len(lines)}:")
    assert not report.ok


@pytest.mark.parametrize("ctx", ["memory"], indirect=True)
def test_a_delivery_matched_by_recipient_must_follow_an_allowed_handoff_closely(
    ctx: Context, clock: FixedClock
) -> None:
    pop = build(ctx, clock, small=True)  # the old provider's allowed handoffs: 2026-03-01 11:00
    recent = postmark(pop.imported[0], None)
    stale = postmark(pop.imported[1], None) | {"DeliveredAt": "2026-03-06T09:00:00-05:00"}
    report = reconcile_events(ctx, "postmark", [json.dumps(recent).encode(),
                                                json.dumps(stale).encode()])  # fmt: skip
    assert report.matched_by_recipient == 1
    assert [u["recipient"] for u in report.unmatched] == [pop.imported[1]]


@pytest.mark.parametrize("ctx", ["memory"], indirect=True)
def test_a_clean_export_reconciles(ctx: Context, clock: FixedClock) -> None:
    pop = build(ctx, clock, small=True)
    lines = [json.dumps(sendgrid(r, m)).encode() for r, m in delivered_ids(pop).items()]
    report = reconcile_events(ctx, "sendgrid", lines)
    assert report.ok and report.matched_by_message_id == len(lines)


def test_message_ids_are_read_where_each_provider_reports_them() -> None:
    assert clean_message_id(" <a.b@example.com> ") == "a.b@example.com"
    assert clean_message_id("no at sign") is None
    (event,) = read_payload("ses", json.loads(json.dumps(ses("x@example.org", "id.1@ex.com"))))
    assert event.message_id == "id.1@ex.com" and event.event.kind.value == "delivered"
    raw = json.loads(ses("x@example.org", "id.2@ex.com")["Message"])  # without the SNS envelope
    assert read_payload("ses", raw)[0].message_id == "id.2@ex.com"
    assert read_payload("mailgun", mailgun("x@example.org", "id.3@ex.com"))[0].message_id == (
        "id.3@ex.com"
    )
    with_metadata = postmark("x@example.org", None) | {"Metadata": {"message_id": "<m@ex.com>"}}
    assert read_payload("postmark", with_metadata)[0].message_id == "m@ex.com"
    assert read_payload("sendgrid", sendgrid("x@example.org", "id.4@ex.com")[0])[0].message_id == (
        "id.4@ex.com"
    )
