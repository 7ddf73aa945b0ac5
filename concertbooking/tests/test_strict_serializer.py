"""StrictSerializer: unknown fields refused, and each instance's fields its own."""

import threading
from functools import cache

from rest_framework import serializers, views  # noqa: F401  (DRF's settings before our module)


@cache
def input_class():
    from concertbooking.api import StrictIntegerField, StrictSerializer

    class Child(StrictSerializer):
        n = StrictIntegerField(min_value=1, max_value=9)

    class Input(StrictSerializer):
        seat_id = StrictIntegerField(min_value=1, max_value=100)
        note = serializers.CharField(required=False, max_length=3)
        tags = serializers.ListField(child=serializers.CharField(max_length=2), required=False)
        child = Child(required=False)

    return Input


def test_each_instance_binds_its_own_copies_and_the_declared_fields_stay_unbound():
    Input = input_class()
    first, second = Input(data={"seat_id": 1}), Input(data={"seat_id": 2})
    for name in ("seat_id", "note", "tags", "child"):
        a, b = first.fields[name], second.fields[name]
        assert a is not b and a.parent is first and b.parent is second
        declared = Input._declared_fields[name]
        assert declared.parent is None and declared.field_name is None
    # Fields holding fields are copied in depth: their children bound to their own parents.
    assert first.fields["tags"].child is not second.fields["tags"].child
    assert first.fields["tags"].child.parent is first.fields["tags"]
    assert first.fields["child"].fields["n"].parent is first.fields["child"]


def test_validation_is_unchanged():
    Input = input_class()
    assert Input(data={"seat_id": 5, "note": "ab", "tags": ["x"], "child": {"n": 2}}).is_valid()
    cases = [
        ({"seat_id": 0}, "seat_id"),
        ({"seat_id": 101}, "seat_id"),
        ({"seat_id": "5"}, "seat_id"),
        ({"seat_id": 5, "note": "abcd"}, "note"),
        ({"seat_id": 5, "tags": ["xyz"]}, "tags"),
        ({"seat_id": 5, "child": {"n": 10}}, "child"),
        ({"seat_id": 5, "child": {"n": 1, "m": 1}}, "child"),
        ({"seat_id": 5, "typo": 1}, "typo"),
        ({}, "seat_id"),
    ]
    for data, field in cases:
        serializer = Input(data=data)
        assert not serializer.is_valid() and field in serializer.errors, data


def test_instances_validating_in_parallel_keep_their_own_errors():
    Input = input_class()
    results = {}

    def validate(value):
        serializer = Input(data={"seat_id": value})
        results[value] = serializer.is_valid()

    threads = [threading.Thread(target=validate, args=(v,)) for v in (0, 1, 50, 101, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {0: False, 1: True, 50: True, 101: False, 100: True}
