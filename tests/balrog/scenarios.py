"""A Balrog history touching every table and every kind of change.

Rules created, edited, deleted (and their alias taken by a new rule);
releases deleted and created again; shutoffs and pins inserted, changed and
deleted; permissions granted, changed and revoked; roles; required signoffs;
scheduled changes scheduled, modified, signed off, revoked, cancelled and
enacted (by time and by uptake). ``MOMENTS`` collects the times of note.
"""

from __future__ import annotations

from typing import Any

from tests.balrog.writer import BalrogWriter


def blob(name: str, version: str = "120.0") -> dict[str, Any]:
    return {
        "name": name,
        "schema_version": 1,
        "appv": version,
        "extv": version,
        "hashFunction": "sha512",
        "platforms": {
            "WINNT_x86_64-msvc": {
                "buildID": "20231116134553",
                "locales": {
                    "en-US": {
                        "complete": {
                            "filesize": 1234,
                            "from": "*",
                            "hashValue": "ab" * 64,
                            "fileUrl": f"http://download.mozilla.org/?product={name}",
                        }
                    }
                },
            }
        },
    }


def rule(mapping: str, **fields: Any) -> dict[str, Any]:
    return {
        "priority": 100,
        "backgroundRate": 100,
        "update_type": "minor",
        "product": "Firefox",
        "channel": "release",
        "mapping": mapping,
        **fields,
    }


def build_full_history(w: BalrogWriter) -> dict[str, int]:
    """Write the scenario; return its moments of note (ms)."""
    at: dict[str, int] = {}
    w.insert("permissions", {"permission": "admin", "username": "alice", "options": None}, "alice")
    w.insert(
        "permissions",
        {"permission": "rule", "username": "bob", "options": {"products": ["Firefox"]}},
        "alice",
    )
    w.update("permissions", {"permission": "rule", "username": "bob"},
             {"options": {"products": ["Firefox", "Thunderbird"]}}, "alice")
    w.insert("permissions", {"permission": "release", "username": "carol", "options": None},
             "alice")
    w.delete("permissions", {"permission": "release", "username": "carol"}, "alice")
    w.insert("user_roles", {"username": "bob", "role": "relman"}, "alice")
    w.insert("user_roles", {"username": "carol", "role": "qa"}, "alice")
    w.delete("user_roles", {"username": "carol", "role": "qa"}, "alice")
    w.insert("user_roles", {"username": "dave", "role": "relman"}, "alice")
    w.insert("permissions_req_signoffs", {"product": "Firefox", "role": "relman",
                                          "signoffs_required": 1}, "alice")

    w.insert("releases", {"name": "Firefox-120.0-build1", "product": "Firefox",
                          "read_only": False, "data": blob("Firefox-120.0-build1")}, "bob")
    w.insert("releases", {"name": "Firefox-121.0-build1", "product": "Firefox",
                          "read_only": False, "data": blob("Firefox-121.0-build1", "121.0")},
             "bob")
    w.insert("releases", {"name": "Firefox-119.0-build1", "product": "Firefox",
                          "read_only": False, "data": blob("Firefox-119.0-build1", "119.0")},
             "bob")
    r1 = w.insert("rules", rule("Firefox-120.0-build1", alias="firefox-release"), "bob")
    r2 = w.insert("rules", rule("Firefox-119.0-build1", channel="beta", priority=90), "bob")
    at["rules_created"] = w.now
    w.update("rules", {"rule_id": r1["rule_id"]}, {"backgroundRate": 50}, "bob")
    w.update("rules", {"rule_id": r2["rule_id"]}, {"comment": "beta users"}, "bob")
    at["rules_edited"] = w.now
    w.delete("rules", {"rule_id": r2["rule_id"]}, "bob")
    at["rule_deleted"] = w.now
    w.delete("releases", {"name": "Firefox-119.0-build1"}, "bob")
    w.insert("releases", {"name": "Firefox-119.0-build1", "product": "Firefox",
                          "read_only": False, "data": blob("Firefox-119.0-build1", "119.0")},
             "bob")
    w.update("releases", {"name": "Firefox-121.0-build1"}, {"read_only": True}, "bob")
    w.update("rules", {"rule_id": r1["rule_id"]}, {"alias": None}, "bob")
    r3 = w.insert("rules", rule("Firefox-119.0-build1", alias="firefox-release", priority=80,
                                channel="esr"), "bob")

    w.insert("emergency_shutoffs", {"product": "Firefox", "channel": "nightly",
                                    "comment": "bad build"}, "alice")
    w.delete("emergency_shutoffs", {"product": "Firefox", "channel": "nightly"}, "alice")
    w.insert("emergency_shutoffs", {"product": "Firefox", "channel": "beta", "comment": None},
             "alice")
    w.insert("pinnable_releases", {"product": "Firefox", "channel": "release", "version": "120.",
                                   "mapping": "Firefox-120.0-build1"}, "bob")
    w.update("pinnable_releases", {"product": "Firefox", "version": "120.", "channel": "release"},
             {"mapping": "Firefox-121.0-build1"}, "bob")
    w.insert("pinnable_releases", {"product": "Firefox", "channel": "beta", "version": "119.",
                                   "mapping": "Firefox-119.0-build1"}, "bob")
    w.delete("pinnable_releases", {"product": "Firefox", "version": "119.", "channel": "beta"},
             "bob")
    w.insert("product_req_signoffs", {"product": "Firefox", "channel": "release",
                                      "role": "relman", "signoffs_required": 1}, "alice")
    w.update("product_req_signoffs", {"product": "Firefox", "channel": "release",
                                      "role": "relman"}, {"signoffs_required": 2}, "alice")
    w.insert("product_req_signoffs", {"product": "Firefox", "channel": "beta", "role": "relman",
                                      "signoffs_required": 1}, "alice")
    w.delete("product_req_signoffs", {"product": "Firefox", "channel": "beta", "role": "relman"},
             "alice")

    # Scheduled changes: enacted by time, signed off; one cancelled; one revoked; uptake.
    cur = w.current("rules", {"rule_id": r1["rule_id"]})
    assert cur is not None
    base = {k: v for k, v in cur.items() if k != "data_version"}
    sc1 = w.schedule("rules", "update", {**base, "mapping": "Firefox-121.0-build1"}, "bob",
                     when=w.now + 60_000, base_data_version=cur["data_version"])
    w.sign_off("rules", sc1, "bob", "relman")
    w.sign_off("rules", sc1, "dave", "relman")
    w.modify("rules", sc1, {"backgroundRate": 25}, "bob")  # dave's signoff is reset
    w.sign_off("rules", sc1, "dave", "relman")
    at["sc_signed"] = w.now
    w.enact("rules", sc1)
    at["sc_enacted"] = w.now
    sc2 = w.schedule("rules", "insert", rule("Firefox-121.0-build1", channel="aurora"), "bob",
                     uptake=("Firefox", "release", 50))
    w.sign_off("rules", sc2, "bob", "relman")
    w.revoke("rules", sc2, "bob", "bob")  # revoked: stays pending, unsigned
    sc3 = w.schedule("rules", "delete", {"rule_id": r3["rule_id"]}, "bob", when=w.now + 90_000,
                     base_data_version=1)
    w.cancel("rules", sc3, "bob")
    sc4 = w.schedule("rules", "insert", rule("Firefox-121.0-build1", channel="esr", priority=5),
                     "bob", when=w.now + 30_000)
    w.enact("rules", sc4)
    sc5 = w.schedule("emergency_shutoffs", "insert", {"product": "Firefox", "channel": "release",
                                                      "comment": "planned"}, "alice",
                     when=w.now + 50_000)
    w.sign_off("emergency_shutoffs", sc5, "dave", "relman")
    sc6 = w.schedule("permissions", "insert", {"permission": "rule", "username": "erin",
                                               "options": None}, "alice", when=w.now + 70_000)
    w.enact("permissions", sc6)
    w.schedule("pinnable_releases", "delete", {"product": "Firefox", "channel": "release",
                                               "version": "120."}, "bob", when=w.now + 80_000,
               base_data_version=2)
    w.schedule("releases", "update", {"name": "Firefox-120.0-build1", "product": "Firefox",
                                      "read_only": False,
                                      "data": blob("Firefox-120.0-build1", "120.0.1")},
               "bob", when=w.now + 90_000, base_data_version=1)
    w.schedule("product_req_signoffs", "insert", {"product": "Firefox", "channel": "esr",
                                                  "role": "relman", "signoffs_required": 1},
               "alice", when=w.now + 100_000)
    w.schedule("permissions_req_signoffs", "delete", {"product": "Firefox", "role": "relman"},
               "alice", when=w.now + 110_000, base_data_version=1)
    w.update("rules", {"rule_id": r3["rule_id"]}, {"priority": 85}, "bob")
    at["end"] = w.now
    return at


# ---------------------------------------------------------------- v2 (split) releases

DE = ".platforms.WINNT_x86_64-msvc.locales.de"
FR = ".platforms.WINNT_x86_64-msvc.locales.fr"
IT = ".platforms.WINNT_x86_64-msvc.locales.it"
EN = ".platforms.WINNT_x86_64-msvc.locales.en-US"


def locale(name: str, size: int) -> dict[str, Any]:
    return {"complete": {"filesize": size, "from": "*", "hashValue": "cd" * 64,
                         "fileUrl": f"http://download.mozilla.org/?product={name}&size={size}"}}


def v2_base(name: str, version: str) -> dict[str, Any]:
    """A blob as ``releases_json`` keeps it: without its locales."""
    whole = blob(name, version)
    del whole["platforms"]["WINNT_x86_64-msvc"]["locales"]
    return whole


def build_v2_releases(w: BalrogWriter) -> dict[str, int]:
    """Releases written through Balrog's admin API v2 (after ``build_full_history``).

    ``Firefox-122.0-build1``: a base (data_version 3) and en-US (1), de (2), fr (4,
    one of them an enacted scheduled change) assets, mapped by a beta rule, with a
    pending v2 change of its base, de and a new it locale, signed off by bob on
    every part. ``Firefox-119.0-build1`` is also in ``releases``: Balrog serves the
    ``releases_json`` one. ``Thunderbird-1.0`` has a base only.
    """
    at: dict[str, int] = {}
    n122 = "Firefox-122.0-build1"
    w.insert("releases_json", {"name": n122, "product": "Firefox", "read_only": False,
                               "data": v2_base(n122, "122.0")}, "bob")
    for path, size in ((EN, 100), (DE, 200), (FR, 300)):
        w.insert("release_assets", {"name": n122, "path": path, "data": locale(n122, size)},
                 "bob")
    w.update("releases_json", {"name": n122}, {"data": v2_base(n122, "122.0.1")}, "bob")
    w.update("releases_json", {"name": n122}, {"data": v2_base(n122, "122.0.2")}, "bob")
    w.update("release_assets", {"name": n122, "path": DE}, {"data": locale(n122, 201)}, "bob")
    for size in (301, 302):
        w.update("release_assets", {"name": n122, "path": FR}, {"data": locale(n122, size)},
                 "bob")
    ended = w.schedule("release_assets", "update",
                       {"name": n122, "path": FR, "data": locale(n122, 303)}, "bob",
                       when=w.now + 10_000, base_data_version=3)
    w.enact("release_assets", ended)
    n119 = "Firefox-119.0-build1"
    w.insert("releases_json", {"name": n119, "product": "Firefox", "read_only": False,
                               "data": v2_base(n119, "119.0.9")}, "bob")
    w.insert("release_assets", {"name": n119, "path": EN, "data": locale(n119, 119)}, "bob")
    w.insert("releases_json", {"name": "Thunderbird-1.0", "product": "Thunderbird",
                               "read_only": True, "data": v2_base("Thunderbird-1.0", "1.0")},
             "bob")
    w.insert("rules", rule(n122, channel="aurora", priority=95), "bob")
    when = w.now + 600_000
    base_sc = w.schedule("releases_json", "update",
                         {"name": n122, "product": "Firefox", "read_only": False,
                          "data": v2_base(n122, "122.0.3")}, "bob", when=when,
                         base_data_version=3)
    de_sc = w.schedule("release_assets", "update",
                       {"name": n122, "path": DE, "data": locale(n122, 202)}, "bob",
                       when=when, base_data_version=2)
    it_sc = w.schedule("release_assets", "insert",
                       {"name": n122, "path": IT, "data": locale(n122, 400)}, "bob", when=when)
    w.sign_off("releases_json", base_sc, "bob", "relman")
    for sc in (de_sc, it_sc):
        w.sign_off("release_assets", sc, "bob", "relman")
    at["v2_scheduled_when"] = when
    at["v2_end"] = w.now
    return at
