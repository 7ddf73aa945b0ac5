"""Catalog API: one view per read; the queue gate sits in front of the date and seat reads."""

from drf_spectacular.utils import extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from booking import selectors
from booking.api.serializers import AvailableDateOutput, AvailableSeatOutput, ConcertOutput


class ConcertPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class ConcertListApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=ConcertOutput(many=True), operation_id="concert_list")
    def get(self, request: Request) -> Response:
        paginator = ConcertPagination()
        page = paginator.paginate_queryset(selectors.concert_list(), request, view=self)
        return paginator.get_paginated_response(ConcertOutput(page, many=True).data)


class AvailableDatesApi(APIView):
    @extend_schema(responses=AvailableDateOutput(many=True), operation_id="available_dates")
    def get(self, request: Request, concert_id: int) -> Response:
        dates = selectors.concert_available_dates(concert_id=concert_id)
        return Response(AvailableDateOutput(dates, many=True).data)


class AvailableSeatsApi(APIView):
    @extend_schema(responses=AvailableSeatOutput(many=True), operation_id="available_seats")
    def get(self, request: Request, concert_id: int, schedule_id: int) -> Response:
        seats = selectors.schedule_available_seats(concert_id=concert_id, schedule_id=schedule_id)
        return Response(AvailableSeatOutput(seats, many=True).data)
