"""Claim C3's word: an identity is verified or not, never "reproduced"."""

from __future__ import annotations

from llmgeom.experiments.gains import IDENTITY_TOLERANCE, identity_verdict


def test_the_identity_is_verified_within_its_tolerance_and_not_otherwise():
    assert identity_verdict(0.0) == identity_verdict(IDENTITY_TOLERANCE) == "verified (identity)"
    assert identity_verdict(2 * IDENTITY_TOLERANCE).startswith("not verified")
    assert identity_verdict(float("nan")).startswith("not verified")
