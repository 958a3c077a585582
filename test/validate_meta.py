#!/usr/bin/env python3
"""Validate a PGXN META.json against the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/),
and against the project: its version must be the extension's default_version
(pg_elt.control: '0.5' <-> "0.5.0"), and debian/changelog, when present, must
start with that upstream version.  Python 3 standard library only.

  validate_meta.py [META.json] [--root DIR] [--control FILE] [--debian-changelog FILE]

DIR (default: META.json's folder) is the distribution's root: provides' files
are looked for there, and so are <name>.control and debian/changelog unless
given.  Prints one line per error, "<field>: <message> [<rule>]"; exit 0 when
valid, 1 when not, 2 when the file cannot be read."""
import argparse, json, os, re, sys, unicodedata
from urllib.parse import urlparse

SEMVER = (r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
          r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
          r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
SEMVER_RE = re.compile(SEMVER + r"\Z")
RANGE_PART_RE = re.compile(r"(?:(==|!=|<=|>=|<|>)\s*)?(" + SEMVER + r")\Z")
LICENSES = set("""agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2 gfdl_1_3
    gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql
    qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown""".split())
REQUIRED = ["abstract", "license", "maintainer", "meta-spec", "name", "provides", "version"]
OPTIONAL = ["description", "generated_by", "tags", "no_index", "prereqs", "release_status", "resources"]
PHASES = ["configure", "build", "test", "runtime", "develop"]
RELATIONS = ["requires", "recommends", "suggests", "conflicts"]
SPEC_URLS = ["https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt"]
errors = []

def err(field, msg, rule):
    errors.append(f"{field or '/'}: {msg} [{rule}]")

def custom(key):
    return isinstance(key, str) and re.match(r"x_", key, re.I) is not None

def check_keys(field, obj, known):
    for k in obj:
        if k not in known and not custom(k):
            err(f"{field}/{k}", 'unknown key; custom keys must begin with "x_" or "X_"', "unknown-key")

def is_map(field, v, rule, nonempty=False):
    if not isinstance(v, dict):
        err(field, "must be a map (JSON object)", rule); return False
    if nonempty and not v:
        err(field, "must not be empty", rule); return False
    return True

def string(field, v, rule="string"):
    if not isinstance(v, str) or v == "":
        err(field, "must be a non-empty string", rule); return False
    return True

def word(field, v, kind, rule, lo, hi=None):   # Term and Tag
    if not string(field, v, rule): return False
    bad = [c for c in v if c in "/\\" or c.isspace() or unicodedata.category(c) == "Cc"]
    if bad or len(v) < lo or (hi and len(v) > hi):
        err(field, f"{v!r} is not a valid {kind} (at least {lo}{' and fewer than 256' if hi else ''} "
            "characters, no slash, backslash, space or control character)", rule); return False
    return True

def version(field, v):
    if not isinstance(v, str) or not SEMVER_RE.match(v):
        err(field, f"{v!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 0.5.0)", "semver"); return False
    return True

def version_range(field, v):
    if v == 0 or v == "0": return
    parts = v.split(",") if isinstance(v, str) else [None]
    for p in parts:
        p = p.strip() if p is not None else None
        if p != "0" and (p is None or not RANGE_PART_RE.match(p)):
            err(field, f"{v!r} is not a version range (0, or [op] MAJOR.MINOR.PATCH joined by commas; "
                "op one of == != < <= > >=)", "version-range"); return

def uri(field, v, rule="uri"):
    u = urlparse(v) if isinstance(v, str) else None
    if not u or not re.match(r"[a-z][a-z0-9+.-]*\Z", u.scheme or "", re.I) or not (u.netloc or u.path):
        err(field, f"{v!r} is not a URI", rule)

def path(field, v, root, must_exist):
    if not string(field, v, "path"): return
    if len(v) < 2 or v.startswith("/") or "\\" in v or ".." in v.split("/"):
        err(field, f"{v!r} is not a relative path in unix form", "path")
    elif must_exist and root is not None and not os.path.isfile(os.path.join(root, v)):
        err(field, f"{v!r} does not exist under {root}", "path-missing")

def string_list(field, v, each):
    items = [v] if isinstance(v, str) else v      # the spec: a String is a List of one
    if not isinstance(items, list) or not items:
        err(field, "must be a string or a non-empty list of strings", "list"); return
    if len(set(map(json.dumps, items))) != len(items):
        err(field, "has duplicate entries", "list-unique")
    for i, x in enumerate(items):
        each(f"{field}/{i}", x)

def validate(meta, root):
    if not is_map("", meta, "top-level"): return
    for k in REQUIRED:
        if k not in meta: err(f"/{k}", "missing required field", "required")
    check_keys("", meta, REQUIRED + OPTIONAL)
    for k in ("abstract", "description", "generated_by"):
        if k in meta: string(f"/{k}", meta[k])
    if "maintainer" in meta: string_list("/maintainer", meta["maintainer"], string)
    if "name" in meta: word("/name", meta["name"], "name (Term)", "name", 2)
    if "version" in meta: version("/version", meta["version"])
    lic = meta.get("license")
    if isinstance(lic, dict):
        if not lic: err("/license", "must not be empty", "license")
        for k, v in lic.items(): uri(f"/license/{k}", v, "license")
    elif "license" in meta:
        def one(f, v):
            if v not in LICENSES: err(f, f"{v!r} is not a license string of the spec", "license")
        string_list("/license", lic, one)
    ms = meta.get("meta-spec")
    if "meta-spec" in meta and is_map("/meta-spec", ms, "meta-spec"):
        if ms.get("version") != "1.0.0":
            err("/meta-spec/version", f"{ms.get('version')!r} is not \"1.0.0\"", "meta-spec")
        if "url" in ms and ms["url"] not in SPEC_URLS:
            err("/meta-spec/url", f"{ms['url']!r} is not {SPEC_URLS[0]}", "meta-spec-url")
        check_keys("/meta-spec", ms, ["version", "url"])
    prov = meta.get("provides")
    if "provides" in meta and is_map("/provides", prov, "provides", nonempty=True):
        for ext, e in prov.items():
            f = f"/provides/{ext}"
            word(f, ext, "extension name (Term)", "provides-name", 2)
            if not is_map(f, e, "provides"): continue
            for k in ("file", "version"):
                if k not in e: err(f"{f}/{k}", "missing required field", "provides-required")
            if "file" in e: path(f"{f}/file", e["file"], root, True)
            if "docfile" in e: path(f"{f}/docfile", e["docfile"], root, True)
            if "version" in e: version(f"{f}/version", e["version"])
            if "abstract" in e: string(f"{f}/abstract", e["abstract"])
            check_keys(f, e, ["file", "version", "abstract", "docfile"])
    pre = meta.get("prereqs")
    if "prereqs" in meta and is_map("/prereqs", pre, "prereqs"):
        for ph, rels in pre.items():
            if ph not in PHASES and not custom(ph):
                err(f"/prereqs/{ph}", f"unknown phase; one of {', '.join(PHASES)}", "prereqs-phase"); continue
            if not is_map(f"/prereqs/{ph}", rels, "prereqs", nonempty=True): continue
            for rel, deps in rels.items():
                f = f"/prereqs/{ph}/{rel}"
                if rel not in RELATIONS and not custom(rel):
                    err(f, f"unknown relationship; one of {', '.join(RELATIONS)}", "prereqs-relationship"); continue
                if not is_map(f, deps, "prereqs", nonempty=True): continue
                for dep, rng in deps.items():
                    word(f"{f}/{dep}", dep, "prerequisite name (Term)", "prereqs-name", 2)
                    version_range(f"{f}/{dep}", rng)
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        err("/release_status", f"{meta['release_status']!r} is not stable, testing or unstable", "release-status")
    res = meta.get("resources")
    if "resources" in meta and is_map("/resources", res, "resources"):
        check_keys("/resources", res, ["homepage", "bugtracker", "repository"])
        if "homepage" in res: uri("/resources/homepage", res["homepage"])
        for k, subs in (("bugtracker", ["web", "mailto"]), ("repository", ["url", "web", "type"])):
            if k in res and is_map(f"/resources/{k}", res[k], "resources", nonempty=True):
                check_keys(f"/resources/{k}", res[k], subs)
                for s in ("web", "url"):
                    if s in res[k]: uri(f"/resources/{k}/{s}", res[k][s])
        bt, repo = res.get("bugtracker"), res.get("repository")
        if isinstance(bt, dict) and "mailto" in bt and not re.match(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z", str(bt["mailto"])):
            err("/resources/bugtracker/mailto", f"{bt['mailto']!r} is not an email address", "email")
        if isinstance(repo, dict):
            if "type" in repo and (not isinstance(repo["type"], str) or not re.match(r"[a-z]+\Z", repo["type"])):
                err("/resources/repository/type", "must be a lowercase word such as git", "repository-type")
            if "url" in repo and "type" not in repo:
                err("/resources/repository", "a url needs a type", "repository-type")
    if "tags" in meta:
        string_list("/tags", meta["tags"], lambda f, v: word(f, v, "tag", "tag", 2, 255))
    ni = meta.get("no_index")
    if "no_index" in meta and is_map("/no_index", ni, "no_index", nonempty=True):
        check_keys("/no_index", ni, ["file", "directory"])
        for k in ("file", "directory"):
            if k in ni: string_list(f"/no_index/{k}", ni[k], lambda f, v: path(f, v, root, False))

def as_semver(v):   # the extension's '0.5' is the distribution's "0.5.0"
    return v + ".0" if re.match(r"\d+\.\d+\Z", v) else v

def check_project(meta, control, changelog):
    ok = lambda v: v if isinstance(v, str) and SEMVER_RE.match(v) else None   # bad ones are reported already
    mv = ok(meta.get("version")) if isinstance(meta, dict) else None
    if control:
        m = re.search(r"^\s*default_version\s*=\s*'([^']*)'", open(control, encoding="utf-8").read(), re.M)
        if not m:
            err("/version", f"no default_version in {control}", "control-version"); return
        cv, ext = m.group(1), os.path.basename(control)[:-len(".control")]
        prov = meta.get("provides") if isinstance(meta, dict) else None
        pv = ok(prov[ext].get("version")) if isinstance(prov, dict) and isinstance(prov.get(ext), dict) else None
        for f, v in (("/version", mv), (f"/provides/{ext}/version", pv)):
            if v is not None and v != as_semver(cv):
                err(f, f"{v!r} does not match {control}'s default_version '{cv}' (expected \"{as_semver(cv)}\")",
                    "control-version")
    if changelog and mv:
        first = open(changelog, encoding="utf-8").readline()
        m = re.match(r"(\S+) \(([^)]+)\)", first)
        up = m and m.group(2).split(":", 1)[-1].rsplit("-", 1)[0].split("~", 1)[0]
        if not up or as_semver(up) != mv:
            err("/version", f"{changelog} starts with {m.group(2) if m else first.strip()!r}, "
                f"not upstream version {mv} (or {mv[:-2] if mv.endswith('.0') else mv})", "debian-changelog")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("meta", nargs="?", default="META.json")
    ap.add_argument("--root"); ap.add_argument("--control"); ap.add_argument("--debian-changelog")
    a = ap.parse_args()
    try:
        meta = json.load(open(a.meta, encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"{a.meta}: cannot read JSON: {e}", file=sys.stderr); return 2
    root = a.root or os.path.dirname(os.path.abspath(a.meta))
    validate(meta, root)
    name = meta.get("name") if isinstance(meta, dict) and isinstance(meta.get("name"), str) else ""
    control = a.control or next((p for p in [os.path.join(root, name + ".control")] if name and os.path.isfile(p)), None)
    changelog = a.debian_changelog or next((p for p in [os.path.join(root, "debian", "changelog")] if os.path.isfile(p)), None)
    check_project(meta, control, changelog)
    for e in errors: print(f"{a.meta}: {e}")
    if not errors:
        print(f"{a.meta}: valid PGXN Meta Spec 1.0.0"
              + (f"; version agrees with {control}" if control else "; no control file checked")
              + (f" and {changelog}" if changelog else ""))
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
