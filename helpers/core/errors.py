"""The one exception the book raises for bad input or an unusable environment."""


class BookError(Exception):
    """A problem the reader can fix; the message says what is wrong and how to fix it."""
