#!/usr/bin/env python3
"""Derive ONE OpenAPI document from Zoom's Meetings, Users and Accounts specs for Prism.

    .ci/derive-zoom-spec.py SPEC_DIR OUT_FILE

SPEC_DIR holds Zoom's vendor files (meetings/users/accounts.openapi.json, see
shared/specs/zoom/README.md). They must never be copied into the repository: OUT_FILE is meant
to live in a temporary directory and to be thrown away after the run. Everything this script
changes is listed in docs/spec-conformance.md ("What the derived spec changes"); a summary of
each change is printed to stderr, and the same list is stored in the output under
`info.x-chaperone-derivation` so a reader of the derived file can see it is not Zoom's.

Changes, in short:
  1. merge: one `paths` object from the three files (a path found in two files is an error
     unless both are identical), one `components` object (identical entries kept once; OAuth
     schemes that differ only in their scope lists get the union of the scopes; anything else
     that collides is renamed `<name>__<file>` and that file's references are rewritten);
  2. `servers` is kept as Zoom's `https://api.zoom.us/v2` (Prism 5.16 matches request paths
     against `paths` and ignores the server's base path, so nothing needs rewriting);
  3. settings request bodies (`oneOf` of 2-4 branches, see zoom.md §8.1): replaced by the
     branch used when there is no `option` query value (branch 0);
  4. settings GET responses (`oneOf`): replaced by branch 0 extended with the top-level
     properties of the other branches, so an `?option=...` answer is still checked;
  5. `additionalProperties: false` (recursively) on the request bodies chaperone sends:
     PATCH /meetings/{meetingId} and PATCH /users/{userId}/settings;
  6. `format: int64` removed from integer schemas: Prism caps int64 at 2^53 - 1, and Zoom's
     meeting ids (int64) go above it.

Python 3 standard library only.
"""

import argparse
import copy
import hashlib
import json
import os
import sys

SOURCES = ("meetings", "users", "accounts")

# The settings endpoints whose request body (PATCH) and 200 answer (GET) are a `oneOf`.
SETTINGS_PATHS = (
    "/users/{userId}/settings",
    "/groups/{groupId}/settings",
    "/groups/{groupId}/lock_settings",
    "/accounts/{accountId}/settings",
    "/accounts/{accountId}/lock_settings",
)

# Request bodies chaperone sends: misplaced or misspelt fields must fail, not pass silently.
STRICT_BODIES = (
    ("/meetings/{meetingId}", "patch"),
    ("/users/{userId}/settings", "patch"),
)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

changes = []


def note(text):
    changes.append(text)
    print("derive-zoom-spec: " + text, file=sys.stderr)


def fail(text):
    print("derive-zoom-spec: error: " + text, file=sys.stderr)
    sys.exit(2)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------------------------
# 1. merge


def rewrite_refs(node, old, new):
    """Rewrites `$ref: old` to `$ref: new` everywhere below node."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and v == old:
                node[k] = new
            else:
                rewrite_refs(v, old, new)
    elif isinstance(node, list):
        for v in node:
            rewrite_refs(v, old, new)


def rename_security_scheme(paths, old, new):
    """Renames a scheme in every operation's `security` requirement list."""
    for item in paths.values():
        for method, op in item.items():
            if method in HTTP_METHODS and isinstance(op, dict):
                for req in op.get("security", []) or []:
                    if old in req:
                        req[new] = req.pop(old)


def without_scopes(scheme):
    s = copy.deepcopy(scheme)
    for flow in s.get("flows", {}).values():
        flow.pop("scopes", None)
    return s


def merge(docs):
    first = docs[SOURCES[0]]
    out = {
        "openapi": first["openapi"],
        "info": {},
        "servers": first.get("servers", []),
        "paths": {},
        "components": {},
    }
    for name in SOURCES:
        if docs[name].get("openapi") != out["openapi"]:
            fail(f"{name}: openapi {docs[name].get('openapi')} differs from {out['openapi']}")
    owner = {}
    for name in SOURCES:
        doc = docs[name]
        paths = doc.get("paths", {})
        for section, entries in (doc.get("components") or {}).items():
            merged = out["components"].setdefault(section, {})
            for key, value in entries.items():
                if key not in merged:
                    merged[key] = value
                    continue
                if merged[key] == value:
                    continue
                if (
                    section == "securitySchemes"
                    and value.get("type") == "oauth2"
                    and without_scopes(merged[key]) == without_scopes(value)
                ):
                    for flow_name, flow in value.get("flows", {}).items():
                        merged[key]["flows"][flow_name].setdefault("scopes", {}).update(
                            flow.get("scopes", {})
                        )
                    note(f"components.{section}.{key}: {name}.openapi.json lists other scopes; scope lists united")
                    continue
                new = f"{key}__{name}"
                merged[new] = value
                rewrite_refs(paths, f"#/components/{section}/{key}", f"#/components/{section}/{new}")
                if section == "securitySchemes":
                    rename_security_scheme(paths, key, new)
                note(f"components.{section}.{key}: differs in {name}.openapi.json; renamed to {new} there")
        for path, item in paths.items():
            if path in out["paths"]:
                if out["paths"][path] == item:
                    continue
                fail(f"path {path} is in both {owner[path]} and {name} with different content")
            out["paths"][path] = item
            owner[path] = name
        servers = doc.get("servers", [])
        if servers != out["servers"]:
            note(f"{name}.openapi.json declares servers {servers}; only one list is kept")
    counts = ", ".join(
        f"{len(docs[n].get('paths', {}))} from {n}" for n in SOURCES
    )
    note(f"paths merged: {len(out['paths'])} ({counts})")
    return out


# ---------------------------------------------------------------------------------------------
# 3./4. oneOf on the settings endpoints


def flatten_branches(schema):
    """The object schemas of a oneOf, with nested oneOfs (the authentication branch) opened."""
    result = []
    for branch in schema.get("oneOf", []):
        if "oneOf" in branch and not branch.get("properties"):
            result.extend(flatten_branches(branch))
        else:
            result.append(branch)
    return result


def option_mapping(schema):
    """Which `option` value each branch answers, found from the branch's top-level keys."""
    described = []
    for i, branch in enumerate(schema.get("oneOf", [])):
        keys = set()
        for b in flatten_branches({"oneOf": [branch]}):
            keys.update((b.get("properties") or {}).keys())
        title = branch.get("title") or "untitled"
        if i == 0:
            which = "no option" + (" (also option=security: it holds `security`)" if "security" in keys else "")
        elif "meeting_security" in keys:
            which = "option=meeting_security"
        elif {"meeting_authentication", "recording_authentication", "authentication_options"} & keys:
            which = "option=meeting_authentication / option=recording_authentication"
        elif "in_session" in keys or "session_security" in keys:
            which = "Video SDK accounts (no option value selects it)"
        else:
            which = "unknown"
        described.append(f"[{i}] {title}: {which}")
    return "; ".join(described)


def resolve_request(path, op):
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if not content or "oneOf" not in content.get("schema", {}):
        fail(f"PATCH {path}: expected a oneOf request body; the vendor spec changed, review the derivation")
    schema = content["schema"]
    mapping = option_mapping(schema)
    content["schema"] = copy.deepcopy(schema["oneOf"][0])
    note(f"PATCH {path}: request body oneOf -> branch 0. Branches: {mapping}")


def resolve_response(path, op):
    content = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
    if not content or "oneOf" not in content.get("schema", {}):
        fail(f"GET {path}: expected a oneOf 200 answer; the vendor spec changed, review the derivation")
    schema = content["schema"]
    mapping = option_mapping(schema)
    base = copy.deepcopy(schema["oneOf"][0])
    props = base.setdefault("properties", {})
    added, kept = [], []
    for branch in flatten_branches({"oneOf": schema["oneOf"][1:]}):
        for key, sub in (branch.get("properties") or {}).items():
            if key not in props:
                props[key] = copy.deepcopy(sub)
                added.append(key)
            elif props[key] != sub:
                kept.append(key)
    content["schema"] = base
    text = f"GET {path}: 200 answer oneOf -> branch 0 plus the other branches' top-level properties"
    if added:
        text += f" (added: {', '.join(sorted(set(added)))})"
    if kept:
        text += f" (same name in several branches, branch 0's or the first one's schema kept: {', '.join(sorted(set(kept)))})"
    note(text + f". Branches: {mapping}")


# ---------------------------------------------------------------------------------------------
# 5. additionalProperties: false


def strictify(schema, where, skipped):
    """Sets additionalProperties: false on every object schema with `properties` below schema."""
    if not isinstance(schema, dict):
        return 0
    count = 0
    if any(k in schema for k in ("oneOf", "anyOf", "allOf")):
        skipped.append(where)
        return 0
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        if "additionalProperties" not in schema:
            schema["additionalProperties"] = False
            count += 1
        for key, sub in props.items():
            count += strictify(sub, f"{where}.{key}", skipped)
    if isinstance(schema.get("items"), dict):
        count += strictify(schema["items"], f"{where}[]", skipped)
    return count


# ---------------------------------------------------------------------------------------------
# 6. int64


def drop_int64(node):
    """Removes `format: int64` from integer schemas; returns how many."""
    count = 0
    if isinstance(node, dict):
        if node.get("format") == "int64" and node.get("type") in ("integer", "number"):
            del node["format"]
            count += 1
        for v in node.values():
            count += drop_int64(v)
    elif isinstance(node, list):
        for v in node:
            count += drop_int64(v)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec_dir", help="folder with meetings/users/accounts.openapi.json")
    parser.add_argument("out", help="where to write the derived document (a temp dir, never the repo)")
    args = parser.parse_args()

    docs, hashes = {}, {}
    for name in SOURCES:
        path = os.path.join(args.spec_dir, f"{name}.openapi.json")
        try:
            with open(path, encoding="utf-8") as f:
                docs[name] = json.load(f)
        except (OSError, ValueError) as e:
            fail(f"cannot read {path}: {e}")
        hashes[f"{name}.openapi.json"] = sha256(path)

    out = merge(docs)

    for path in SETTINGS_PATHS:
        item = out["paths"].get(path)
        if not item or "patch" not in item or "get" not in item:
            fail(f"{path}: GET/PATCH missing; the vendor spec changed, review the derivation")
        resolve_request(path, item["patch"])
        resolve_response(path, item["get"])

    for path, method in STRICT_BODIES:
        op = out["paths"][path][method]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        skipped = []
        count = strictify(schema, "body", skipped)
        text = f"{method.upper()} {path}: additionalProperties: false on {count} object schemas of the request body"
        if skipped:
            text += f" (not below oneOf/anyOf/allOf at {', '.join(skipped)})"
        note(text)

    # Prism 5.16 (@stoplight/http-spec, oas/transformers/schema/keywords/format.js) turns
    # `format: int64` into `maximum: Number.MAX_SAFE_INTEGER` (2^53 - 1). Zoom's meeting ids are
    # int64 and do exceed 2^53 (zoom.md §9 item 9), so a correct id would be reported as a violation.
    n = drop_int64(out["paths"])
    note(f"format: int64 removed from {n} integer schemas (Prism caps int64 at 2^53 - 1; Zoom meeting ids go above)")

    out["info"] = {
        "title": "Zoom Meetings + Users + Accounts (DERIVED for chaperone's spec conformance check; not Zoom's document)",
        "version": docs["meetings"]["info"].get("version", "2"),
        "description": "Generated by .ci/derive-zoom-spec.py from Zoom's OpenAPI documents; see docs/spec-conformance.md. Do not commit or publish.",
        "termsOfService": docs["meetings"]["info"].get("termsOfService", ""),
        "x-derived-from": hashes,
        "x-chaperone-derivation": changes,
    }

    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    ops = sum(
        1 for item in out["paths"].values() for m in item if m in HTTP_METHODS
    )
    print(f"derive-zoom-spec: wrote {args.out}: {len(out['paths'])} paths, {ops} operations", file=sys.stderr)


if __name__ == "__main__":
    main()
