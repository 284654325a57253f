"""The one YAML reader for policy text refuses what is not a policy (nesting hundreds of
levels deep, aliases standing for millions of values, lists as keys) with a problem placed
on its line, before anything deep is built."""

from __future__ import annotations

import tracemalloc

import pytest

from mdm_server.policies import source
from mdm_server.policies.source import MAX_DEPTH, PolicySourceError

# Each anchor names nine of the one before: the last stands for 9**9 (387 million) values.
ALIAS_BOMB = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]\n"
    for before, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def refusal(text: str) -> PolicySourceError:
    with pytest.raises(PolicySourceError) as caught:
        source.load(text)
    return caught.value


def flow_nested(depth: int) -> str:
    return "name: deep\ndescription: " + "[" * depth + "1" + "]" * depth + "\n"


def block_nested(depth: int) -> str:
    return "".join("  " * level + "a:\n" for level in range(depth)) + "  " * depth + "b: 1\n"


class TestNesting:
    @pytest.mark.parametrize("depth", [40, 300, 5000])
    def test_deep_flow_nesting_is_refused_on_its_line(self, depth: int) -> None:
        refused = refusal(flow_nested(depth))
        assert refused.line == 2
        assert refused.problem.startswith(f"nested more than {MAX_DEPTH} levels deep")
        assert "not valid YAML" not in refused.problem

    def test_deep_block_nesting_is_refused_where_it_passes_the_limit(self) -> None:
        refused = refusal(block_nested(300))
        assert refused.line == MAX_DEPTH
        assert "nested more than" in refused.problem

    def test_nesting_up_to_the_limit_is_read(self) -> None:
        # The document is level 1, `description` level 2, so MAX_DEPTH - 2 brackets fit.
        loaded = source.load(flow_nested(MAX_DEPTH - 2))
        assert loaded["name"] == "deep"
        assert refusal(flow_nested(MAX_DEPTH - 1)).line == 2

    def test_an_alias_cannot_carry_nesting_past_the_limit(self) -> None:
        half = MAX_DEPTH // 2 + 1
        text = f"a: &a {'[' * half}1{']' * half}\nb: {'[' * half}*a{']' * half}\n"
        refused = refusal(text)
        assert refused.line == 2
        assert "aliases nest it more than" in refused.problem


class TestAliases:
    def test_an_alias_bomb_is_refused_without_expanding_it(self) -> None:
        tracemalloc.start()
        try:
            refused = refusal(ALIAS_BOMB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "more than 100,000 values" in refused.problem
        assert refused.line == 6  # `f`, the first anchor standing for more than 100,000
        assert peak < 10 * 1024 * 1024

    def test_anchors_a_policy_might_use_still_work(self) -> None:
        text = (
            "name: patrol\n"
            "apps: &apps [com.police.optik, com.police.notebook]\n"
            "work: {apps: *apps}\n"
        )
        loaded = source.load(text)
        assert loaded["work"]["apps"] == ["com.police.optik", "com.police.notebook"]


class TestKeys:
    @pytest.mark.parametrize("text", ["{[1, 2]: 3}\n", "? [1, 2]\n: 3\n", "? {a: 1}\n: 3\n"])
    def test_a_list_or_mapping_as_a_key_is_refused_on_its_line(self, text: str) -> None:
        refused = refusal(text)
        assert refused.line == 1
        assert "a key must be a plain value" in refused.problem

    def test_a_key_given_twice_names_the_key_without_python_quotes(self) -> None:
        refused = refusal("name: patrol\nname: other\n")
        assert (refused.line, refused.problem) == (
            2,
            "not valid YAML: the key name is given twice in the same mapping",
        )

    def test_lines_are_found_in_text_the_reader_accepted(self) -> None:
        text = "name: patrol\ndevice:\n  warranty_bits: maybe\n"
        assert source.lines_of(text, ["device.warranty_bits", "name"]) == [3, 1]
