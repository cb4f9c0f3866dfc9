#!/usr/bin/env python3
"""Checks the Transit test server's wire compatibility with hvac, an independent Vault client.

Usage: check_vault_transit.py URL TOKEN
Every Transit call the Vault Transit provider makes is made here through hvac, with the
answers hvac expects from real Vault; a wrong token must be Forbidden.
"""
import base64
import os
import sys

import hvac
from hvac import exceptions


def main():
    url, token = sys.argv[1], sys.argv[2]
    for namespace in (None, "bank/payments"):
        c = hvac.Client(url=url, token=token, namespace=namespace)
        t = c.secrets.transit
        name = "hvac-check-" + os.urandom(4).hex()
        t.create_key(name=name, key_type="aes256-gcm96", mount_point="transit")
        assert t.read_key(name=name)["data"]["latest_version"] == 1
        aad = base64.b64encode(b"family-1").decode()
        plain = base64.b64encode(b"k" * 32).decode()
        ct = t.encrypt_data(name=name, plaintext=plain, associated_data=aad)["data"]["ciphertext"]
        assert ct.startswith("vault:v1:"), ct
        assert t.decrypt_data(name=name, ciphertext=ct, associated_data=aad)["data"]["plaintext"] == plain
        try:
            t.decrypt_data(name=name, ciphertext=ct, associated_data=base64.b64encode(b"family-2").decode())
            raise AssertionError("other associated data decrypted")
        except exceptions.InvalidRequest:
            pass
        t.rotate_key(name=name)
        v2 = t.encrypt_data(name=name, plaintext=plain, key_version=2, associated_data=aad)["data"]["ciphertext"]
        assert v2.startswith("vault:v2:"), v2
        plain_ct = t.encrypt_data(name=name, plaintext=plain, key_version=1)["data"]["ciphertext"]
        rewrapped = t.rewrap_data(name=name, ciphertext=plain_ct)["data"]["ciphertext"]
        assert rewrapped.startswith("vault:v2:"), rewrapped
        assert t.decrypt_data(name=name, ciphertext=rewrapped)["data"]["plaintext"] == plain
        dk = t.generate_data_key(name=name, key_type="plaintext")["data"]
        assert base64.b64decode(dk["plaintext"]) and dk["ciphertext"].startswith("vault:v2:")
        t.update_key_configuration(name=name, min_decryption_version=2)
        try:
            t.decrypt_data(name=name, ciphertext=ct, associated_data=aad)
            raise AssertionError("a version below min_decryption_version decrypted")
        except exceptions.InvalidRequest as e:
            assert "too old" in str(e), e
        t.trim_key(name=name, min_version=2)
        assert sorted(t.read_key(name=name)["data"]["keys"]) == ["2"]
        try:
            t.delete_key(name=name)
            raise AssertionError("deleted without deletion_allowed")
        except exceptions.InvalidRequest:
            pass
        t.update_key_configuration(name=name, deletion_allowed=True)
        t.delete_key(name=name)
        try:
            t.read_key(name=name)
            raise AssertionError("deleted key still readable")
        except exceptions.InvalidPath:
            pass
    try:
        hvac.Client(url=url, token="wrong").secrets.transit.create_key(name="x")
        raise AssertionError("a wrong token was accepted")
    except exceptions.Forbidden:
        pass
    print("vault transit test server: every hvac call answered as Vault documents (namespaced and not)")


if __name__ == "__main__":
    main()
