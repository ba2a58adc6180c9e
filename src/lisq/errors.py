"""One exception type for user mistakes: the CLI prints its message as one line and exits 2."""


class LisqError(Exception):
    """A problem the user can fix (bad path, unknown name, mismatched weights...).

    The message must say what is wrong and how to fix it, in one line.
    """
