#!/usr/bin/env python3
"""A HashiCorp Vault Transit-compatible test server, for the Vault Transit provider's tests.

No Vault (or OpenBao) server can be installed on this machine kind, so the tests run against
this stand-in. It speaks the Transit HTTP API as Vault documents it and as `hvac` (an
independent client) uses it; `scripts/check_vault_transit.py` checks that with hvac. It proves
wire compatibility with hvac and the docs, not with real Vault.

Implemented under /v1/<mount>/ (any mount name): keys/:name (POST create aes256-gcm96, GET,
DELETE when deletion_allowed), keys/:name/rotate, keys/:name/config (min_decryption_version,
min_encryption_version, deletion_allowed), keys/:name/trim (min_available_version),
encrypt/:name, decrypt/:name (associated_data for AES-GCM keys), rewrap/:name,
datakey/{plaintext,wrapped}/:name. Token auth (X-Vault-Token), namespaces (X-Vault-Namespace),
errors as {"errors": [...]}. Ciphertexts are vault:v<N>:base64(nonce ‖ ciphertext ‖ tag) as
Vault's keysutil writes them.

Usage: vault_transit_server.py --port PORT --token TOKEN [--state FILE] [--port-file FILE]
Listens on 127.0.0.1 only; --port 0 takes a free port, written to --port-file once listening.
With --state, keys are kept in FILE (0600) across restarts, so a test can take the server down
and bring it back.
"""
import argparse
import base64
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

LOCK = threading.Lock()
KEYS = {}  # (namespace, mount, name) -> key dict
STATE = None  # a file to persist KEYS to, or None


def save():
    if STATE is None:
        return
    rows = [{"id": list(ident), "key": {**key, "versions": {str(v): base64.b64encode(k).decode()
                                                           for v, k in key["versions"].items()},
                                          "created": {str(v): t for v, t in key["created"].items()}}}
            for ident, key in KEYS.items()]
    tmp = STATE + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(rows, f)
    os.replace(tmp, STATE)


def load():
    if STATE is None or not os.path.exists(STATE):
        return
    with open(STATE) as f:
        for row in json.load(f):
            key = row["key"]
            key["versions"] = {int(v): base64.b64decode(k) for v, k in key["versions"].items()}
            key["created"] = {int(v): t for v, t in key["created"].items()}
            KEYS[tuple(row["id"])] = key


def new_key():
    return {"versions": {1: os.urandom(32)}, "created": {1: int(time.time())}, "latest": 1,
            "min_decryption_version": 1, "min_encryption_version": 0, "min_available_version": 0,
            "deletion_allowed": False}


class Handler(BaseHTTPRequestHandler):
    token = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message):
        self.reply(status, {"errors": [message]})

    def route(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("X-Vault-Token") != self.token:
            return self.error(403, "permission denied")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.error(400, "failed to parse JSON input")
        ns = self.headers.get("X-Vault-Namespace", "").strip("/")
        m = re.fullmatch(r"/v1/([^/]+)/(keys|encrypt|decrypt|rewrap|datakey)/(.+)", self.path.split("?")[0])
        if not m:
            return self.error(404, "no handler for route")
        mount, kind, rest = m.groups()
        with LOCK:
            result = self.dispatch(method, ns, mount, kind, rest, body)
            save()
            return result

    def dispatch(self, method, ns, mount, kind, rest, body):
        if kind == "keys":
            parts = rest.split("/")
            name, action = parts[0], (parts[1] if len(parts) > 1 else None)
            ident = (ns, mount, name)
            key = KEYS.get(ident)
            if action is None and method == "POST":
                if body.get("type", "aes256-gcm96") != "aes256-gcm96":
                    return self.error(400, "only aes256-gcm96 keys are supported here")
                KEYS.setdefault(ident, new_key())
                return self.reply(204)
            if key is None:
                return self.error(404, "encryption key not found") if method != "GET" else self.reply(404, {"errors": []})
            if action is None and method == "GET":
                keys = {str(v): key["created"][v] for v in key["versions"] if v >= key["min_available_version"]}
                return self.reply(200, {"data": {
                    "name": name, "type": "aes256-gcm96", "latest_version": key["latest"], "keys": keys,
                    "min_decryption_version": key["min_decryption_version"],
                    "min_encryption_version": key["min_encryption_version"],
                    "min_available_version": key["min_available_version"],
                    "deletion_allowed": key["deletion_allowed"], "supports_encryption": True,
                    "supports_decryption": True, "derived": False, "exportable": False}})
            if action is None and method == "DELETE":
                if not key["deletion_allowed"]:
                    return self.error(400, "deletion is not allowed for this key")
                del KEYS[ident]
                return self.reply(204)
            if action == "rotate" and method == "POST":
                key["latest"] += 1
                key["versions"][key["latest"]] = os.urandom(32)
                key["created"][key["latest"]] = int(time.time())
                return self.reply(200, {"data": {"latest_version": key["latest"]}})
            if action == "config" and method == "POST":
                for field in ("min_decryption_version", "min_encryption_version"):
                    if field in body:
                        value = int(body[field])
                        if value < 0 or value > key["latest"]:
                            return self.error(400, f"{field} out of range")
                        if field == "min_decryption_version" and value < key["min_available_version"]:
                            return self.error(400, "min decryption version should not be less than min available version")
                        key[field] = value
                if "deletion_allowed" in body:
                    key["deletion_allowed"] = bool(body["deletion_allowed"])
                return self.reply(204)
            if action == "trim" and method == "POST":
                target = int(body.get("min_available_version", 0))
                if target > key["min_decryption_version"]:
                    return self.error(400, "cannot trim a version that may still decrypt: raise min_decryption_version first")
                if target < key["min_available_version"]:
                    return self.error(400, "min available version cannot go down")
                for v in [v for v in key["versions"] if v < target]:
                    del key["versions"][v]
                key["min_available_version"] = target
                return self.reply(204)
            return self.error(405, "unsupported operation")

        if method != "POST":
            return self.error(405, "unsupported operation")
        if kind == "datakey":
            mode, _, name = rest.partition("/")
            key = KEYS.get((ns, mount, name))
            if key is None or mode not in ("plaintext", "wrapped"):
                return self.error(400, "encryption key not found")
            plaintext = os.urandom(int(body.get("bits", 256)) // 8)
            data = {"ciphertext": self.seal(key, plaintext, None, None), "key_version": key["latest"]}
            if mode == "plaintext":
                data["plaintext"] = base64.b64encode(plaintext).decode()
            return self.reply(200, {"data": data})
        name = rest
        key = KEYS.get((ns, mount, name))
        if key is None:
            return self.error(400, "encryption key not found")
        aad = base64.b64decode(body["associated_data"]) if body.get("associated_data") else None
        if kind == "encrypt":
            try:
                plaintext = base64.b64decode(body.get("plaintext", ""), validate=True)
            except ValueError:
                return self.error(400, "failed to base64-decode plaintext")
            version = body.get("key_version")
            try:
                ciphertext = self.seal(key, plaintext, aad, int(version) if version else None)
            except KeyError as e:
                return self.error(400, str(e.args[0]))
            return self.reply(200, {"data": {"ciphertext": ciphertext, "key_version": int(ciphertext.split(":")[1][1:])}})
        if kind in ("decrypt", "rewrap"):
            try:
                plaintext = self.open(key, body.get("ciphertext", ""), aad)
            except KeyError as e:
                return self.error(400, str(e.args[0]))
            if kind == "decrypt":
                return self.reply(200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}})
            return self.reply(200, {"data": {"ciphertext": self.seal(key, plaintext, aad, None),
                                             "key_version": key["latest"]}})
        return self.error(405, "unsupported operation")

    @staticmethod
    def seal(key, plaintext, aad, version):
        version = version or key["latest"]
        if version < max(key["min_encryption_version"], key["min_available_version"]) or version not in key["versions"]:
            raise KeyError("requested version for encryption is not available")
        nonce = os.urandom(12)
        sealed = AESGCM(key["versions"][version]).encrypt(nonce, plaintext, aad)
        return f"vault:v{version}:" + base64.b64encode(nonce + sealed).decode()

    @staticmethod
    def open(key, ciphertext, aad):
        m = re.fullmatch(r"vault:v(\d+):([A-Za-z0-9+/=]+)", ciphertext)
        if not m:
            raise KeyError("invalid ciphertext: no prefix")
        version = int(m.group(1))
        if version < key["min_decryption_version"]:
            raise KeyError("cannot decrypt ciphertext: ciphertext version is disallowed by policy (too old)")
        if version not in key["versions"]:
            raise KeyError("invalid key version")
        raw = base64.b64decode(m.group(2))
        try:
            return AESGCM(key["versions"][version]).decrypt(raw[:12], raw[12:], aad)
        except Exception:
            raise KeyError("cipher: message authentication failed")

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--state")
    parser.add_argument("--port-file")
    a = parser.parse_args()
    global STATE
    STATE = a.state
    load()
    Handler.token = a.token
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(tmp, a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
