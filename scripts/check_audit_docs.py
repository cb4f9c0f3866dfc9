#!/usr/bin/env python3
# Checks every example of docs/audit.md with an independent implementation (hashlib and
# pyca/cryptography, no Strongroom code): the published entries (canonical JSON, documented
# members), their leaf hashes, the RFC 6962 root and node rows, the checkpoint's c2sp.org
# signed-note signature under the published verifier key (and the signing key that made it),
# and the inclusion and consistency proofs with RFC 9162's algorithms.
# Each fenced block must follow a `<!-- check_audit_docs: KIND -->` line: a block without one
# fails, so no example goes unchecked. With STRONGROOM_BINARY, the flags of the command examples
# are checked against its --help. Exit status 1 when anything does not verify.
# Usage: check_audit_docs.py [docs/audit.md] [STRONGROOM_BINARY]
import base64, hashlib, json, re, subprocess, sys, traceback
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

page = sys.argv[1] if len(sys.argv) > 1 else "docs/audit.md"
binary = sys.argv[2] if len(sys.argv) > 2 else None
failures = []
def check(ok, what, quiet=False):
    if not ok or not quiet: print(("ok  " if ok else "FAIL"), what)
    if not ok: failures.append(what)
    return ok
def crash(kind, value, tb):  # a malformed example (bad base64, JSON, hex) fails like any other
    print("FAIL", f"{kind.__name__}: {value} (check_audit_docs.py line {traceback.extract_tb(tb)[-1].lineno})")
    sys.exit(1)
sys.excepthook = crash

# --- The page: fenced blocks and their markers.
lines = open(page, encoding="utf-8").read().split("\n")
blocks = {}  # kind -> [(line number, text)]
i = 0
while i < len(lines):
    if not lines[i].startswith("```"):
        i += 1; continue
    end = next((j for j in range(i + 1, len(lines)) if lines[j] == "```"), None)
    if not check(end is not None, f"line {i + 1}: fenced block closed", quiet=True): break
    k = i - 1
    while k >= 0 and not lines[k].strip(): k -= 1
    marker = re.fullmatch(r"<!-- check_audit_docs: ([a-z-]+) -->", lines[k]) if k >= 0 else None
    check(marker is not None, f"line {i + 1}: fenced block has a check_audit_docs marker", quiet=True)
    if marker: blocks.setdefault(marker[1], []).append((i + 1, "\n".join(lines[i + 1:end]) + "\n"))
    i = end + 1
known = {"entry", "entries", "verifier-key", "signing-key", "node-rows", "checkpoint", "inclusion-proof",
         "consistency-proof", "commands"}
check(set(blocks) <= known, f"markers are known kinds ({', '.join(sorted(set(blocks) - known)) or 'all'})")
for kind in sorted(known - {"entry", "commands"}):
    check(len(blocks.get(kind, [])) == 1, f"exactly one {kind} example")
if failures: sys.exit(1)
one = lambda kind: blocks[kind][0][1]

# --- RFC 6962 hashing, PATH and PROOF, and RFC 9162's verification.
def leaf(b): return hashlib.sha256(b"\x00" + b).digest()
def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()
def split(n): return 1 << ((n - 1).bit_length() - 1)
def mth(d):
    if not d: return hashlib.sha256(b"").digest()
    if len(d) == 1: return d[0]
    k = split(len(d))
    return node(mth(d[:k]), mth(d[k:]))
def audit_path(m, d):
    if len(d) == 1: return []
    k = split(len(d))
    return audit_path(m, d[:k]) + [mth(d[k:])] if m < k else audit_path(m - k, d[k:]) + [mth(d[:k])]
def subproof(m, d, whole):
    if m == len(d): return [] if whole else [mth(d)]
    k = split(len(d))
    return subproof(m, d[:k], whole) + [mth(d[k:])] if m <= k else subproof(m - k, d[k:], False) + [mth(d[:k])]
def verify_inclusion(index, size, h, path, root):
    if index >= size: return False
    fn, sn, r = index, size - 1, h
    for p in path:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root
def verify_consistency(m, n, r1, r2, path):
    if m == n: return not path and r1 == r2
    if not 0 < m < n or not path and m & (m - 1): return False
    if m & (m - 1) == 0: path = [r1] + path
    fn, sn = m - 1, n - 1
    while fn & 1: fn >>= 1; sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == r1 and sr == r2
HEX = re.compile(r"[0-9a-f]{64}")

# --- Entries: canonical RFC 8785 JSON, members and types as the entries table says.
types = {}
for row in lines:
    m = re.fullmatch(r"\| `(\w+)` \| (integer|string|array of strings)(, optional)? \| .* \|", row)
    if m: types[m[1]] = (m[2], bool(m[3]))
check({"index", "time", "principal", "action", "resource", "decision"} <= set(types),
      f"entries table documents the members ({len(types)})")
is_type = {"integer": lambda v: type(v) is int, "string": lambda v: type(v) is str,
           "array of strings": lambda v: type(v) is list and all(type(s) is str for s in v)}
raw = [line.encode("utf-8") for line in one("entries").splitlines()]
for i, b in enumerate(raw):
    try: e = json.loads(b)
    except ValueError: check(False, f"entry {i} is JSON"); continue
    if not check(type(e) is dict, f"entry {i} is an object", quiet=True): continue
    check(e.get("index") == i, f"entry {i} records index {i}")
    check(b == json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
          f"entry {i} is canonical JSON (members in code-point order, no whitespace)")
    check(set(e) <= set(types), f"entry {i}: undocumented members {sorted(set(e) - set(types))}", quiet=True)
    for name, (t, optional) in types.items():
        if name in e: check(is_type[t](e[name]), f"entry {i}: {name} is {t}", quiet=True)
        else: check(optional, f"entry {i}: required {name} present", quiet=True)
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e.get("time", "")) is not None,
          f"entry {i}: time is RFC 3339 UTC with milliseconds", quiet=True)
    check(e.get("decision") in ("allow", "deny"), f"entry {i}: decision", quiet=True)
    if "subjectKey" in e:
        check(re.fullmatch(r"[0-9a-f]{32}", e["subjectKey"]) is not None,
              f"entry {i}: subjectKey is 32 lowercase hex digits", quiet=True)
for at, text in blocks.get("entry", []):
    check(text.rstrip("\n").encode("utf-8") in raw, f"line {at}: entry example is one of the published entries")
leaves = [leaf(b) for b in raw]
n = len(leaves)
root = mth(leaves)

# --- The node table: every complete subtree of 2^level leaves from leaf idx * 2^level, level >= 1.
rows = {}
for row in one("node-rows").splitlines():
    level, idx, h = row.split("|")
    rows[int(level), int(idx)] = bytes.fromhex(h)
expected = {(l, i) for l in range(1, n.bit_length()) for i in range(n >> l)}
check(set(rows) == expected, f"node rows are the {len(expected)} complete subtrees of {n} leaves")
for (l, i), h in rows.items():
    check(h == mth(leaves[i << l:(i + 1) << l]), f"node ({l}, {i}) = root of leaves [{i << l}, {(i + 1) << l})")

# --- The verifier key: name+keyid+base64(0x01 || public key), split at the first two '+'.
vkey = one("verifier-key").strip()
name, keyid, keyb64 = vkey.split("+", 2)
keybytes = base64.b64decode(keyb64, validate=True)
check(re.fullmatch(r"strongroom\.local/audit/[0-9a-f]{16}", name) is not None, "key name is an origin")
check(re.fullmatch(r"[0-9a-f]{8}", keyid) is not None, "key id is 8 lowercase hex digits")
check(len(keybytes) == 33 and keybytes[0] == 1, "verifier key is 0x01 and 32 bytes")
check(hashlib.sha256(name.encode() + b"\n" + keybytes).digest()[:4].hex() == keyid,
      "key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]")
check("+" in keyb64, "the verifier key's base64 holds a '+' (as the page says)")
public = Ed25519PublicKey.from_public_bytes(keybytes[1:])

# --- The checkpoint: text (origin, size, base64 root), blank line, signature lines.
note = one("checkpoint")
cut = note.rfind("\n\n")
text, sigs = note[:cut + 1], note[cut + 2:-1]
origin, size, rootb64 = (text[:-1].split("\n") + ["", "", ""])[:3]
check(text == f"{origin}\n{size}\n{rootb64}\n", "checkpoint text is three lines")
check(origin == name, "checkpoint origin is the key name")
check(size == str(n), f"checkpoint size {size} = {n} published entries")
check(base64.b64decode(rootb64, validate=True) == root, "checkpoint root = independently computed RFC 6962 root")
signed = None
for line in sigs.split("\n"):
    m = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
    if not check(m is not None, "signature line is '\u2014 <name> <base64>'"): continue
    blob = base64.b64decode(m[2], validate=True)
    if m[1] == name and blob[:4].hex() == keyid:
        try:
            public.verify(blob[4:], text.encode("utf-8")); signed = blob[4:]
        except InvalidSignature:
            pass
check(signed is not None and len(signed) == 64, "checkpoint signature verifies (Ed25519 over the note text)")

# --- The signing key file: PRIVATE+KEY+name+keyid+base64(0x01 || seed), split at the first four '+'.
skey = one("signing-key")
parts = skey.rstrip("\n").split("+", 4)
check(skey.count("\n") == 1 and len(parts) == 5 and parts[:2] == ["PRIVATE", "KEY"], "signing key is PRIVATE+KEY+…")
check(parts[2:4] == [name, keyid], "signing key has the verifier key's name and key id")
seed = base64.b64decode(parts[4], validate=True)
check(len(seed) == 33 and seed[0] == 1, "signing key is 0x01 and a 32-byte seed")
check("+" in parts[4], "the signing key's base64 holds a '+'")
private = Ed25519PrivateKey.from_private_bytes(seed[1:])
check(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == keybytes[1:],
      "signing key's public key is the verifier key's")
check(private.sign(text.encode("utf-8")) == signed, "signing the checkpoint text again gives its signature")

# --- audit prove --json: hex hashes, verified independently.
text = one("inclusion-proof")
proof = json.loads(text)
check(text.strip() == json.dumps(proof, sort_keys=True, separators=(",", ":")), "inclusion proof is one JSON line")
hashes = [proof["leafHash"], proof["root"], *proof["path"]]
check(all(HEX.fullmatch(h) for h in hashes), "inclusion proof hashes are 64 lowercase hex digits")
index, psize = proof["index"], proof["size"]
check(psize == n and bytes.fromhex(proof["root"]) == base64.b64decode(rootb64),
      "proof root (hex) = checkpoint root (base64)")
check(0 <= index < n and bytes.fromhex(proof["leafHash"]) == leaves[index], f"leafHash = leaf hash of entry {index}")
path = [bytes.fromhex(h) for h in proof["path"]]
check(path == audit_path(index, leaves[:psize]), "path = RFC 6962 PATH, from the leaf up")
check(verify_inclusion(index, psize, leaves[index], path, root), "inclusion proof verifies (RFC 9162 2.1.3.2)")

text = one("consistency-proof")
proof = json.loads(text)
check(text.strip() == json.dumps(proof, sort_keys=True, separators=(",", ":")), "consistency proof is one JSON line")
check(all(HEX.fullmatch(h) for h in [proof["oldRoot"], proof["newRoot"], *proof["path"]]),
      "consistency proof hashes are 64 lowercase hex digits")
old, new = proof["oldSize"], proof["newSize"]
check(0 < old <= new <= n, f"sizes {old} and {new} within the log")
check(bytes.fromhex(proof["oldRoot"]) == mth(leaves[:old]), f"oldRoot = root of the first {old} entries")
check(bytes.fromhex(proof["newRoot"]) == mth(leaves[:new]), f"newRoot = root of the first {new} entries")
path = [bytes.fromhex(h) for h in proof["path"]]
check(path == subproof(old, leaves[:new], True), "path = RFC 6962 PROOF")
check(verify_consistency(old, new, mth(leaves[:old]), mth(leaves[:new]), path),
      "consistency proof verifies (RFC 9162 2.1.4.2)")

# --- Command examples: each flag is one the command accepts.
for at, text in blocks.get("commands", []):
    for line in text.splitlines():
        if not binary:
            print("skip", f"line {at}: {line[:60]} (no binary given)"); continue
        words = line.split()
        if not check(words[:1] == ["strongroom"], f"line {at}: a strongroom command"): continue
        sub = []
        for w in words[1:]:
            if not re.fullmatch(r"[a-z]+", w): break
            sub.append(w)
        run = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True)
        usage = run.stdout
        check(run.returncode == 0 and f"USAGE: strongroom {' '.join(sub)}" in usage,
              f"`strongroom {' '.join(sub)}` exists", quiet=True)
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", line):
            check(re.search(re.escape(flag) + r"\b", usage) is not None,
                  f"`strongroom {' '.join(sub)}` accepts {flag}")

if failures:
    print(f"docs check: {len(failures)} failure(s) in {page}")
    sys.exit(1)
print(f"docs check: every example of {page} verifies ({n} entries, checkpoint, keys, node rows, proofs"
      + (")" if binary else "; command flags not checked: no binary given)"))
