#!/usr/bin/env python3
# An independent check of a Strongroom audit log with hashlib and pyca/cryptography: recomputes the
# RFC 6962 root from the exported entries, verifies the c2sp.org signed-note checkpoint (key id and
# Ed25519 signature), and checks inclusion and consistency proofs with RFC 9162's algorithms.
# Usage: crosscheck_audit.py STRONGROOM_BINARY DATA_DIR
import base64, hashlib, json, subprocess, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

binary, data = sys.argv[1], sys.argv[2]
def run(*args): return subprocess.run([binary, *args, "--data-dir", data], check=True, capture_output=True).stdout

def leaf(b): return hashlib.sha256(b"\x00" + b).digest()
def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()
def mth(leaves):
    if not leaves: return hashlib.sha256(b"").digest()
    if len(leaves) == 1: return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node(mth(leaves[:k]), mth(leaves[k:]))

lines = run("audit", "export", "--format", "jsonl").splitlines()
leaves = [leaf(line) for line in lines]
for i, line in enumerate(lines):
    entry = json.loads(line)
    assert entry["index"] == i, f"entry {i} records index {entry['index']}"
    assert line == json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(), "not canonical"

vkey = run("audit", "key").decode().strip()
name, keyhash, keyb64 = vkey.split("+", 2)
keybytes = base64.b64decode(keyb64)
assert keybytes[0] == 1 and len(keybytes) == 33
assert hashlib.sha256(name.encode() + b"\n" + keybytes).digest()[:4].hex() == keyhash, "key id"
note = run("audit", "checkpoint").decode()
text, _, sigs = note.rpartition("\n\n")
text += "\n"
origin, size, root = text.splitlines()[:3]
assert origin == name
ok = False
for line in sigs.splitlines():
    dash, signer, blob = line.split(" ")
    blob = base64.b64decode(blob)
    if dash == "\u2014" and signer == name and blob[:4].hex() == keyhash:
        Ed25519PublicKey.from_public_bytes(keybytes[1:]).verify(blob[4:], text.encode())
        ok = True
assert ok, "checkpoint not signed by the log key"
assert int(size) == len(leaves), f"checkpoint size {size} != {len(leaves)} entries"
assert base64.b64decode(root) == mth(leaves), "root differs from the independent computation"

def verify_inclusion(index, size, h, path, root):
    fn, sn, r = index, size - 1, h
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    assert sn == 0 and r == root

def verify_consistency(m, n, r1, r2, path):
    if m == n: assert not path and r1 == r2; return
    if m & (m - 1) == 0: path = [r1] + path
    fn, sn = m - 1, n - 1
    while fn & 1: fn >>= 1; sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        assert sn != 0
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    assert sn == 0 and fr == r1 and sr == r2

n = len(leaves)
for index in sorted({0, n // 3, n // 2, n - 1}):
    proof = json.loads(run("audit", "prove", "--index", str(index), "--json"))
    assert bytes.fromhex(proof["leafHash"]) == leaves[index]
    verify_inclusion(index, n, leaves[index], [bytes.fromhex(p) for p in proof["path"]], mth(leaves))
for old in sorted({1, n // 2, n - 1, n}):
    if old < 1: continue
    proof = json.loads(run("audit", "prove", "--consistency", str(old), str(n), "--json"))
    verify_consistency(old, n, mth(leaves[:old]), mth(leaves), [bytes.fromhex(p) for p in proof["path"]])
print(f"audit cross-check: {n} entries, root, checkpoint signature, inclusion and consistency proofs agree")
