"""Path converters: ids that fit a bigint, so a 30-digit id is a 404 and not a database error."""


class IdConverter:
    regex = "[0-9]{1,18}"
    # What the OpenAPI schema says of such an id (SPECTACULAR_SETTINGS' PATH_CONVERTER_OVERRIDES);
    # 0 routes too, but no row has it.
    schema = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 10**18 - 1}

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
