"""Path converters: ids that fit a bigint, so a 30-digit id is a 404 and not a database error."""


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
