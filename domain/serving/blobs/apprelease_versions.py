"""The app release schema versions and their ``<update>`` lines.

* v1 (Firefox 1.5-3.6): ``version``/``extensionVersion`` from ``appv``/
  ``extv``, with ``oldVersionSpecialCases`` faking them for 2.0-3.6 clients.
* v2-v8: ``displayVersion``/``appVersion``/``platformVersion`` (printed as
  ``None`` when missing, as Balrog does), ``detailsURL``/``licenseURL`` from
  the blob, then each schema's optional attributes in a fixed order.
* v9: attributes come from ``updateLine`` groups whose ``for`` conditions
  (channels, locales, versions, buildIDs) match the request; later groups
  override earlier ones; attributes are printed sorted by name.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain.serving.blobs.apprelease import ReleaseBlob
from rulelog.domain.serving.blobs.common import RenderContext, interpolate_locale
from rulelog.domain.serving.matching import channel_matches
from rulelog.domain.serving.request import UpdateRequest
from rulelog.domain.serving.versions import StringExpression, VersionExpression, moz_version

__all__ = [
    "ReleaseBlobV1",
    "ReleaseBlobV2",
    "ReleaseBlobV3",
    "ReleaseBlobV4",
    "ReleaseBlobV5",
    "ReleaseBlobV6",
    "ReleaseBlobV8",
    "ReleaseBlobV9",
]


def _text(value: Any) -> str:
    """Booleans are written as XML expects them; everything else as Python prints it."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _urls(blob: ReleaseBlob, locale: str) -> str:
    line = ""
    if "detailsUrl" in blob.data:
        line += f' detailsURL="{interpolate_locale(blob.data["detailsUrl"], locale)}"'
    if "licenseUrl" in blob.data:
        line += f' licenseURL="{interpolate_locale(blob.data["licenseUrl"], locale)}"'
    return line


class ReleaseBlobV1(ReleaseBlob):
    multiple_patches = False
    unified_urls = False
    version_key = "extv"

    def update_line(self, request: UpdateRequest, update_type: Any) -> str:
        target, locale = request.build_target, request.locale or ""
        appv = self.locale_or_top_level(target, locale, "appv")
        extv = self.locale_or_top_level(target, locale, "extv")
        build_id = self.build_id(target, locale)
        line = (
            f'    <update type="{update_type}" version="{appv}" extensionVersion="{extv}"'
            f' buildID="{build_id}"'
        )
        return line + _urls(self, locale) + ">"

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        """Fake versions for old clients so they skip add-on compatibility checks."""
        xml = self.update_line(request, update_type)
        if not self.data.get("oldVersionSpecialCases"):
            return xml
        query = moz_version(request.version)
        appv = self.locale_or_top_level(request.build_target, request.locale or "", "appv")
        extv = self.locale_or_top_level(request.build_target, request.locale or "", "extv")
        if query >= moz_version("2.0") and query < moz_version("3.5"):
            xml = xml.replace(f'version="{appv}"', f'version="{request.version}"')
            xml = xml.replace(f'extensionVersion="{extv}" ', "")
        elif query >= moz_version("3.5") and query < moz_version("3.6"):
            xml = xml.replace(f'extensionVersion="{extv}" ', "")
        elif query >= moz_version("3.6") and query < moz_version("4.0"):
            xml = xml.replace(f'extensionVersion="{extv}"', f'extensionVersion="{request.version}"')
        return xml


_OPTIONAL_V2 = (
    "billboardURL",
    "showPrompt",
    "showNeverForVersion",
    "actions",
    "openURL",
    "notificationURL",
    "alertURL",
)
_OPTIONAL_V6 = (*_OPTIONAL_V2[1:], "promptWaitTime")


class ReleaseBlobV2(ReleaseBlob):
    multiple_patches = False
    unified_urls = False
    optional: tuple[str, ...] = _OPTIONAL_V2
    interpolable: tuple[str, ...] = ("billboardURL", "openURL", "notificationURL", "alertURL")

    def update_line(self, request: UpdateRequest, update_type: Any) -> str:
        target, locale = request.build_target, request.locale or ""
        display = self.locale_or_top_level(target, locale, "displayVersion")
        app = self.locale_or_top_level(target, locale, "appVersion")
        platform = self.locale_or_top_level(target, locale, "platformVersion")
        build_id = self.build_id(target, locale)
        locale_data = self.locale_data(target, locale)
        line = (
            f'    <update type="{update_type}" displayVersion="{display}" appVersion="{app}"'
            f' platformVersion="{platform}" buildID="{build_id}"'
        )
        line += _urls(self, locale)
        if locale_data.get("isOSUpdate"):
            line += ' isOSUpdate="true"'
        for attr in self.optional:
            if attr in self.data:
                value = self.data[attr]
                if attr in self.interpolable:
                    line += f' {attr}="{interpolate_locale(value, locale)}"'
                else:
                    line += f' {attr}="{_text(value)}"'
        return line + ">"


class ReleaseBlobV3(ReleaseBlobV2):
    multiple_patches = True

    def _ftp_filename(self, key: str, from_: str) -> Any:
        return self.data.get("ftpFilenames", {}).get(key, {}).get(from_, "")

    def _product(self, key: str, from_: str) -> Any:
        return self.data.get("bouncerProducts", {}).get(key, {}).get(from_, "")


class ReleaseBlobV4(ReleaseBlobV2):
    multiple_patches = True
    unified_urls = True


class ReleaseBlobV5(ReleaseBlobV4):
    optional = (*_OPTIONAL_V2, "promptWaitTime")


class ReleaseBlobV6(ReleaseBlobV4):
    optional = _OPTIONAL_V6
    interpolable = ("openURL", "notificationURL", "alertURL")


class ReleaseBlobV8(ReleaseBlobV6):
    optional = (*_OPTIONAL_V6, "binTransMerkleRoot", "binTransCertificate", "binTransSCTList")
    proofs = True


class ReleaseBlobV9(ReleaseBlob):
    proofs = True
    interpolable = ("openURL", "notificationURL", "alertURL", "detailsURL")

    def _group_applies(self, conditions: Any, request: UpdateRequest) -> bool:
        """Every condition is evaluated (an invalid one fails even when another
        already failed, as in Balrog); all must hold."""
        results = []
        for condition, values in conditions.items():
            if condition == "channels":
                ok = any(channel_matches(c, request.channel) for c in values)
            elif condition == "locales":
                ok = request.locale in values
            elif condition == "versions":
                ok = any(VersionExpression(v).matches(request.version) for v in values)
            elif condition == "buildIDs":
                ok = any(StringExpression(v).matches(request.build_id or "") for v in values)
            else:
                ok = False  # an unknown condition never matches
            results.append(ok)
        return all(results)

    def update_line(self, request: UpdateRequest, update_type: Any) -> str:
        target, locale = request.build_target, request.locale or ""
        attrs: dict[str, Any] = {
            "appVersion": self.locale_or_top_level(target, locale, "appVersion"),
            "displayVersion": self.locale_or_top_level(target, locale, "displayVersion"),
            "buildID": self.build_id(target, locale),
            "type": update_type,  # an updateLine "type" overrides the rule's
        }
        for group in self.data.get("updateLine", []):
            if self._group_applies(group["for"], request):
                attrs.update(group["fields"])
        for attr in self.interpolable:
            if attr in attrs:
                attrs[attr] = interpolate_locale(attrs[attr], locale)
        return "    <update" + "".join(f' {k}="{_text(attrs[k])}"' for k in sorted(attrs)) + ">"
