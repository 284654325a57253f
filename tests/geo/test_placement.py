"""Placing reports on the division maps: the same text always lands on the same point, inside
the division; a street the text names puts the report on that street; given coordinates win;
no division, map or location text means no point."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from mdm_server.geo.maps import DEMO_DIR, DivisionMap, MapError, MapSource, parse_division
from mdm_server.geo.placement import inside, location_text, place

MAPS = MapSource()


def north() -> DivisionMap:
    division = MAPS.division("north")
    assert division is not None
    return division


def distance_to_line(point: tuple[float, float], line: tuple[tuple[float, float], ...]) -> float:
    best = math.inf
    for (x1, y1), (x2, y2) in pairwise(line):
        dx, dy = x2 - x1, y2 - y1
        t = max(0.0, min(1.0, ((point[0] - x1) * dx + (point[1] - y1) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.dist(point, (x1 + t * dx, y1 + t * dy)))
    return best


class TestDemoMaps:
    @pytest.mark.parametrize("division", ["north", "south", "east"])
    def test_each_demo_division_has_a_boundary_and_a_dozen_named_streets(
        self, division: str
    ) -> None:
        found = MAPS.division(division)
        assert found is not None
        assert "fictional" in found.name
        assert len(found.streets) == 12
        assert len({street.name for street in found.streets}) == 12

    def test_every_street_lies_inside_its_division(self) -> None:
        for division in ("north", "south", "east"):
            found = MAPS.division(division)
            assert found is not None
            for street in found.streets:
                assert all(inside(point, found.boundary) for point in street.line), street.name

    @pytest.mark.parametrize("division", [None, "nowhere", "../demo/north", "north/../north"])
    def test_no_map_for_an_unknown_or_unsafe_division(self, division: str | None) -> None:
        assert MAPS.division(division) is None

    def test_a_map_without_a_boundary_is_refused(self) -> None:
        with pytest.raises(MapError, match="no boundary"):
            parse_division("x", {"type": "FeatureCollection", "features": []})

    def test_a_force_directory_is_read_instead_of_the_demo(self, tmp_path: object) -> None:
        from pathlib import Path

        directory = Path(str(tmp_path))
        (directory / "riverside.geojson").write_text((DEMO_DIR / "south.geojson").read_text())
        force = MapSource(directory)
        assert force.division("riverside") is not None
        assert force.division("north") is None


class TestPlace:
    def test_the_same_text_lands_on_the_same_point(self) -> None:
        fields = {"location": "outside the chip shop by the harbour"}
        assert place(fields, north()) == place(dict(fields), north())

    def test_different_texts_land_on_different_points_inside_the_division(self) -> None:
        points = {place({"location": f"the corner shop, number {n}"}, north()) for n in range(50)}
        assert len(points) == 50
        assert all(point is not None and inside(point, north().boundary) for point in points)

    def test_a_named_street_puts_the_report_on_that_street(self) -> None:
        street = next(s for s in north().streets if s.name == "Gannet Street")
        point = place({"location": "42 gannet street, by the bus stop"}, north())
        assert point is not None
        assert distance_to_line(point, street.line) < 1e-4

    def test_the_last_seen_location_of_a_missing_person_is_placed(self) -> None:
        street = next(s for s in north().streets if s.name == "Kelpie Row")
        point = place({"last_seen_location": "Kelpie Row park"}, north())
        assert point is not None and distance_to_line(point, street.line) < 1e-4

    def test_a_new_kind_of_report_with_a_location_field_is_placed_the_same_way(self) -> None:
        referral = {"concerns": "...", "location": "Skerry Way"}
        incident = {"summary": "...", "location": "Skerry Way"}
        assert place(referral, north()) == place(incident, north()) is not None

    def test_given_coordinates_win(self) -> None:
        point = place({"location": "Gannet Street", "latitude": 54.6, "longitude": 2.61}, north())
        assert point == (2.61, 54.6)

    def test_no_map_or_no_location_text_means_no_point(self) -> None:
        assert place({"location": "Gannet Street"}, None) is None
        assert place({"statement": "I saw it all"}, north()) is None
        assert place({"location": "   "}, north()) is None

    def test_location_text_reads_every_location_field_in_name_order(self) -> None:
        fields = {"z_location": "b", "location": "a", "summary": "not this", "risk": 3}
        assert location_text(fields) == "a, b"
