"""Tier-1 normalization and prompt keys (docs/ARCHITECTURE.md, Prompt keys), with hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.models import Kind
from shared.domain.prompts import PK_LENGTH, normalize, prompt_key

pytestmark = pytest.mark.unit


def key(text: str, **kw: object) -> str:
    args = {"soul_id": "nova", "kind": Kind.IMAGE, "style_version": 1, "params": {"steps": 30}} | kw
    return prompt_key(text=normalize(text), **args)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "a,b",
    [
        ("A Penguin!!", "penguin"),
        ("a penguin", "penguin"),
        ("  THE   penguin. ", "penguin"),
        ("ｐｅｎｇｕｉｎ", "penguin"),
        ("please, a penguin", "penguin"),
        ("don't stop", "dont stop"),
        ("can you please draw me a penguin?", "penguin"),
        ("Could u make a picture of a penguin", "penguin"),
        ("hey, can I get a penguin", "penguin"),
        ("a penguin, thanks!", "penguin"),
        ("❤️ balloon", "❤ balloon"),  # an emoji presentation selector is not content
    ],
)
def test_surface_forms_share_a_key(a: str, b: str) -> None:
    assert key(a) == key(b)


@pytest.mark.parametrize(
    "a,b",
    [
        ("a cat chasing a dog", "a dog chasing a cat"),
        ("penguin with hat", "penguin without hat"),
        ("penguin", "no penguin"),
        ("3 cats", "4 cats"),
        ("red hat", "blue hat"),
        ("3.5 cats", "35 cats"),
        ("🐧 on an iceberg", "🐶 on an iceberg"),  # emoji and symbols are content
        ("🐧 on an iceberg", "on an iceberg"),
        ("a ♥ balloon", "a ★ balloon"),
        ("a sign saying thanks", "a sign saying"),  # courtesy is dropped only when set off by punctuation
    ],
)
def test_meaning_changes_change_the_key(a: str, b: str) -> None:
    assert key(a) != key(b)


def test_key_depends_on_soul_kind_style_version_and_params() -> None:
    base = key("penguin")
    assert base != key("penguin", soul_id="ember")
    assert base != key("penguin", kind=Kind.WAN)
    assert base != key("penguin", style_version=2)
    assert base != key("penguin", params={"steps": 31})


SYMBOLIC = st.text(alphabet=st.sampled_from(list("ab can you draw me thanks ,.!?🐧❤\ufe0f\u200d★$°3.5 ")), max_size=80)


@given(st.one_of(st.text(max_size=400), SYMBOLIC))
def test_normalize_is_idempotent_and_total(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(max_size=200))
def test_keys_are_fixed_length_hex(text: str) -> None:
    pk = key(text)
    assert len(pk) == PK_LENGTH
    int(pk, 16)
