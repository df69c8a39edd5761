"""The one exception for "the rules say no"."""


class Refused(Exception):
    """What was asked cannot be done under the rules: ``message`` says why, in words staff can
    act on, and the pages show it as it is. ``field`` names the input it is about, when there is
    one (a form shows the message next to that field).

    Anything else a service raises is a bug, and surfaces as one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message
