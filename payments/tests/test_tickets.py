"""Tickets: the QR code on the ticket page, the PDF, the confirmation email with both, and the
code in one's own reservations."""

import email
import re
import socket
import zlib
from email.policy import default as default_policy

import pytest
import segno
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import Client
from django.urls import reverse

from booking import services as booking_services
from booking.models import Reservation
from booking.tests.factories import SeatFactory, UserFactory, tour_date
from payments import services
from payments.tests.conftest import fund


def pay(user, *, number: int = 5, schedule=None) -> Reservation:
    """`user` pays for row A, seat `number` (VIP, 150,000) of the tour date."""
    seat = SeatFactory(
        schedule=schedule or tour_date(), number=number, row="A", tier="VIP", price=150_000
    )
    fund(user, 150_000)
    hold = booking_services.reservation_hold(user=user, seat_id=seat.pk)
    services.payment_create(user=user, reservation_id=hold["reservation_id"])
    return Reservation.objects.get(pk=hold["reservation_id"])


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pdf_text(pdf: bytes) -> bytes:
    """The PDF's page content, its streams inflated (the library compresses them)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    out = []
    for stream in streams:
        try:
            out.append(zlib.decompress(stream))
        except zlib.error:
            out.append(stream)
    return b"\n".join(out)


def grouped(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, 32, 4)).upper()


# --- The ticket page and its PDF ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_paid_ticket_shows_its_qr_code_and_pdf_link(user):
    ticket = pay(user)
    page = browser(user).get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert '<svg width="222" height="222" class="ticket-qr"><title>Ticket QR code</title>' in page
    assert f"<code data-ticket-code>{grouped(ticket.ticket_code)}</code>" in page
    assert f'href="/tickets/{ticket.pk}.pdf"' in page
    assert "Download PDF" in page


@pytest.mark.django_db
def test_a_refunded_ticket_shows_no_qr_code(user):
    ticket = pay(user)
    services.payment_refund(reservation_id=ticket.pk)
    page = browser(user).get(reverse("ticket-detail", args=[ticket.pk])).content.decode()
    assert "Cancelled" in page
    assert "<svg" not in page
    assert grouped(ticket.ticket_code) not in page and ticket.ticket_code not in page
    assert ".pdf" not in page


@pytest.mark.django_db
def test_the_pdf_is_one_page_with_the_seat_and_code(user):
    ticket = pay(user)
    response = browser(user).get(f"/tickets/{ticket.pk}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="ticket-{ticket.pk}.pdf"'
    pdf = response.content
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 1
    text = pdf_text(pdf)
    for shown in [b"Velvet Tides Tour", b"Nova Choir", b"Olympic Hall", b"VIP", b"150,000"]:
        assert shown in text
    assert b"(Row)" in text and b"(Seat)" in text and b"(5)" in text
    assert f"#{ticket.pk}".encode() in text
    assert grouped(ticket.ticket_code).encode() in text
    assert qr_drawn(text) == qr_modules(ticket.ticket_code)


def qr_modules(code: str) -> set[tuple[int, int]]:
    """The dark modules of the code's QR symbol, as (row, column) from its top left one."""
    dark = {
        (r, c)
        for r, row in enumerate(segno.make_qr(code, error="m").matrix)
        for c, module in enumerate(row)
        if module
    }
    top, left = min(r for r, _ in dark), min(c for _, c in dark)
    return {(r - top, c - left) for r, c in dark}


def qr_drawn(content: bytes) -> set[tuple[int, int]]:
    """The modules the PDF's filled rectangles cover, read back from its page content: what a
    scanner of the printed page would see."""
    rects = [
        tuple(map(float, found))
        for found in re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) (-[\d.]+) re f", content)
    ]
    module = min(-h for _, _, _, h in rects)
    left, top = min(x for x, _, _, _ in rects), max(y for _, y, _, _ in rects)
    return {
        (round((top - y) / module), round((x - left) / module) + i)
        for x, y, w, _ in rects
        for i in range(round(w / module))
    }


@pytest.mark.django_db
def test_the_pdf_is_the_owners_paid_ticket_only(user, other_user):
    ticket = pay(user)
    held = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    for client, reservation_id in [
        (browser(other_user), ticket.pk),  # someone else's
        (browser(user), held["reservation_id"]),  # a hold, not a ticket
        (browser(user), 987654),  # no such reservation
    ]:
        response = client.get(f"/tickets/{reservation_id}.pdf")
        assert response.status_code == 404
        assert "Not found" in response.content.decode()
    services.payment_refund(reservation_id=ticket.pk)
    assert browser(user).get(f"/tickets/{ticket.pk}.pdf").status_code == 404
    anonymous = Client().get(f"/tickets/{ticket.pk}.pdf")
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]


# --- The API ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ticket_code_only_for_ones_own_paid_reservations(user, other_user, auth_client):
    paid = pay(user, number=1)
    refunded = pay(user, number=2)
    services.payment_refund(reservation_id=refunded.pk)
    held = booking_services.reservation_hold(user=user, seat_id=SeatFactory().pk)
    theirs = pay(other_user, number=3)

    rows = auth_client.get("/api/reservations").json()["results"]
    codes = {row["reservation_id"]: row["ticket_code"] for row in rows}
    assert codes == {
        paid.pk: paid.ticket_code,
        refunded.pk: None,
        held["reservation_id"]: None,
    }
    assert theirs.pk not in codes


# --- The confirmation email -------------------------------------------------------------------


def assert_ticket_email(message: email.message.EmailMessage, ticket: Reservation) -> None:
    """The parsed message has the plain text, an HTML alternative whose QR image is an inline
    part of it, and the PDF attached."""
    plain = message.get_body(("plain",)).get_content()
    assert "your payment of 150,000 is complete." in plain
    assert "Row A, seat 5" in plain
    assert grouped(ticket.ticket_code) in plain
    html = message.get_body(("html",)).get_content()
    assert '<img src="cid:ticket-qr"' in html
    assert grouped(ticket.ticket_code) in html
    parts = {part.get_content_type(): part for part in message.walk()}
    qr = parts["image/png"]
    assert qr["Content-ID"] == "<ticket-qr>"
    assert qr.get_content_disposition() == "inline"
    assert qr.get_content().startswith(b"\x89PNG")
    pdf = parts["application/pdf"]
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_filename() == f"ticket-{ticket.pk}.pdf"
    assert pdf.get_content().startswith(b"%PDF-")


@pytest.mark.django_db(transaction=True)
def test_the_relayed_confirmation_has_the_inline_qr_and_the_pdf():
    buyer = UserFactory(email="buyer@example.test")
    ticket = pay(buyer)
    assert services.outbox_relay() == 1
    [sent] = mail.outbox
    assert sent.subject == "Your ticket: Velvet Tides Tour"
    [(html, mimetype)] = sent.alternatives
    assert mimetype == "text/html" and "cid:ticket-qr" in html
    parsed = email.message_from_bytes(sent.message().as_bytes(), policy=default_policy)
    assert_ticket_email(parsed, ticket)


@pytest.mark.django_db(transaction=True)
def test_a_ticket_refunded_before_its_mail_went_out_shows_no_code():
    buyer = UserFactory(email="buyer@example.test")
    ticket = pay(buyer)
    services.payment_refund(reservation_id=ticket.pk)
    assert services.outbox_relay() == 2
    [refunded] = mail.outbox  # the confirmation is no longer sent
    assert refunded.subject == "Refunded: Velvet Tides Tour"
    assert refunded.alternatives == [] and refunded.attachments == []
    assert ticket.ticket_code not in refunded.body
    assert grouped(ticket.ticket_code) not in refunded.body


class Inbox:
    """aiosmtpd's handler: keeps every message's bytes."""

    def __init__(self):
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"


@pytest.mark.django_db(transaction=True)
def test_the_confirmation_over_real_smtp(settings):
    inbox = Inbox()
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        buyer = UserFactory(email="buyer@example.test")
        ticket = pay(buyer)
        assert services.outbox_relay() == 1
    finally:
        controller.stop()
    [raw] = inbox.messages
    assert_ticket_email(email.message_from_bytes(raw, policy=default_policy), ticket)
