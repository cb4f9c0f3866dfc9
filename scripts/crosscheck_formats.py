#!/usr/bin/env python3
# An independent implementation of the sr1 field format (version 2) with pyca/cryptography: it
# produces the fixed vectors of docs/formats.md, and `--check FILE` fails unless FILE and the docs
# hold them all.
import base64, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
def lp(b): return struct.pack(">I", len(b)) + b
def header(alg, scope, keyid, version): return bytes([2, alg, scope]) + keyid + struct.pack(">I", version)
def prefix(tenant, topic, subject_key, eventid):
    # The subject is bound by its key id (16 bytes), never by its id; b"" for events without one.
    return b"strongroom/field/v2" + lp(tenant.encode()) + lp(topic.encode()) + lp(subject_key) + lp(eventid.encode())
def subkey(dek, alg):
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"strongroom/field/v2/" + bytes([alg])).derive(dek)
def seal(alg, key, nonce, scope, keyid, version, ctx, pointer, plaintext):
    h = header(alg, scope, keyid, version)
    aad = prefix(*ctx) + lp(pointer.encode()) + h
    if alg == 1:
        ct = AESGCM(subkey(key, 1)).encrypt(nonce, plaintext, aad); body = h + nonce + ct
    else:
        ct = AESGCMSIV(subkey(key, 2)).encrypt(bytes(12), plaintext, aad); body = h + ct
    return "sr1:" + base64.urlsafe_b64encode(body).decode().rstrip("=")
key = bytes(range(32)); keyid = bytes(range(0x10, 0x20)); nonce = bytes(range(0xa0, 0xac))
vs = [
 ("V1 randomized subject field", 1, 1, 1, ("bfb","loan_applications",keyid,"6f1c2a9e-1d4b-4c1e-9a55-0b7e3c1d2f01"), "/ssn", b'"123-45-6789"'),
 ("V2 randomized object, topic key, no subject or event", 1, 2, 3, ("","loan_applications",b"",""), "/address", b'{"street":"12 Main St","city":"New York","postalCode":"10001","country":"US"}'),
 ("V3 number keeps its text", 1, 1, 2, ("bfb","loan_applications",keyid,"evt-1"), "/amount", b'12500.00'),
 ("V4 deterministic", 2, 1, 1, ("bfb","loan_applications",keyid,""), "/email", b'"mary.johnson@example.com"'),
 ("V5 the subject id itself", 1, 1, 1, ("bfb","loan_applications",keyid,"6f1c2a9e-1d4b-4c1e-9a55-0b7e3c1d2f01"), "/customerId", b'"CUST-00000001"'),
]
import sys
results = [(name, seal(alg, key, nonce, scope, keyid, ver, ctx, ptr, pt)) for name, alg, scope, ver, ctx, ptr, pt in vs]
if len(sys.argv) == 3 and sys.argv[1] == "--check":
    # Every vector the Swift tests (and docs/formats.md) use must be what this implementation produces.
    swift = open(sys.argv[2]).read()
    docs = open("docs/formats.md").read()
    missing = [name for name, text in results if text not in swift or text not in docs]
    for name, text in results:
        print(("ok  " if name not in missing else "FAIL"), name, text[:40] + "...")
    sys.exit(1 if missing else 0)
for name, text in results:
    print(name, text)
