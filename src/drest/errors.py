"""One exception type for bad input, so shells (the CLI) can print its one-line message."""


class DrestError(ValueError):
    """Invalid input; the message names the field and the fix. The CLI prints it as one line."""
