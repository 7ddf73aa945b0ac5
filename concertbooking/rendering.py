"""JSON bodies rendered exactly as the API's renderer renders them, for answers that are cached
already rendered (the catalog reads). No DRF views here, so any module may import it."""

from rest_framework.renderers import JSONRenderer

_RENDERER = JSONRenderer()


def json_body(value) -> bytes:
    """`value` as the body `Response(value)` would carry from a JSON-only API view."""
    return _RENDERER.render(value)
