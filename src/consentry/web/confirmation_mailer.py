"""The serve process's way out for double opt-in confirmations: a background thread that sends
what signups queued, through the dispatcher (``bootstrap.flush_confirmations``).

A signup kicks it, so a confirmation leaves within moments; it also wakes every
``interval`` seconds for deferred messages and for signups taken by another process. It has its
own connection to the store. Errors are logged and retried on the next wake-up: the messages stay
queued, nothing is lost."""

from __future__ import annotations

import logging
import threading

from consentry.bootstrap import App, flush_confirmations, open_app
from consentry.settings import Settings

log = logging.getLogger("consentry.confirmations")


class ConfirmationMailer:
    def __init__(self, settings: Settings, interval: float = 30.0) -> None:
        if not settings.smtp_url:
            raise ValueError("the confirmation mailer needs CONSENTRY_SMTP_URL")
        if not settings.base_url or not settings.base_url.startswith("https://"):
            raise ValueError("the confirmation mailer needs an https:// CONSENTRY_BASE_URL")
        self.settings = settings
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # completed rounds, for tests and health checks
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="consentry-confirmations")
        self._thread.daemon = True
        self._thread.start()
        self.kick()  # whatever an earlier run left queued

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        app: App | None = None
        try:
            while not self._stopping.is_set():
                self._wake.wait(self.interval)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                try:
                    app = app or open_app(self.settings)
                    assert self.settings.smtp_url and self.settings.base_url
                    flush_confirmations(app, self.settings.smtp_url, self.settings.base_url)
                except Exception:
                    self.errors += 1
                    log.exception("sending double opt-in confirmations failed; will retry")
                self.rounds += 1
        finally:
            if app is not None:
                app.close()
