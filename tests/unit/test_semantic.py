"""The semantic tier (issues 17, 23): held-out figures, vetoes, the SQLite index, the matcher and the miss path.

Thresholds are chosen on the tune halves only (the tuning test re-derives the shipped constants). Every
held-out set is scored on its own (infra/bench/semantic.py): the generated one, the independently
written set A's held-out half, and set B, which nothing was tuned on. The targets are <= 0.5% wrong
merges, >= 80% of paraphrases, 100% of surface forms; the tier is on by default only if every held-out
set meets them, and the figures measured when it shipped are pinned so a regression fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from functions.service import GenerationService
from infra import seed
from infra.bench import semantic as bench
from shared.adapters.sqlite_vectors import SqliteVectorIndex
from shared.adapters.static_embed import StaticEmbedder, _package_dir
from shared.bootstrap import build_backend
from shared.config import Settings
from shared.domain.prompts import normalize
from shared.errors import Unavailable
from shared.semantic import THRESHOLD, WORD_THRESHOLD, Judge, _static_embedder

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(_static_embedder())


@pytest.fixture(scope="module")
def pairs() -> list[dict[str, str]]:
    return bench.load()


def test_the_set_is_big_split_once_and_covers_every_kind(pairs: list[dict[str, str]]) -> None:
    assert len(pairs) >= 1000
    by_intent: dict[str, set[str]] = {}
    for p in pairs:
        by_intent.setdefault(p["intent"], set()).add(p["split"])
    assert all(len(splits) == 1 for splits in by_intent.values())  # an intent is never on both sides
    categories = {p["category"] for p in pairs}
    assert {"word_order", "synonym", "preposition", "noun_compound", "voice", "framing", "surface"} <= categories
    assert {
        "negation",
        "role_swap",
        "count",
        "colour",
        "size",
        "spatial",
        "attribute_swap",
        "near_synonym",
    } <= categories


# At most this many wrong merges per held-out set: the figures measured when the vetoes shipped.
WRONG_AT_MOST = {"generated held-out": 0, "independent A held-out": 1, "independent B (never tuned on)": 1}


def test_every_heldout_set_and_the_default_that_follows_from_them(
    judge: Judge, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print()
        figures = bench.report(judge)
    for title, _, _ in bench.HELDOUT:
        r = figures[title]
        assert r["different"][0] <= WRONG_AT_MOST[title], title
        assert r["surface"][0] == r["surface"][1], title  # surface forms: 100% on every set
    assert figures["generated held-out"]["paraphrase"][0] / figures["generated held-out"]["paraphrase"][1] >= 0.80
    every = all(bench.meets_targets(figures[title]) for title, _, _ in bench.HELDOUT)
    assert Settings().soul_semantic_cache is every  # on by default only where every held-out set meets them


def test_the_independent_sets_are_big_and_cover_every_kind() -> None:
    kinds = {"affix_negation", "negation_word", "number", "role_swap", "added_removed_object", "count_plural"}
    kinds |= {"colour", "size", "material", "antonym", "near_synonym_different_thing", "emoji_symbol"}
    kinds |= {"time_of_day", "season", "weather", "style", "tense_state"}
    for name in ("independent/set_a.jsonl", "independent/set_b.jsonl"):
        pairs = bench.load(name)
        assert len(pairs) >= 300
        assert kinds <= {p["kind"] for p in pairs if p["group"] == "different"}
        assert all(sum(p["kind"] == k for p in pairs) >= 12 for k in kinds)
    assert {p.get("split") for p in bench.load("independent/set_a.jsonl")} == {"tune", "heldout"}


def test_the_shipped_thresholds_are_the_ones_tuned_on_the_tune_halves(judge: Judge) -> None:
    tune = bench.score(judge, bench.tune_pairs())
    threshold, word_threshold, _ = bench.tune(judge.embedder, tune, max_false=0.0)  # type: ignore[arg-type]
    assert (threshold, word_threshold) == (THRESHOLD, WORD_THRESHOLD)
    assert Settings().soul_semantic_threshold == THRESHOLD
    assert Settings().soul_semantic_word_threshold == WORD_THRESHOLD


@pytest.mark.parametrize(
    "a,b",
    [
        ("a cat chasing a dog", "a dog chasing a cat"),
        ("a cat chasing a dog", "a cat being chased by a dog"),
        ("penguin with a hat", "penguin without a hat"),
        ("two foxes in the snow", "three foxes in the snow"),
        ("a red car on a bridge", "a blue car on a bridge"),
        ("a huge dog on a sofa", "a tiny dog on a sofa"),
        ("a lamp on a table", "a lamp under a table"),
        ("a girl with a red hat and a blue scarf", "a girl with a blue hat and a red scarf"),
        ("a cabin in winter", "a cabin in summer"),
        ("a kitten sleeping on a bed", "a cat sleeping on a bed"),
        # structural vetoes (shared/domain/structure.py): forms no word list names
        ("a candle lit", "a candle unlit"),
        ("a sleeveless dress", "a sleeved dress"),
        ("a cloudless sky over a barn", "a cloudy sky over a barn"),
        ("a non stick pan", "a stick pan"),
        ("a 1920s car", "a 2020s car"),
        ("the 3rd floor window", "the 4th floor window"),
        ("chapter xii of a book", "chapter xiv of a book"),
        ("a hat on a penguin", "a penguin on a hat"),
        ("a cat in front of a box", "a box in front of a cat"),
        ("a cat on a fence", "cats on a fence"),
        ("a melting snowman", "a melted snowman"),
        ("🐧 on an iceberg", "🐶 on an iceberg"),
        ("a ♥ balloon", "a ★ balloon"),
    ],
)
def test_meaning_changes_are_vetoed_even_at_cosine_one(judge: Judge, a: str, b: str) -> None:
    assert not judge.accepts(normalize(a), normalize(b), 1.0).merge


@pytest.mark.parametrize(
    "a,b",
    [
        ("a cat chasing a dog", "a dog being chased by a cat"),
        ("a fox sleeping under an oak at night", "at night, a fox sleeping beneath an oak"),
        ("a house made of wood", "a wooden house"),
        ("a photo of an owl in a library", "owl in a library"),
        ("three cats on a windowsill", "3 cats on a windowsill"),
        ("the third door", "the 3rd door"),
        ("a penguin looking at a garden of roses", "a penguin looking at a rose garden"),
        ("a robot jumping in a forest in the rain", "a robot jumping in a forest while it rains"),
        ("a cat next to a dog", "a dog next to a cat"),
        ("a fox in front of a castle", "a fox before a castle"),
    ],
)
def test_paraphrases_pass_the_guards(judge: Judge, a: str, b: str) -> None:
    assert judge.accepts(normalize(a), normalize(b), 1.0).merge


def test_below_the_threshold_nothing_merges(judge: Judge) -> None:
    assert not judge.accepts("cat", "cat", THRESHOLD - 0.01).merge


def test_weights_are_checked_against_the_pinned_checksum(tmp_path: Path) -> None:
    root = tmp_path / "wordllama"
    shutil.copytree(_package_dir(), root, ignore=shutil.ignore_patterns("*.so", "*.c", "*.cpp", "__pycache__"))
    weights = root / "weights" / "l2_supercat_256.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(Unavailable, match="sha256"):
        StaticEmbedder(root).embed(["a cat"])


def test_embeddings_are_unit_vectors_and_deterministic() -> None:
    vectors = StaticEmbedder().embed(["a deer asleep beneath an oak", "a deer asleep beneath an oak"])
    assert vectors.shape == (2, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[1])


def _unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(8)
    return [float(x) for x in v / np.linalg.norm(v)]


def test_sqlite_index_ranks_by_cosine_within_one_space(tmp_path: Path) -> None:
    index = SqliteVectorIndex(tmp_path / "v.sqlite3", dim=8)
    for i in range(20):
        index.add("s1", f"k{i}", f"text {i}", _unit(i))
    index.add("s2", "other", "other space", _unit(3))
    found = index.nearest("s1", _unit(3), 3)
    assert found[0].key == "k3" and found[0].score == pytest.approx(1.0, abs=1e-5)
    assert [n.score for n in found] == sorted((n.score for n in found), reverse=True)
    assert all(n.key != "other" for n in index.nearest("s1", _unit(3), 30))
    assert index.has("s1", "k3") and not index.has("s2", "k3")


def test_sqlite_index_sees_rows_written_by_another_process(tmp_path: Path) -> None:
    reader = SqliteVectorIndex(tmp_path / "v.sqlite3", dim=8)
    writer = SqliteVectorIndex(tmp_path / "v.sqlite3", dim=8)
    assert reader.nearest("s", _unit(1), 1) == []
    writer.add("s", "k1", "one", _unit(1))
    writer.add("s", "k1", "one", _unit(1))  # idempotent
    assert [n.key for n in reader.nearest("s", _unit(1), 5)] == ["k1"]


@pytest.fixture
def service(tmp_path: Path) -> GenerationService:
    backend = build_backend(Settings(soul_data_dir=tmp_path, soul_semantic_cache=True, log_level="WARNING"))
    seed.load(backend)
    return GenerationService(backend)


def test_a_paraphrase_joins_the_existing_key_and_a_different_intent_does_not(service: GenerationService) -> None:
    first = service.image("u1", "nova", "a fox sleeping under an oak tree at night")
    paraphrase = service.image("u2", "nova", "at night, a fox asleep beneath an oak tree")
    negative = service.image("u3", "nova", "a fox sleeping on top of an oak tree at night")
    assert first.served.created
    assert paraphrase.pk == first.pk and not paraphrase.served.created  # joined the in-flight job
    assert negative.pk != first.pk and negative.served.created


def test_keys_never_cross_souls(service: GenerationService) -> None:
    first = service.image("u1", "nova", "a fox sleeping under an oak tree at night")
    assert service.image("u1", "ember", "at night, a fox asleep beneath an oak tree").pk != first.pk


def test_off_switch(tmp_path: Path) -> None:
    backend = build_backend(Settings(soul_data_dir=tmp_path, soul_semantic_cache=False, log_level="WARNING"))
    seed.load(backend)
    service = GenerationService(backend)
    assert service.semantic is None
    first = service.image("u1", "nova", "a fox sleeping under an oak tree at night")
    assert service.image("u2", "nova", "at night, a fox asleep beneath an oak tree").pk != first.pk


def test_off_by_default() -> None:
    """The independent held-out sets miss the targets (see the figures test): the tier is opt-in."""
    assert Settings().soul_semantic_cache is False


def test_a_joined_key_is_the_key_prompt_key_would_make(tmp_path: Path) -> None:
    from shared.domain.models import Kind, PromptKey
    from shared.domain.prompts import prompt_key
    from shared.semantic import matcher

    params = {"steps": 30, "width": 1024}
    pk, params_digest = prompt_key(soul_id="nova", kind=Kind.IMAGE, text="fox", style_version=3, params=params)
    key = PromptKey(pk=pk, soul_id="nova", kind=Kind.IMAGE, text="fox", style_version=3, params_digest=params_digest)
    tier = matcher(Settings(soul_data_dir=tmp_path))
    other = prompt_key(soul_id="nova", kind=Kind.IMAGE, text="fox asleep", style_version=3, params=params)[0]
    assert tier.key_for(key, "fox").pk == pk
    assert tier.key_for(key, "fox asleep").pk == other


class CountingMatcher:
    """A fake around the real matcher: counts how often the miss path searches the semantic tier."""

    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0

    def decide(self, key: object) -> object:
        self.calls += 1
        return self.inner.decide(key)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_the_hit_path_never_consults_the_semantic_tier(service: GenerationService) -> None:
    from infra.bench.trace import Tally, _complete

    counting = CountingMatcher(service.semantic)
    service.semantic = counting  # type: ignore[assignment]
    first = service.image("u1", "nova", "an otter reading a book in a library")
    assert counting.calls == 1 and first.served.job is not None
    _complete(service, [first.served.job], Tally())
    again = service.image("u2", "nova", "An otter reading a book in a library!")
    assert again.served.variant is not None and again.pk == first.pk
    assert counting.calls == 1


def test_a_joined_request_is_served_the_existing_keys_variant(service: GenerationService) -> None:
    from infra.bench.trace import Tally, _complete

    first = service.image("u1", "nova", "a fox sleeping under an oak tree at night")
    assert first.served.job is not None
    _complete(service, [first.served.job], Tally())
    joined = service.image("u2", "nova", "at night, a fox asleep beneath an oak tree")
    assert joined.pk == first.pk
    assert joined.served.variant is not None and joined.served.variant.variant_id == first.served.job.variant_id


def test_migrate_embeds_existing_keys_once_and_then_paraphrases_join_them(tmp_path: Path) -> None:
    from shared.semantic import migrate

    before = build_backend(Settings(soul_data_dir=tmp_path, soul_semantic_cache=False, log_level="WARNING"))
    seed.load(before)
    old = GenerationService(before).image("u1", "nova", "a fox sleeping under an oak tree at night")
    settings = Settings(soul_data_dir=tmp_path, soul_semantic_cache=True, log_level="WARNING")
    result = migrate(settings, before.store)
    assert (result.keys, result.embedded) == (1, 1)
    assert migrate(settings, before.store).embedded == 0  # idempotent
    after = GenerationService(build_backend(settings))
    assert after.image("u2", "nova", "at night, a fox asleep beneath an oak tree").pk == old.pk


def test_large_spaces_use_the_prefix_scan_and_still_find_the_nearest(tmp_path: Path) -> None:
    cues = [
        f"{n} {c} foxes {a} in a forest"
        for n in range(1, 9)
        for c in ("red", "blue", "grey")
        for a in ("running", "sleeping")
    ]
    vectors = StaticEmbedder().embed(cues)
    exact = SqliteVectorIndex(tmp_path / "a.sqlite3", 256)
    staged = SqliteVectorIndex(tmp_path / "b.sqlite3", 256, exact_below=10, shortlist=8)
    for index in (exact, staged):
        for i, cue in enumerate(cues):
            index.add("s", f"k{i}", cue, vectors[i])
    query = StaticEmbedder().embed(["a photo of 3 grey foxes sleeping in a forest"])[0]
    assert staged.nearest("s", query, 1)[0].key == exact.nearest("s", query, 1)[0].key


def test_soul_dev_says_at_start_whether_the_semantic_tier_is_on() -> None:
    from infra.stack import configuration_banner

    assert "semantic cache off: only exact cues" in configuration_banner(Settings())
    assert "semantic cache ON: paraphrases join" in configuration_banner(Settings(soul_semantic_cache=True))


class AlwaysJoins:
    """A fake matcher that joins every cue to one key: the miss path must still check the joiner's words."""

    def __init__(self, inner: object, target: str) -> None:
        self.inner, self.target = inner, target

    def decide(self, key: object) -> object:
        from shared.ports import Neighbour
        from shared.semantic import Resolution

        joined = self.inner.key_for(key, self.target)  # type: ignore[attr-defined]
        return Resolution(joined, Neighbour(key=joined.pk, text=self.target, score=0.99))

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_joiner_s_own_words_are_moderated_before_a_semantic_hit(service: GenerationService) -> None:
    from infra.bench.trace import Tally, _complete
    from shared.errors import ContentBlocked

    first = service.image("u1", "nova", "a fox sleeping under an oak tree at night")
    assert first.served.job is not None
    _complete(service, [first.served.job], Tally())
    service.semantic = AlwaysJoins(service.semantic, "fox sleeping under oak tree at night")  # type: ignore[assignment]
    assert service.image("u2", "nova", "a fox asleep beneath an oak").served.variant is not None  # joined, served
    with pytest.raises(ContentBlocked):
        service.image("u3", "nova", "a naked woman posing on a bed")
