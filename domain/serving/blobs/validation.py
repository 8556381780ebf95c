"""Release blob validation: accept exactly the blobs Balrog accepts.

Balrog stores each release as a JSON "blob" whose shape is chosen by its
``schema_version``. Before a release is created or changed, Balrog checks the
blob against the JSON schema for that version and then runs a few checks a
schema cannot express (``auslib/blobs/*.py`` ``validate()``). rulelog must
refuse the same blobs, or an imported history would contain releases Balrog
could never have stored, so this module runs both layers, each in its module:

* the schemas (``schemas``: one per blob type, loaded and compiled once per
  process because bulk imports validate thousands of blobs; ``formats`` for
  the version and buildID strings);
* the extra checks: the domain allowlist for download URLs (``allowlist``,
  only when the caller passes an allowlist), the hash length of GMP plugin
  files (``gmp_checks``), and the rule that no two ``updateLine`` groups of a
  v9 blob may set the same field for requests that could match both
  (``update_lines``);
* the rule, enforced by Balrog's release table on create and update, that the
  blob's ``name`` equals the release name.

Every failure is one :class:`~domain.errors.Invalid` worded by ``problems``.
"""

from __future__ import annotations

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.allowlist import (
    FORBIDDEN_DOMAIN,
    DomainAllowlist,
    check_domains,
    check_download_domains,
)
from rulelog.domain.serving.blobs.gmp_checks import check_gmp_hash_lengths
from rulelog.domain.serving.blobs.problems import invalid, json_type, schema_error
from rulelog.domain.serving.blobs.schemas import (
    SCHEMA_FILES,
    fast_check,
    schema_for,
    schema_version_of,
    validator,
)
from rulelog.domain.serving.blobs.update_lines import check_update_line

__all__ = [
    "FORBIDDEN_DOMAIN",
    "SCHEMA_FILES",
    "DomainAllowlist",
    "check_download_domains",
    "schema_for",
    "validate_blob",
]


def validate_blob(
    blob: object,
    *,
    name: str | None = None,
    product: str | None = None,
    allowlisted_domains: DomainAllowlist | None = None,
) -> None:
    """Raise :class:`Invalid` unless Balrog would store ``blob`` as a release.

    ``name`` is the release name the blob is being stored under; when given it
    must equal the blob's own ``name`` (Balrog checks this on every create and
    update, after the schema, so a blob without ``name`` fails the schema
    first). ``allowlisted_domains`` turns on Balrog's download-domain check for
    ``product`` (the release's product); without it the check is skipped,
    because it depends on deployment configuration rather than on the blob.
    Returns ``None`` when the blob is acceptable.
    """
    if not isinstance(blob, dict):
        raise invalid((), f"must be a JSON object, not {json_type(blob)}")
    schema_version = schema_version_of(blob)

    if not fast_check(schema_version)(blob):
        errors = list(validator(schema_version).iter_errors(blob))
        if errors:
            raise schema_error(errors)

    if allowlisted_domains is not None:
        check_domains(blob, schema_version, product, allowlisted_domains)
    if schema_version == 1000:
        check_gmp_hash_lengths(blob)
    elif schema_version == 9:
        check_update_line(blob.get("updateLine", []))

    if name is not None and blob["name"] != name:
        raise Invalid(
            f"name: {name!r} does not match blob.name {blob['name']!r}",
            field="name",
            path="name",
        )
