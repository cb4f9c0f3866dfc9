#!/usr/bin/env python3
"""Drives Strongroom's gateway with confluent-kafka's own SchemaRegistryClient, unchanged.

Usage: schema_registry_interop.py URL CA CERT KEY SCHEMA_FILE DENIED_CERT DENIED_KEY

Registers, fetches by id, by version and latest, lists, looks up, tests and sets
compatibility, and checks that an incompatible schema (409), an Avro schema (422) and a
principal without the right (403) are refused. Prints OK and exits 0 when every check holds.
"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError


def client(url, ca, cert, key):
    return SchemaRegistryClient(
        {"url": url, "ssl.ca.location": ca, "ssl.certificate.location": cert, "ssl.key.location": key}
    )


def refused(call, status):
    try:
        call()
    except SchemaRegistryError as error:
        assert error.http_status_code == status, (error.http_status_code, error.error_code, error.error_message)
        return error
    raise AssertionError(f"accepted, expected {status}")


def main():
    url, ca, cert, key, schema_file, denied_cert, denied_key = sys.argv[1:8]
    text = open(schema_file).read()
    subject = "payments-value"
    sr = client(url, ca, cert, key)

    schema_id = sr.register_schema(subject, Schema(text, "JSON"))
    assert isinstance(schema_id, int) and schema_id > 0, schema_id
    fetched = client(url, ca, cert, key).get_schema(schema_id)  # a fresh client: no cache
    assert json.loads(fetched.schema_str) == json.loads(text), "get_schema gave another schema"
    assert fetched.schema_type == "JSON", fetched.schema_type
    latest = sr.get_latest_version(subject)
    assert (latest.schema_id, latest.version, latest.subject) == (schema_id, 1, subject), latest
    assert sr.get_versions(subject) == [1]
    assert subject in sr.get_subjects()
    version = sr.get_version(subject, 1)
    assert version.schema_id == schema_id
    found = sr.lookup_schema(subject, Schema(text, "JSON"))
    assert found.version == 1 and found.schema_id == schema_id, found

    # A new optional property is a backward-compatible change; a new required one is not.
    document = json.loads(text)
    compatible = dict(document, properties=dict(document["properties"], channel={"type": "string"}))
    incompatible = dict(compatible, required=document["required"] + ["channel"])
    assert sr.test_compatibility(subject, Schema(json.dumps(compatible), "JSON")) is True
    assert sr.test_compatibility(subject, Schema(json.dumps(incompatible), "JSON")) is False
    second = sr.register_schema(subject, Schema(json.dumps(compatible), "JSON"))
    assert second != schema_id and sr.get_versions(subject) == [1, 2]
    refused(lambda: sr.register_schema(subject, Schema(json.dumps(incompatible), "JSON")), 409)
    refused(lambda: sr.register_schema(subject, Schema('{"type": "string"}', "AVRO")), 422)

    # The client returns the registry's answer as is: {"compatibility": "FULL"}.
    assert sr.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert sr.get_compatibility(subject) == "FULL"
    assert sr.get_compatibility() == "BACKWARD"

    outsider = client(url, ca, denied_cert, denied_key)
    refused(lambda: outsider.register_schema("other-value", Schema(text, "JSON")), 403)
    print(f"OK: registered id {schema_id} and {second}, versions [1, 2], compatibility FULL")


if __name__ == "__main__":
    main()
