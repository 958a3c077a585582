#!/bin/bash
# Tests test/validate_meta.py: the project's META.json passes in a
# distribution root laid out like pg_elt's (its control file, a
# debian/changelog of the same version), and each broken variant is
# rejected with the rule it breaks named.  Prints "ok meta ..." per case.
#   bash test/validate_meta_test.sh            (python3 only)
set -u
here=$(cd "$(dirname "$0")" && pwd)
v="$here/validate_meta.py"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pass=0; fail=0

# The project's own META.json, in the project (its control file, its
# debian/changelog).
if out=$(python3 "$v" "$here/../META.json" 2>&1); then
    pass=$((pass+1)); echo "ok meta project: $out"
else
    fail=$((fail+1)); echo "not ok meta project:"; echo "$out" | sed 's/^/      /'
fi

# A distribution root: what META.json's provides and the project checks read.
root="$work/root"; mkdir -p "$root/sql" "$root/debian"
cp "$here/../META.json" "$here/../pg_elt.control" "$root/"
: > "$root/sql/pg_elt--0.1.sql"; : > "$root/README.md"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$root/pg_elt.control")
printf 'pg-elt (%s-1) unstable; urgency=medium\n\n  * Release.\n' "$version" > "$root/debian/changelog"

# variant NAME PYTHON: writes $work/NAME/META.json, META.json's data changed by
# PYTHON (on the dict m), in a copy of the root.
variant() {
    rm -rf "$work/$1"; cp -r "$root" "$work/$1"
    python3 - "$work/$1/META.json" "$2" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(m, open(sys.argv[1], "w"), indent=3)
EOF
}

ok() {    # ok NAME [extra validator args]: must pass
    local d="$work/$1"; shift
    if out=$(python3 "$v" "$d/META.json" "$@" 2>&1); then
        pass=$((pass+1)); echo "ok meta $(basename "$d"): $out"
    else
        fail=$((fail+1)); echo "not ok meta $(basename "$d") should pass:"; echo "$out" | sed 's/^/      /'
    fi
}

bad() {   # bad NAME RULE FIELD: must fail with "FIELD: ... [RULE]", and no other rule's error
    local d="$work/$1" rule=$2 field=$3 rc
    out=$(python3 "$v" "$d/META.json" 2>&1); rc=$?
    if [ $rc -eq 1 ] && ! grep -vqF -- "[$rule]" <<<"$out" && grep -qF -- "$field" <<<"$out" && grep -qF -- "[$rule]" <<<"$out"; then
        pass=$((pass+1)); echo "ok meta $1 rejected: $(grep -F -- "[$rule]" <<<"$out" | head -1 | sed 's/^[^ ]* //')"
    else
        fail=$((fail+1)); echo "not ok meta $1: expected exit 1 and $field ... [$rule], got exit $rc:"; echo "$out" | sed 's/^/      /'
    fi
}

# The good ones.
ok root
variant custom_keys 'm["x_debian"] = {"package": "postgresql-15-elt"}; m["provides"]["pg_elt"]["X_note"] = 1; m["resources"] = {"x_chat": "irc"}'
ok custom_keys
variant license_forms 'm["license"] = ["postgresql", "mit"]'
ok license_forms
variant license_map 'm["license"] = {"PostgreSQL": "https://www.postgresql.org/about/licence"}'
ok license_map
variant maintainer_string 'm["maintainer"] = "pg_elt developers"'
ok maintainer_string
variant full_resources 'm["resources"] = {"homepage": "https://example.org/pg_elt", "bugtracker": {"web": "https://example.org/pg_elt/issues", "mailto": "bugs@example.org"}, "repository": {"url": "https://example.org/pg_elt.git", "web": "https://example.org/pg_elt", "type": "git"}}'
ok full_resources
variant debian_short 'pass'
printf 'pg-elt (%s-1) unstable; urgency=medium\n' "$version" > "$work/debian_short/debian/changelog"
ok debian_short
variant no_debian 'pass'
rm -r "$work/no_debian/debian"
ok no_debian

# The broken ones: each names its rule.
for k in abstract license maintainer meta-spec name provides version; do
    variant "missing_$k" "del m['$k']"
    bad "missing_$k" required "/$k:"
done
variant version_two_part 'm["version"] = "0.5"'
bad version_two_part semver "/version:"
variant version_leading_zero 'm["version"] = "0.05.0"'
bad version_leading_zero semver "/version:"
variant provides_version 'm["provides"]["pg_elt"]["version"] = "0.5"'
bad provides_version semver "/provides/pg_elt/version:"
variant provides_no_file 'del m["provides"]["pg_elt"]["file"]'
bad provides_no_file provides-required "/provides/pg_elt/file:"
variant provides_no_version 'del m["provides"]["pg_elt"]["version"]'
bad provides_no_version provides-required "/provides/pg_elt/version:"
variant provides_missing_file 'm["provides"]["pg_elt"]["file"] = "sql/pg_elt--0.5.sql"'
bad provides_missing_file path-missing "/provides/pg_elt/file:"
variant provides_absolute 'm["provides"]["pg_elt"]["file"] = "/usr/share/pg_elt.sql"'
bad provides_absolute path "/provides/pg_elt/file:"
variant provides_empty 'm["provides"] = {}'
bad provides_empty provides "/provides:"
variant name_space 'm["name"] = "pg elt"'
bad name_space name "/name:"
variant name_slash 'm["name"] = "pg/elt"'
bad name_slash name "/name:"
variant name_short 'm["name"] = "p"'
bad name_short name "/name:"
variant license_unknown 'm["license"] = "PostgreSQL"'
bad license_unknown license "/license/0:"
variant license_map_not_uri 'm["license"] = {"PostgreSQL": "the PostgreSQL licence"}'
bad license_map_not_uri license "/license/PostgreSQL:"
variant meta_spec_version 'm["meta-spec"]["version"] = "1.0"'
bad meta_spec_version meta-spec "/meta-spec/version:"
variant meta_spec_url 'm["meta-spec"]["url"] = "https://pgxn.org/spec/"'
bad meta_spec_url meta-spec-url "/meta-spec/url:"
variant unknown_top 'm["homepage"] = "https://example.org"'
bad unknown_top unknown-key "/homepage:"
variant unknown_provides_key 'm["provides"]["pg_elt"]["docs"] = "README.md"'
bad unknown_provides_key unknown-key "/provides/pg_elt/docs:"
variant prereqs_phase 'm["prereqs"]["run"] = m["prereqs"].pop("runtime")'
bad prereqs_phase prereqs-phase "/prereqs/run:"
variant prereqs_relationship 'm["prereqs"]["runtime"]["needs"] = m["prereqs"]["runtime"].pop("requires")'
bad prereqs_relationship prereqs-relationship "/prereqs/runtime/needs:"
variant prereqs_range 'm["prereqs"]["runtime"]["requires"]["PostgreSQL"] = "15"'
bad prereqs_range version-range "/prereqs/runtime/requires/PostgreSQL:"
variant prereqs_operator 'm["prereqs"]["runtime"]["requires"]["PostgreSQL"] = "=> 15.0.0"'
bad prereqs_operator version-range "/prereqs/runtime/requires/PostgreSQL:"
variant prereqs_list 'm["prereqs"]["runtime"]["requires"] = ["PostgreSQL"]'
bad prereqs_list prereqs "/prereqs/runtime/requires:"
variant release_status 'm["release_status"] = "beta"'
bad release_status release-status "/release_status:"
variant resources_uri 'm["resources"] = {"homepage": "not a uri"}'
bad resources_uri uri "/resources/homepage:"
variant resources_unknown 'm["resources"] = {"wiki": "https://example.org"}'
bad resources_unknown unknown-key "/resources/wiki:"
variant repository_no_type 'm["resources"] = {"repository": {"url": "https://example.org/pg_elt.git"}}'
bad repository_no_type repository-type "/resources/repository:"
variant bugtracker_mailto 'm["resources"] = {"bugtracker": {"mailto": "nobody"}}'
bad bugtracker_mailto email "/resources/bugtracker/mailto:"
variant tag_space 'm["tags"].append("data loading")'
bad tag_space tag "/tags/"
variant abstract_empty 'm["abstract"] = ""'
bad abstract_empty string "/abstract:"
variant control_mismatch 'pass'
sed -i "s/^default_version = .*/default_version = '0.0'/" "$work/control_mismatch/pg_elt.control"
bad control_mismatch control-version "/version:"
variant debian_mismatch 'pass'
printf 'pg-elt (0.0.1-1) unstable; urgency=medium\n' > "$work/debian_mismatch/debian/changelog"
bad debian_mismatch debian-changelog "/version:"

# Not JSON at all: exit 2.
mkdir -p "$work/not_json"; echo '{"name": "pg_elt",' > "$work/not_json/META.json"
python3 "$v" "$work/not_json/META.json" >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then pass=$((pass+1)); echo "ok meta not_json: exit 2"; else fail=$((fail+1)); echo "not ok meta not_json: exit $rc"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
