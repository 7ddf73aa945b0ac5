"""Booking pages for buyers."""

from django.core.paginator import Paginator
from django.shortcuts import render

from booking import selectors


def home(request):
    page = Paginator(selectors.concert_list(), 24).get_page(request.GET.get("page"))
    return render(request, "booking/home.html", {"page": page})
