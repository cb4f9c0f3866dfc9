#!/usr/bin/env python3
"""Independent reader of a real Strongroom data directory, written from the documentation alone.

Sources: docs/formats.md, docs/log.md, README.md and the CLI's --help texts (no Strongroom code).
Standard library plus pyca/cryptography.

Usage:
    python3 scripts/crosscheck_keys.py BIN SCRATCH [--check-only] [--tamper wrapped|value]

    BIN      the strongroom CLI (used to build the data directory and as the reference reader)
    SCRATCH  a scratch directory; the data directory is SCRATCH/D (recreated on each run)

Steps:
  1. `demo --data-dir SCRATCH/D --count 60`, then `encrypt` a few thousand events of new subjects
     on loan_applications, erase one subject whose pseudonym starts with hex "0" (not "00") and one
     starting "00" (`keys erase`), then `keys finalize`.
  2. keyring.json and keys.sqlite: node names, GGM leaves, AES key unwrap of every DEK, erased
     leaves not derivable.
  3. Every record of every topic of log.sqlite: every sr1: field decrypted (and compared with
     `strongroom decrypt`); fields of erased subjects must not decrypt.
  4. Every record's signature: digest, RFC 6962 inclusion path, statement, Ed25519 with the keys
     pinned in D/policy.json, record key = pseudonym, sequences without gaps.
  5. No subject id in clear in any file of D; no key-store row links an erased subject's lookup
     hash to its pseudonym.

--check-only skips step 1 and checks SCRATCH/D as it is (SCRATCH/extra_ids.json names the extra
subjects). --tamper copies SCRATCH/D to SCRATCH/D-tamper-KIND, changes one byte of a wrapped key
(`wrapped`) or of a record value (`value`) in the copy and checks the copy: the run must then fail.
Exit status: 0 when every check passes, 1 otherwise.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

EXTRA_SUBJECTS = 3000
EXTRA_PREFIX = "XCHK-SUBJ-"

RESULTS = []  # (ok, name, detail)


def report(ok, name, detail):
    RESULTS.append((bool(ok), name, detail))
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)


# ---------------------------------------------------------------- formats.md: conventions


def lp(x):
    if isinstance(x, str):
        x = x.encode("utf-8")
    return struct.pack(">I", len(x)) + x


B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_strict(text):
    """Base64url without padding; refuses padding, other characters and non-zero trailing bits."""
    if not B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("bad base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise ValueError("non-canonical base64url (trailing bits)")
    return raw


def b64std_strict(text):
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise ValueError("non-canonical base64")
    return raw


# ---------------------------------------------------------------- formats.md: key ids


def keyed_hash(family_key, scope, tenant, name):
    descriptor = b"\x01" + bytes([scope]) + lp(tenant) + lp(name)
    return hmac.new(family_key, b"strongroom/key-family/v1" + descriptor, hashlib.sha256).digest()[:16]


# ---------------------------------------------------------------- formats.md: keyring


def parse_node_name(name):
    """Returns (depth, prefix, written_in_full)."""
    m = re.fullmatch(r"([0-9]+):([0-9a-f]+)", name)
    if not m:
        raise ValueError(f"bad node name {name!r}")
    depth = int(m.group(1))
    prefix = m.group(2)
    if not 1 <= depth <= 16 or len(prefix) > depth:
        raise ValueError(f"bad node name {name!r}")
    return depth, prefix.zfill(depth), len(prefix) == depth


def child(node, digit):
    return hmac.new(node, bytes([digit]), hashlib.sha256).digest()


class KekVersion:
    def __init__(self, obj):
        self.version = obj["version"]
        self.state = obj["state"]
        self.root = bytes(obj["root"]) if "root" in obj else None
        self.punctures = obj["punctures"]
        self.raw_names = list(obj["nodes"].keys())
        self.nodes = {}
        for name, value in obj["nodes"].items():
            depth, prefix, _ = parse_node_name(name)
            self.nodes[prefix] = bytes(value)

    def start(self, path):
        """The deepest stored node on the path (prefix length, node), or None."""
        for d in range(16, 0, -1):
            node = self.nodes.get(path[:d])
            if node is not None:
                return d, node
        if self.root is not None:
            return 0, self.root
        return None

    def leaf(self, key_id):
        path = key_id[:8].hex()
        found = self.start(path)
        if found is None:
            return None
        d, node = found
        for h in path[d:]:
            node = child(node, int(h, 16))
        return node


def wrapping_key(leaf):
    return hmac.new(leaf, b"strongroom/kek-leaf/v1", hashlib.sha256).digest()


# ---------------------------------------------------------------- formats.md: sr1 fields


def parse_sr1(text):
    raw = b64url_strict(text[4:])
    if len(raw) < 23 + 16:
        raise ValueError("short ciphertext")
    version, alg, scope = raw[0], raw[1], raw[2]
    if version != 2 or alg not in (1, 2) or scope not in (1, 2):
        raise ValueError(f"bad header {raw[:3].hex()}")
    key_id = raw[3:19]
    key_version = struct.unpack(">I", raw[19:23])[0]
    header = raw[:23]
    if alg == 1:
        nonce, body = raw[23:35], raw[35:]
    else:
        nonce, body = b"\x00" * 12, raw[23:]
    if len(body) < 16:
        raise ValueError("short ciphertext")
    return dict(alg=alg, scope=scope, key_id=key_id, key_version=key_version, header=header,
                nonce=nonce, body=body)


def subkey(dek, alg):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"strongroom/field/v2/" + bytes([alg])).derive(dek)


def field_ad(tenant, topic, subject_key_id, event_id, pointer, header):
    return (b"strongroom/field/v2" + lp(tenant) + lp(topic) + lp(subject_key_id) + lp(event_id)
            + lp(pointer) + header)


def open_field(dek, f, ad):
    key = subkey(dek, f["alg"])
    if f["alg"] == 1:
        return AESGCM(key).decrypt(f["nonce"], f["body"], ad)
    return AESGCMSIV(key).decrypt(f["nonce"], f["body"], ad)


def pointer_token(key):
    return key.replace("~", "~0").replace("/", "~1")


def sr1_fields(value, pointer=""):
    """(pointer, text) of every sr1: string in a parsed JSON value."""
    if isinstance(value, str):
        if value.startswith("sr1:"):
            yield pointer, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from sr1_fields(v, pointer + "/" + pointer_token(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from sr1_fields(v, pointer + "/" + str(i))


# ---------------------------------------------------------------- formats.md: signed batches


def mth_leaf_fold(leaf_hash, index, size, path):
    """RFC 9162 section 2.1.3.2: root from an inclusion path (leaf side first)."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def record_digest(topic, partition, sequence, key, value, schema_id, producer):
    return hashlib.sha256(b"\x00" + b"strongroom/record/v2" + lp(topic) + lp(str(partition))
                          + lp(sequence) + lp(key) + lp(value) + lp(schema_id)
                          + lp(producer)).digest()


# ---------------------------------------------------------------- log.md: SQLite engine


def parse_batch(first, body, records, last):
    """A log row's body (docs/log.md, log format 2): per record u32 offset delta, i64
    timestamp, u32 key/value/headers lengths + 1 (0: absent), then their bytes; big-endian.
    Exactly `records` records from `first` to the row's `last_offset`.
    Yields (offset, key, value, headers blob, timestamp, start of value in body)."""
    assert body and records > 0 and first <= last < (1 << 40), "batch row inconsistent"
    pos, prev, count = 0, -1, 0
    while pos < len(body):
        count += 1
        delta, ts, k, v, h = struct.unpack_from(">IqIII", body, pos)
        pos += 24
        assert delta > prev and (prev >= 0 or delta == 0), "batch offsets out of order"
        prev = delta
        parts = []
        for n in (k, v, h):
            if n == 0:
                parts.append((None, pos))
            else:
                assert pos + n - 1 <= len(body), "batch part past its end"
                parts.append((body[pos:pos + n - 1], pos))
                pos += n - 1
        yield first + delta, parts[0][0], parts[1][0], parts[2][0], ts, parts[1][1]
    assert count == records and first + prev == last, "batch holds other records than its row says"


def log_records(ldb):
    """Every record of log.sqlite: (row id of its batch, offset id, key, value, headers, ts, value at)."""
    for rid, records, last, body in ldb.execute("SELECT id, records, last_offset, body FROM batch ORDER BY id"):
        base = rid & ~((1 << 40) - 1)
        for off, key, value, headers, ts, at in parse_batch(rid & ((1 << 40) - 1), bytes(body), records, last):
            yield rid, base | off, key, value, headers, ts, at


def parse_headers(blob):
    """Header blob as observed (not documented): u32 count, then LP(name) LP(value) pairs."""
    out = []
    if not blob:
        return out
    (count,) = struct.unpack_from(">I", blob, 0)
    pos = 4
    for _ in range(count):
        (n,) = struct.unpack_from(">I", blob, pos)
        name = blob[pos + 4:pos + 4 + n].decode("utf-8")
        pos += 4 + n
        (n,) = struct.unpack_from(">I", blob, pos)
        val = blob[pos + 4:pos + 4 + n]
        pos += 4 + n
        out.append((name, val))
    if pos != len(blob):
        raise ValueError("trailing bytes in headers")
    return out


def connect_ro(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


# ---------------------------------------------------------------- CLI helpers


def run(cmd, stdin=None, check=True, env=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=env)
    if check and p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}")
    return p


def read_tenant(data):
    # formats.md: "records T in <data-dir>/tenant"; the file ends in a newline (not documented).
    with open(os.path.join(data, "tenant"), "rb") as f:
        raw = f.read()
    return raw.decode("utf-8").rstrip("\n")


def load_keyring(data):
    with open(os.path.join(data, "keyring.json")) as f:
        return json.load(f)


# ---------------------------------------------------------------- step 1


def build(bin_path, scratch):
    data = os.path.join(scratch, "D")
    if os.path.exists(data):
        shutil.rmtree(data)
    t0 = time.time()
    run([bin_path, "demo", "--data-dir", data, "--count", "60"])
    tenant = read_tenant(data)
    schema = run([bin_path, "schema", "get", "--data-dir", data, "--subject",
                  "loan_applications-value"]).stdout
    schema_path = os.path.join(scratch, "loan_applications.schema.json")
    with open(schema_path, "wb") as f:
        f.write(schema)
    ids = [f"{EXTRA_PREFIX}{i:06d}" for i in range(EXTRA_SUBJECTS)]
    lines = []
    for i, sid in enumerate(ids):
        lines.append(json.dumps({
            "applicationId": f"xchk-{i:06d}", "customerId": sid, "ssn": f"555-{i % 100:02d}-{i % 10000:04d}",
            "dateOfBirth": "1970-01-01", "fullName": f"Cross Check {i}", "email": f"xchk{i}@example.org",
            "phone": "+1-555-0100", "address": {"street": f"{i} Test St", "city": "Testville",
                                                 "postalCode": "00000", "country": "US"},
            "amount": 100.25, "currency": "USD", "termMonths": 12, "storeId": "STORE-9999",
            "submittedAt": "2025-02-01T00:00:00.000Z"}, separators=(",", ":")))
    enc = run([bin_path, "encrypt", "--data-dir", data, "--topic", "loan_applications",
               "--schema", schema_path], stdin=("\n".join(lines) + "\n").encode()).stdout
    enc_lines = enc.decode().splitlines()
    if len(enc_lines) != len(ids):
        raise SystemExit(f"encrypt wrote {len(enc_lines)} lines for {len(ids)} events")

    # The pseudonym of each new subject: only through the subject table and the lookup hash.
    family_key = bytes(load_keyring(data)["familyKey"])
    db = connect_ro(os.path.join(data, "keys.sqlite"))
    subject_rows = {bytes(l): bytes(k) for l, k in db.execute("SELECT lookup, key_id FROM subject")}
    db.close()
    pseudonyms = {}
    for sid in ids:
        pseudonyms[sid] = subject_rows.get(keyed_hash(family_key, 1, tenant, sid))
    missing = [s for s, p in pseudonyms.items() if p is None]
    report(not missing, "step1 lookup hash -> pseudonym",
           f"{len(ids) - len(missing)}/{len(ids)} new subjects found in `subject` by their keyed hash")
    # The pseudonym must be the key id in the header of the event's encrypted subject field.
    mismatch = 0
    for sid, line in zip(ids, enc_lines):
        f = parse_sr1(json.loads(line)["customerId"])
        if f["key_id"] != pseudonyms[sid]:
            mismatch += 1
    report(mismatch == 0, "step1 pseudonym = subject field header key id",
           f"{len(ids) - mismatch}/{len(ids)} encrypt output lines agree")
    one_zero = [s for s in ids if pseudonyms[s] and pseudonyms[s].hex().startswith("0")
                and not pseudonyms[s].hex().startswith("00")]
    two_zero = [s for s in ids if pseudonyms[s] and pseudonyms[s].hex().startswith("00")]
    if not one_zero or not two_zero:
        raise SystemExit("no pseudonym starting 0 / 00 among the new subjects; raise EXTRA_SUBJECTS")
    erased = [one_zero[0], two_zero[0]]
    receipts = []
    for sid in erased:
        out = run([bin_path, "keys", "erase", "--subject", sid, "--data-dir", data, "--json"]).stdout
        receipts.append(json.loads(out))
    run([bin_path, "keys", "finalize", "--data-dir", data])
    ok = all(r.get("keyID") == pseudonyms[s].hex() for r, s in zip(receipts, erased))
    report(ok, "step1 built data directory",
           f"demo 60 + encrypt {len(ids)} subjects ({len(one_zero)} pseudonyms '0…', {len(two_zero)} '00…'); "
           f"erased {erased[0]} ({pseudonyms[erased[0]].hex()[:6]}…) and {erased[1]} "
           f"({pseudonyms[erased[1]].hex()[:6]}…), receipts name the pseudonym: {ok}; "
           f"finalized ({time.time() - t0:.1f} s)")
    with open(os.path.join(scratch, "extra_ids.json"), "w") as f:
        json.dump({"ids": ids, "erased": erased,
                   "pseudonyms": {s: p.hex() for s, p in pseudonyms.items() if p},
                   "encrypted": os.path.join(scratch, "extra.enc.jsonl")}, f)
    with open(os.path.join(scratch, "extra.enc.jsonl"), "w") as f:
        f.write("\n".join(enc_lines) + "\n")


# ---------------------------------------------------------------- steps 2 to 5


def check(bin_path, scratch, data):
    with open(os.path.join(scratch, "extra_ids.json")) as f:
        extra = json.load(f)
    tenant = read_tenant(data)
    keyring = load_keyring(data)

    # ---- step 2: keyring
    problems = []
    if keyring.get("format") != "strongroom-keyring/1":
        problems.append(f"format {keyring.get('format')!r}")
    family_key = bytes(keyring["familyKey"])
    if len(family_key) != 32:
        problems.append("familyKey not 32 bytes")
    versions = {}
    node_total = short_names = 0
    for obj in keyring["versions"]:
        v = KekVersion(obj)
        versions[v.version] = v
        for name in v.raw_names:
            node_total += 1
            depth, prefix, full = parse_node_name(name)
            if not full:
                short_names += 1
                problems.append(f"v{v.version} node {name!r}: depth != prefix length")
        for prefix, node in v.nodes.items():
            if len(node) != 32:
                problems.append(f"v{v.version} node {prefix} not 32 bytes")
        if v.state != "destroyed":
            # The nodes must tile the 16^16 leaves minus exactly the punctured ones.
            prefixes = sorted(v.nodes)
            for a, b in zip(prefixes, prefixes[1:]):
                if b.startswith(a):
                    problems.append(f"v{v.version}: node {a} covers node {b}")
            if v.root is None:
                covered = sum(16 ** (16 - len(p)) for p in prefixes)
                if covered != 16 ** 16 - v.punctures:
                    problems.append(f"v{v.version}: nodes cover 16^16-{16 ** 16 - covered} leaves, "
                                    f"punctures = {v.punctures}")
            elif v.nodes or v.punctures:
                problems.append(f"v{v.version}: root present with nodes/punctures")
    if keyring["activeVersion"] not in versions or versions[keyring["activeVersion"]].state != "active":
        problems.append("activeVersion is not an active version")
    report(not problems, "step2 keyring",
           f"{len(versions)} KEK version(s), {node_total} nodes, {short_names} names with depth != "
           f"prefix length, punctures {[v.punctures for v in versions.values()]}"
           + (f"; problems: {problems[:5]}" if problems else ""))

    kdb = connect_ro(os.path.join(data, "keys.sqlite"))
    uv = kdb.execute("PRAGMA user_version").fetchone()[0]
    families = {bytes(k): (s, l, a) for k, s, l, a in
                kdb.execute("SELECT key_id, scope, label, active_version FROM family")}
    tombstones = {bytes(k): (e, f) for k, e, f in
                  kdb.execute("SELECT key_id, erased_at, finalized_at FROM tombstone")}
    subject_rows = [(bytes(l), bytes(k)) for l, k in kdb.execute("SELECT lookup, key_id FROM subject")]
    erased_lookups = {bytes(l) for (l,) in kdb.execute("SELECT lookup FROM erased_subject")}
    deks = {}
    ok_unwrap = retired = failed = orphan = 0
    fail_detail = []
    sealed_counts = {}
    for key_id, version, kek_version, wrapped, state, _, sealed in kdb.execute(
            "SELECT key_id, version, kek_version, wrapped, state, created_at, sealed FROM dek"):
        key_id, wrapped = bytes(key_id), bytes(wrapped)
        sealed_counts[(key_id, version)] = sealed
        if key_id not in families:
            orphan += 1
        if state == "retired":
            retired += 1
            if wrapped:
                failed += 1
                fail_detail.append(f"{key_id.hex()} v{version}: retired but wrapped not empty")
            continue
        if state not in ("active", "decrypt-only"):
            failed += 1
            fail_detail.append(f"{key_id.hex()} v{version}: state {state!r}")
            continue
        v = versions.get(kek_version)
        leaf = v.leaf(key_id) if v else None
        if leaf is None or len(wrapped) != 40:
            failed += 1
            fail_detail.append(f"{key_id.hex()} v{version}: no leaf in kek v{kek_version} or bad length")
            continue
        try:
            dek = aes_key_unwrap(wrapping_key(leaf), wrapped)
            if len(dek) != 32:
                raise InvalidUnwrap()
            deks[(key_id, version)] = dek
            ok_unwrap += 1
        except InvalidUnwrap:
            failed += 1
            fail_detail.append(f"{key_id.hex()} v{version}: AES key unwrap failed (kek v{kek_version})")
    active_ok = all((k, a) in deks for k, (s, l, a) in families.items())
    # Format 4: a primary keeps no unique index of subjects by key id.
    unique = [r for r in kdb.execute("PRAGMA index_list(subject)") if r[3] == "u"]
    report(failed == 0 and orphan == 0 and active_ok and uv == 4 and not unique, "step2 DEK unwrap",
           f"{ok_unwrap} unwrapped, {retired} retired, {failed} failed, {orphan} without family, "
           f"{len(families)} live families (every active version unwraps: {active_ok}), user_version {uv}, "
           f"{len(unique)} unique index(es) on subject"
           + (f"; {fail_detail[:3]}" if fail_detail else ""))

    # Families: a subject family is NULL-labelled and reached from exactly one subject row; a topic
    # family's key id is the keyed hash of its topic, labelled tenant/topic (topic for tenant "").
    fam_problems = []
    subject_keys = [k for _, k in subject_rows]
    subject_key_set = set(subject_keys)
    n_subject = n_topic = 0
    for k, (scope, label, _) in families.items():
        if scope == 1:
            n_subject += 1
            if label is not None or k not in subject_key_set:
                fam_problems.append(f"subject family {k.hex()}: label {label!r}, in subject: {k in subject_key_set}")
        elif scope == 2:
            n_topic += 1
            if not label:
                fam_problems.append(f"topic family {k.hex()}: no label")
                continue
            t, _, topic = label.rpartition("/") if tenant else ("", "", label)
            if t != tenant or keyed_hash(family_key, 2, tenant, topic) != k:
                fam_problems.append(f"topic family {k.hex()}: label {label!r} does not hash to its key id")
        else:
            fam_problems.append(f"family {k.hex()}: scope {scope}")
    if len(subject_keys) != len(subject_key_set) or not subject_key_set <= set(families):
        fam_problems.append("subject rows not one-to-one with live subject families")
    report(not fam_problems, "step2 families",
           f"{n_subject} subject families (each behind one lookup hash), {n_topic} topic families "
           f"(key id = keyed hash of the label)" + (f"; {fam_problems[:3]}" if fam_problems else ""))

    # Erased families: finalized tombstones must have no derivable leaf in any non-destroyed version.
    finalized = [k for k, (e, f) in tombstones.items() if f is not None]
    derivable = []
    for k in finalized:
        for v in versions.values():
            if v.state != "destroyed" and v.leaf(k) is not None:
                derivable.append((k.hex(), v.version))
    leftovers = [k.hex() for k in tombstones if k in families or any(dk == k for dk, _ in deks)]
    erased_pseudonyms = {bytes.fromhex(extra["pseudonyms"][s]) for s in extra["erased"]}
    report(not derivable and not leftovers and erased_pseudonyms <= set(finalized)
           and len(finalized) == len(tombstones), "step2 erased leaves",
           f"{len(tombstones)} tombstones, {len(finalized)} finalized, leaves derivable: {len(derivable)}, "
           f"with family/DEK rows left: {len(leftovers)}, extra erased ids "
           f"{sorted(p.hex()[:4] for p in erased_pseudonyms)} finalized: {erased_pseudonyms <= set(finalized)}")

    # ---- step 3: log records
    ldb = connect_ro(os.path.join(data, "log.sqlite"))
    topics = {tid: (name, json.loads(cfg)) for tid, name, cfg in ldb.execute("SELECT id, name, config FROM topic")}
    records = []
    for _, rid, key, value, headers, ts, _ in log_records(ldb):
        tid, part, off = rid >> 52, (rid >> 40) & 0xFFF, rid & ((1 << 40) - 1)
        records.append(dict(topic=topics[tid][0], partition=part, offset=off, key=bytes(key or b""),
                            value=bytes(value or b""), headers=parse_headers(bytes(headers or b"")),
                            ts=ts))
    schema_cache = {}

    def schema_of(schema_id):
        if schema_id not in schema_cache:
            text = run([bin_path, "schema", "get", "--data-dir", data, "--id", schema_id]).stdout
            path = os.path.join(scratch, f"schema-{schema_id}.json")
            with open(path, "wb") as f:
                f.write(text)
            sch = json.loads(text)
            subj = [k for k, p in sch.get("properties", {}).items()
                    if isinstance(p, dict) and p.get("strongroom:subject") is True]
            schema_cache[schema_id] = (path, subj[0] if subj else None)
        return schema_cache[schema_id]

    tomb_ids = set(tombstones)
    n_fields = n_ok = n_erased_refused = n_bad = n_event_id_needed = 0
    used_counts = {}
    bad = []
    clear_ids = set()
    per_topic_lines = {}
    for r in records:
        hdrs = {}
        for name, val in r["headers"]:
            hdrs.setdefault(name, []).append(val)
        r["hdrs"] = hdrs
        schema_id = hdrs.get("sr-schema", [b""])[0].decode()
        schema_path, subject_field = schema_of(schema_id)
        event = json.loads(r["value"])
        subject_key_id = b""
        if subject_field is not None:
            subject_key_id = parse_sr1(event[subject_field])["key_id"]
        r["subject_key_id"] = subject_key_id
        plain_text = r["value"].decode()
        erased_record = subject_key_id in tomb_ids
        for pointer, text in sr1_fields(event):
            n_fields += 1
            f = parse_sr1(text)
            used_counts[(f["key_id"], f["key_version"])] = used_counts.get((f["key_id"], f["key_version"]), 0) + 1
            dek = deks.get((f["key_id"], f["key_version"]))
            if dek is None:
                if f["key_id"] in tomb_ids:
                    n_erased_refused += 1
                    plain_text = plain_text.replace(json.dumps(text), '{"$erased":true}', 1)
                else:
                    n_bad += 1
                    bad.append(f"{r['topic']}:{r['partition']}:{r['offset']}{pointer}: no DEK")
                continue
            if f["key_id"] in tomb_ids:
                n_bad += 1
                bad.append(f"{r['topic']}:{r['partition']}:{r['offset']}{pointer}: DEK of an erased key")
            try:
                pt = open_field(dek, f, field_ad(tenant, r["topic"], subject_key_id, b"", pointer, f["header"]))
            except InvalidTag:
                # Second reading: the event id bound in (applicationId); counted, still a failure.
                try:
                    open_field(dek, f, field_ad(tenant, r["topic"], subject_key_id,
                                                event.get("applicationId", ""), pointer, f["header"]))
                    n_event_id_needed += 1
                except InvalidTag:
                    pass
                n_bad += 1
                bad.append(f"{r['topic']}:{r['partition']}:{r['offset']}{pointer}: authentication failed")
                continue
            n_ok += 1
            plain_text = plain_text.replace(json.dumps(text), pt.decode(), 1)
            if subject_field is not None and pointer == "/" + pointer_token(subject_field):
                clear_ids.add(json.loads(pt))
        if erased_record:
            r["erased"] = True
        per_topic_lines.setdefault((r["topic"], schema_path), []).append((r, plain_text))
    # Usage limits: every key version's recorded seal count bounds the fields found under it,
    # and stays within the store's limit (docs/formats.md, "Usage limits").
    limit_row = kdb.execute("SELECT value FROM setting WHERE name = 'dek_max_seals'").fetchone()
    max_seals = limit_row[0] if limit_row else 1 << 30
    over = [(k.hex(), v, n, sealed_counts.get((k, v))) for (k, v), n in used_counts.items()
            if sealed_counts.get((k, v)) is not None and n > sealed_counts[(k, v)]]
    over_limit = [(k.hex(), v, n) for (k, v), n in sealed_counts.items() if n > max_seals]
    report(not over and not over_limit and 1 <= max_seals <= 1 << 32, "step3 seal counts",
           f"{len(used_counts)} key versions used by records; every one's dek.sealed >= its fields on the log "
           f"and <= the limit {max_seals}" + (f"; over: {over[:3]} {over_limit[:3]}" if over or over_limit else ""))
    report(n_bad == 0 and n_ok > 0, "step3 field decryption",
           f"{len(records)} records in {len(topics)} topics, {n_fields} sr1 fields: {n_ok} decrypted, "
           f"{n_erased_refused} of erased subjects unreadable (no DEK), {n_bad} failed"
           + (f" ({n_event_id_needed} open only with applicationId as event id)" if n_event_id_needed else "")
           + (f"; {bad[:3]}" if bad else ""))

    # The CLI's own view: `strongroom decrypt` of each topic's values, byte for byte.
    same = differ = 0
    diffs = []
    for (topic, schema_path), items in per_topic_lines.items():
        stdin = b"".join(r["value"] + b"\n" for r, _ in items)
        p = run([bin_path, "decrypt", "--data-dir", data, "--topic", topic, "--schema", schema_path],
                stdin=stdin, check=False)
        out = p.stdout.decode().splitlines()
        if len(out) != len(items):
            differ += len(items)
            diffs.append(f"{topic}: CLI printed {len(out)} lines for {len(items)} (rc {p.returncode}: "
                         f"{p.stderr.decode(errors='replace').strip()[:200]})")
            continue
        for (r, mine), theirs in zip(items, out):
            if mine == theirs:
                same += 1
            else:
                differ += 1
                diffs.append(f"{topic}:{r['partition']}:{r['offset']}")
    report(differ == 0, "step3 agrees with `strongroom decrypt`",
           f"{same} records identical byte for byte, {differ} differ" + (f"; {diffs[:3]}" if diffs else ""))

    # The encrypt output of step 1 (not on the log): its erased subjects unreadable, all others read.
    enc_ok = enc_erased = enc_bad = 0
    erased_set = set(extra["erased"])
    with open(extra["encrypted"]) as f:
        enc_lines = f.read().splitlines()
    for sid, line in zip(extra["ids"], enc_lines):
        event = json.loads(line)
        skid = parse_sr1(event["customerId"])["key_id"]
        for pointer, text in sr1_fields(event):
            fld = parse_sr1(text)
            dek = deks.get((fld["key_id"], fld["key_version"]))
            if sid in erased_set:
                if dek is None and fld["key_id"] in tomb_ids:
                    enc_erased += 1
                else:
                    enc_bad += 1
                continue
            try:
                pt = open_field(dek, fld, field_ad(tenant, "loan_applications", skid, b"", pointer, fld["header"]))
                if pointer == "/customerId" and json.loads(pt) != sid:
                    enc_bad += 1
                else:
                    enc_ok += 1
            except (InvalidTag, TypeError):
                enc_bad += 1
    report(enc_bad == 0, "step3 encrypt output of the new subjects",
           f"{enc_ok} fields decrypted, {enc_erased} fields of the {len(erased_set)} erased subjects unreadable, "
           f"{enc_bad} wrong")

    # ---- step 4: signatures
    with open(os.path.join(data, "policy.json")) as f:
        policy = json.load(f)
    trusted = {}
    for pid, p in policy.get("principals", {}).items():
        for k in p.get("producerKeys", []):
            raw = b64std_strict(k)
            trusted.setdefault(pid, {})[hashlib.sha256(raw).digest()[:8].hex()] = Ed25519PublicKey.from_public_bytes(raw)
    sig_ok = sig_bad = key_bad = 0
    sig_fail = []
    seqs = {}
    batches = {}
    verified_statements = {}
    for r in records:
        h = r["hdrs"]
        where = f"{r['topic']}:{r['partition']}:{r['offset']}"
        try:
            for name in ("sr-sig", "sr-batch", "sr-proof", "sr-producer", "sr-producer-key", "sr-seq",
                         "sr-schema", "sr-subject", "sr-correlation", "content-type"):
                if len(h.get(name, [])) != 1:
                    raise ValueError(f"header {name} x{len(h.get(name, []))}")
            if h["content-type"][0] != b"application/json; strongroom=1":
                raise ValueError("content-type")
            sig_b64 = h["sr-sig"][0].decode("ascii")
            if len(sig_b64) != 88:
                raise ValueError("sr-sig length")
            sig = b64std_strict(sig_b64)
            batch_id, index, size = h["sr-batch"][0].decode("ascii").split(":")
            if not re.fullmatch(r"[\x21-\x39\x3b-\x7e]{1,512}", batch_id):
                raise ValueError("batch id")
            if not re.fullmatch(r"0|[1-9][0-9]*", index) or not re.fullmatch(r"[1-9][0-9]*", size):
                raise ValueError("batch index/size")
            index, size = int(index), int(size)
            if not index < size <= 1 << 24:
                raise ValueError("index/size range")
            proof = h["sr-proof"][0]
            if len(proof) % 32:
                raise ValueError("sr-proof length")
            producer = h["sr-producer"][0].decode("ascii")
            if not re.fullmatch(r"[\x20-\x7e]+", producer):
                raise ValueError("producer")
            pkid = h["sr-producer-key"][0].decode("ascii")
            seq = h["sr-seq"][0].decode("ascii")
            m = re.fullmatch(r"([0-9a-f]{32}):(0|[1-9][0-9]*)", seq)
            if not m:
                raise ValueError(f"sr-seq {seq!r}")
            schema_id = h["sr-schema"][0].decode("ascii")
            digest = record_digest(r["topic"], r["partition"], seq, r["key"], r["value"], schema_id, producer)
            root = mth_leaf_fold(digest, index, size, [proof[i:i + 32] for i in range(0, len(proof), 32)])
            if root is None:
                raise ValueError("inclusion path does not fold")
            statement = (f"strongroom/batch/v1\n{producer}\n{pkid}\n{batch_id}\n{size}\n"
                         f"{base64.b64encode(root).decode()}\n").encode()
            pub = trusted.get(producer, {}).get(pkid)
            if pub is None:
                raise ValueError(f"no trusted key {pkid} for {producer}")
            if (statement, sig) not in verified_statements:
                pub.verify(sig, statement)
                verified_statements[(statement, sig)] = True
            # Record key = pseudonym of the subject field's header (32 hex digits), = sr-subject.
            if r["key"] != r["subject_key_id"].hex().encode() or h["sr-subject"][0] != r["key"]:
                key_bad += 1
                raise ValueError("record key differs from the subject field's pseudonym")
            seqs.setdefault((producer, r["topic"], m.group(1), r["partition"]), []).append(int(m.group(2)))
            batches.setdefault((r["topic"], batch_id), {"size": size, "indexes": [], "roots": set()})
            batches[(r["topic"], batch_id)]["indexes"].append(index)
            batches[(r["topic"], batch_id)]["roots"].add(root)
            sig_ok += 1
        except (ValueError, InvalidSignature, UnicodeDecodeError) as e:
            sig_bad += 1
            sig_fail.append(f"{where}: {str(e) or type(e).__name__}")
    report(sig_bad == 0 and sig_ok == len(records), "step4 record signatures",
           f"{sig_ok}/{len(records)} records verify ({len(verified_statements)} batch statements, "
           f"{sum(len(v) for v in trusted.values())} pinned producer keys), {key_bad} key/pseudonym mismatches"
           + (f"; {sig_fail[:3]}" if sig_fail else ""))
    gaps = [k for k, ns in seqs.items() if ns != list(range(len(ns)))]
    incomplete = [k for k, b in batches.items()
                  if sorted(b["indexes"]) != list(range(b["size"])) or len(b["roots"]) != 1]
    report(not gaps and not incomplete, "step4 sequences and batches",
           f"{len(seqs)} (producer, topic, session, partition) streams numbered 0..n-1 in offset order "
           f"({len(gaps)} with gaps or disorder); {len(batches)} batches, {len(incomplete)} incomplete")

    # ---- step 5: no subject id in clear; no link left for erased subjects
    ids = set(extra["ids"]) | clear_ids
    # The demo's erased customer: test candidates shaped like the decrypted ids against erased_subject.
    explained = {keyed_hash(family_key, 1, tenant, s): s for s in extra["erased"]}
    shapes = {}
    for s in clear_ids:
        m = re.fullmatch(r"(.*?)([0-9]+)", s)
        if m:
            shapes.setdefault((m.group(1), len(m.group(2))), []).append(int(m.group(2)))
    for (prefix, width), nums in shapes.items():
        for n in range(0, max(10000, 10 * max(nums))):
            cand = f"{prefix}{n:0{width}d}"
            lk = keyed_hash(family_key, 1, tenant, cand)
            if lk in erased_lookups:
                explained[lk] = cand
    unexplained = erased_lookups - set(explained)
    ids |= set(explained.values())
    report(not unexplained, "step5 erased_subject lookup hashes identified",
           f"{len(erased_lookups)} erased lookup hashes, {len(erased_lookups) - len(unexplained)} matched "
           f"to a candidate id ({sorted(set(explained.values()) - set(extra['erased']))} from the demo)")

    needles = [s.encode() for s in ids]
    files = hits = 0
    hit_list = []
    for dirpath, _, names in os.walk(data):
        for name in names:
            path = os.path.join(dirpath, name)
            files += 1
            with open(path, "rb") as f:
                blob = f.read()
            for n in needles:
                for enc in (n, n.decode().encode("utf-16-le")):
                    if enc in blob:
                        hits += 1
                        hit_list.append(f"{os.path.relpath(path, data)}: {n.decode()}")
    report(hits == 0, "step5 no subject id in clear",
           f"{len(ids)} subject ids ({len(clear_ids)} read from the log, {len(extra['ids'])} added) searched "
           f"in {files} files of D: {hits} found" + (f"; {hit_list[:3]}" if hit_list else ""))

    links = []
    sub_lookups = {l for l, _ in subject_rows}
    sub_keys = {k for _, k in subject_rows}
    raw_files = b""
    for name in os.listdir(data):
        if name.startswith("keys.sqlite") or name.startswith("audit"):
            with open(os.path.join(data, name), "rb") as f:
                raw_files += f.read()
    for lk, sid in explained.items():
        if lk in sub_lookups:
            links.append(f"{sid}: lookup hash still in subject")
        if lk not in erased_lookups:
            links.append(f"{sid}: lookup hash not in erased_subject")
    for k in tomb_ids:
        if k in sub_keys:
            links.append(f"tombstone {k.hex()} still in subject")
        for lk in erased_lookups:
            if lk + k in raw_files or k + lk in raw_files:
                links.append(f"lookup||pseudonym bytes of {k.hex()} left in key store / audit files")
    report(not links, "step5 no lookup->pseudonym link for erased subjects",
           f"{len(erased_lookups)} erased subjects, {len(tomb_ids)} tombstones, {len(subject_rows)} subject rows; "
           f"links found: {len(links)}" + (f"; {links[:3]}" if links else ""))


def tamper(scratch, kind):
    src = os.path.join(scratch, "D")
    dst = os.path.join(scratch, f"D-tamper-{kind}")
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    if kind == "wrapped":
        db = sqlite3.connect(os.path.join(dst, "keys.sqlite"))
        # A subject with records on the log: the first record's key.
        ldb = connect_ro(os.path.join(dst, "log.sqlite"))
        keys = [bytes.fromhex(bytes(r[2]).decode()) for r in log_records(ldb)
                if r[2] is not None and len(r[2]) == 32]
        ldb.close()
        for k in keys:
            row = db.execute("SELECT version, wrapped FROM dek WHERE key_id = ?", (k,)).fetchone()
            if row:
                break
        wrapped = bytearray(row[1])
        wrapped[17] ^= 0x01
        db.execute("UPDATE dek SET wrapped = ? WHERE key_id = ? AND version = ?", (bytes(wrapped), k, row[0]))
        db.commit()
        db.close()
        print(f"tampered: one byte of the wrapped DEK of {k.hex()} v{row[0]} in {dst}/keys.sqlite")
    else:
        db = sqlite3.connect(os.path.join(dst, "log.sqlite"))
        row, rid, _, value, _, _, at = list(log_records(db))[5]
        body = bytearray(db.execute("SELECT body FROM batch WHERE id = ?", (row,)).fetchone()[0])
        i = at + bytes(value).index(b'"storeId":"') + len(b'"storeId":"') + 3
        body[i] = ord("X") if body[i] != ord("X") else ord("Y")
        db.execute("UPDATE batch SET body = ? WHERE id = ?", (bytes(body), row))
        db.commit()
        db.close()
        print(f"tampered: one byte of the value of record id {rid:#x} in {dst}/log.sqlite")
    return dst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bin")
    ap.add_argument("scratch")
    ap.add_argument("--check-only", action="store_true", help="check SCRATCH/D without rebuilding it")
    ap.add_argument("--tamper", choices=["wrapped", "value"],
                    help="check a copy of SCRATCH/D with one byte changed (expected to fail)")
    args = ap.parse_args()
    bin_path = os.path.abspath(args.bin)
    scratch = os.path.abspath(args.scratch)
    os.makedirs(scratch, exist_ok=True)
    t0 = time.time()
    if not args.check_only and not args.tamper:
        build(bin_path, scratch)
    data = os.path.join(scratch, "D")
    if args.tamper:
        data = tamper(scratch, args.tamper)
    check(bin_path, scratch, data)
    failed = [name for ok, name, _ in RESULTS if not ok]
    print(f"{'FAIL' if failed else 'OK'}: {len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed "
          f"in {time.time() - t0:.1f} s" + (f" (failed: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
