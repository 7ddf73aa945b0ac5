"""A paid ticket rendered for people and scanners: its QR code (SVG, PNG) and one-page PDF."""

import io
import re
import unicodedata

import segno
from django.utils import timezone
from fpdf import FPDF

# What a ticket code is: the 32 hex digits the database made (booking.models.Reservation).
TICKET_CODE_LENGTH = 32
_TICKET_CODE = re.compile(r"[0-9a-f]{32}")
# What a person may type around the digits: spaces and dashes between groups, any case.
_TYPED_SEPARATORS = re.compile(r"[\s\-]+")


def ticket_code_normalize(typed: str) -> str | None:
    """The code in `typed` as stored (lowercase, no separators), or None if it is not one."""
    if not isinstance(typed, str) or len(typed) > 4 * TICKET_CODE_LENGTH:
        return None
    code = _TYPED_SEPARATORS.sub("", typed).lower()
    return code if _TICKET_CODE.fullmatch(code) else None


def ticket_code_display(code: str) -> str:
    """The code in groups of four, upper case, as a person reads it out: "1F3A 9C0B ..."."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4)).upper()


def _qr(code: str) -> segno.QRCode:
    # The code alone: a scan yields exactly what the door's form and API take.
    return segno.make_qr(code, error="m")


def ticket_qr_svg(code: str, *, scale: int = 6) -> str:
    """The QR code as an inline <svg> element for a page."""
    return _qr(code).svg_inline(
        scale=scale, title="Ticket QR code", svgclass="ticket-qr", lineclass=None
    )


def ticket_qr_png(code: str, *, scale: int = 6) -> bytes:
    """The QR code as PNG bytes, for an email's inline image."""
    out = io.BytesIO()
    _qr(code).save(out, kind="png", scale=scale)
    return out.getvalue()


def _latin1(text: object) -> str:
    """`text` in what the PDF's built-in fonts can draw: accents kept where Latin-1 has them,
    stripped where it has not, anything else as "?"."""
    text = str(text)
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode()
            out.append(base or "?")
    return "".join(out)


def _qr_draw(pdf: FPDF, code: str, *, x: float, y: float, size: float) -> None:
    """The QR as filled rectangles, one per run of dark modules in a row: vector, sharp at any
    zoom, and nothing for the PDF library to decode."""
    matrix = [[bool(module) for module in row] for row in _qr(code).matrix_iter(border=4)]
    module = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")


def ticket_pdf(ticket: dict) -> bytes:
    """One A4 page: the concert, date, seat, price, holder and the QR code.

    `ticket` is what booking.selectors.ticket_get returns.
    """
    starts_at = timezone.localtime(ticket["starts_at"])
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(_latin1(f"Ticket: {ticket['concert_title']}"))
    pdf.set_creator("concertbooking")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    width = pdf.w - 2 * pdf.l_margin

    pdf.set_font("Helvetica", "B", 10)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(width, 6, "CONCERT TICKET", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 22)
    pdf.multi_cell(width, 10, _latin1(ticket["concert_title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 13)
    pdf.multi_cell(
        width,
        7,
        _latin1(f"{ticket['performer']} - {ticket['venue']}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)

    facts = [
        ("Date", f"{starts_at:%A %d %B %Y}"),
        ("Time", f"{starts_at:%H:%M}"),
        ("Row", ticket["seat_row"]),
        ("Seat", ticket["seat_number"]),
        ("Tier", ticket["tier"] or "-"),
        ("Price", f"{ticket['price']:,}"),
        ("Reservation", f"#{ticket['reservation_id']}"),
        ("Holder", ticket["holder_name"] or ticket["holder"]),
    ]
    top = pdf.get_y()
    for label, value in facts:
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(30, 8, label)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(70, 8, _latin1(value), new_x="LMARGIN", new_y="NEXT")

    qr_size = 70
    _qr_draw(pdf, ticket["ticket_code"], x=pdf.l_margin + width - qr_size, y=top, size=qr_size)
    pdf.set_y(max(pdf.get_y(), top + qr_size) + 4)
    pdf.set_font("Courier", "B", 14)
    pdf.cell(width, 8, ticket_code_display(ticket["ticket_code"]), align="R")
    pdf.ln(14)
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(
        width,
        5,
        "Show this QR code at the door; it is scanned once. Whoever holds the code can use the "
        "ticket, so keep it to yourself.",
    )
    return bytes(pdf.output())
