"""Template filters for the booking pages: money and short durations, formatted one way."""

from django import template

register = template.Library()


@register.filter
def money(value) -> str:
    """Whole currency units with thousands separators: 150000 -> "150,000"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def duration(seconds) -> str:
    """Seconds as a short human duration: 75 -> "1 min 15 s", 3700 -> "1 h 2 min"."""
    try:
        seconds = max(0, int(seconds))
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
