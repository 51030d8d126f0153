"""Seeded randomness keyed by item: pinned values (a change would change every seeded question and negative)."""

from ragtune.seeding import keyed_fraction, keyed_rng


def test_keyed_streams_are_pinned_and_independent_of_other_keys():
    assert keyed_rng("d1", 7).random() == 0.9700600401873044
    assert keyed_rng("3:d2", 42).sample(range(100), 3) == [67, 89, 79]
    assert keyed_rng("d1", 7).random() != keyed_rng("d2", 7).random() != keyed_rng("d1", 8).random()


def test_keyed_fraction_is_pinned_and_per_purpose():
    assert keyed_fraction("d00", 42, "holdout") == 0.6948450819222464
    assert 0 <= keyed_fraction("d00", 42, "other") < 1
    assert keyed_fraction("d00", 42, "other") != keyed_fraction("d00", 42, "holdout")
