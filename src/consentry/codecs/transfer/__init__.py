"""Provider migration codecs (issue 5): readers of every provider's export formats into
``domain.transfer`` records, writers of the formats each provider can import, format detection.
See ``registry`` for the list and docs/transfer.md for what each maps to what."""
