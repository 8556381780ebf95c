"""GMP plugin hashes: each must have the length of the blob's ``hashFunction``
(Balrog's ``GMPBlobV1.validate``, which the schema cannot express)."""

from __future__ import annotations

from typing import Any

from rulelog.domain.serving.blobs.problems import MALFORMED, Path, invalid

_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def check_gmp_hash_lengths(blob: dict[str, Any]) -> None:
    """Refuse a plugin hashValue whose length does not fit the hashFunction."""
    where: Path = ("vendors",)
    try:
        for vendor, vdata in blob["vendors"].items():
            where = ("vendors", vendor)
            for platform, pdata in vdata.get("platforms", {}).items():
                where = ("vendors", vendor, "platforms", platform)
                if "hashValue" not in pdata:
                    continue
                hash_function = blob["hashFunction"]
                required = _HASH_LENGTHS.get(hash_function.lower())
                if required is None:
                    raise invalid(
                        ("hashFunction",),
                        f"unsupported hash function {hash_function!r} "
                        "(expected sha256, sha384 or sha512)",
                    )
                where = (*where, "hashValue")
                actual = len(pdata["hashValue"])
                if actual != required:
                    raise invalid(
                        where,
                        f"must be {required} characters long for {hash_function.lower()}, "
                        f"not {actual}",
                    )
    except MALFORMED:
        raise invalid(where, "malformed data where a hashValue may be") from None
