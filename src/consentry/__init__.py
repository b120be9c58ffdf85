"""consentry: marketing email that can prove, message by message, that it was lawful to send."""

__version__ = "0.1.0"
