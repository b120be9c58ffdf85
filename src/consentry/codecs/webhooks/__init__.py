"""Provider webhook payloads into :class:`~consentry.domain.provider_events.ProviderEvent` values.

One pure module per provider (``ses``, ``sendgrid``, ``mailgun``, ``postmark``): a decoded JSON
payload in, a list of events out, nothing verified here (``consentry.web.webhook_auth`` checks
signatures before a payload is trusted) and nothing read from the outside world. A payload that
does not have the provider's shape raises :class:`~consentry.domain.errors.InputError` naming the
field. ``fields`` holds the small readers they share; ``config`` reads the webhook settings from
environment variables.
"""
