"""X-Hub-Signature: every algorithm the spec names, and every way a forgery can look."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from monitor.ingest.websub.signature import ALGORITHMS, check_signature, sign

BODY = b"<rss><channel><item><title>Budget vote</title></item></channel></rss>"


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_hub_signature_checks_out_with_each_algorithm(algorithm: str) -> None:
    # Computed here with hashlib directly, not with sign(): the test must not share the code it checks.
    digest = hmac.new(b"s3cret", BODY, getattr(hashlib, algorithm)).hexdigest()
    assert check_signature(f"{algorithm}={digest}", BODY, "s3cret") == "ok"
    assert check_signature(f"{algorithm.upper()}={digest.upper()}", BODY, "s3cret") == "ok"
    assert sign("s3cret", BODY, algorithm) == f"{algorithm}={digest}"


@pytest.mark.parametrize(
    ("header", "outcome"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("sha256", "malformed"),
        ("sha256=", "malformed"),
        ("md5=" + hashlib.md5(BODY).hexdigest(), "unknown_algorithm"),
        ("sha256=" + "0" * 64, "mismatch"),
        (sign("another secret", BODY), "mismatch"),
        (sign("s3cret", BODY + b" "), "mismatch"),
        (sign("s3cret", BODY, "sha1")[:-1], "mismatch"),
    ],
)
def test_a_bad_signature_says_why(header: str | None, outcome: str) -> None:
    assert check_signature(header, BODY, "s3cret") == outcome


def test_signing_with_an_unknown_algorithm_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown algorithm 'md5'; valid algorithms are \['sha1'"):
        sign("s3cret", BODY, "md5")
