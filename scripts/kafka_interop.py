#!/usr/bin/env python3
"""Reads a Strongroom topic on Kafka with confluent-kafka, an independent Kafka client.

Usage: kafka_interop.py BOOTSTRAP TOPIC SCHEMA.json COUNT

Subscribes as consumer group `interop-confluent-kafka`, reads COUNT records and checks what
docs/kafka.md promises: the Strongroom headers are present, the record key is the subject
pseudonym of the `sr-subject` header, every property the schema tags PII (confluent:tags) or
marks as the subject is an `sr1:` string, and every other property is plain JSON. Prints a
summary as JSON; exits 1 on the first broken promise (naming the record, never its values).
"""
import json
import re
import sys
import time

from confluent_kafka import Consumer, KafkaError

REQUIRED_HEADERS = {
    "sr-sig", "sr-batch", "sr-proof", "sr-producer", "sr-producer-key", "sr-seq", "sr-schema",
    "sr-subject", "sr-keys", "content-type",
}


def main():
    bootstrap, topic, schema_path, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    schema = json.load(open(schema_path))
    encrypted = {
        name for name, spec in schema["properties"].items()
        if "PII" in spec.get("confluent:tags", []) or spec.get("strongroom:subject")
    }
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "interop-confluent-kafka",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    })
    consumer.subscribe([topic])
    seen, partitions, deadline = 0, set(), time.time() + 60
    try:
        while seen < count:
            if time.time() > deadline:
                fail(f"only {seen} of {count} records within 60 s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail(f"consumer error: {message.error()}")
            where = f"{topic}[{message.partition()}]@{message.offset()}"
            headers = {name: value for name, value in (message.headers() or [])}
            missing = REQUIRED_HEADERS - headers.keys()
            if missing:
                fail(f"{where}: headers missing: {sorted(missing)}")
            if message.key() != headers["sr-subject"]:
                fail(f"{where}: the record key is not the sr-subject pseudonym")
            if not re.fullmatch(rb"[0-9a-f]{32}", message.key()):
                fail(f"{where}: the record key is not a 16-byte hex pseudonym")
            event = json.loads(message.value())
            for name, value in event.items():
                sealed = isinstance(value, str) and value.startswith("sr1:")
                if name in encrypted and not sealed:
                    fail(f"{where}: {name} is tagged PII but is not an sr1: ciphertext")
                if name not in encrypted and sealed:
                    fail(f"{where}: {name} is not tagged but is encrypted")
            seen += 1
            partitions.add(message.partition())
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    print(json.dumps({"records": seen, "partitions": sorted(partitions), "encrypted": sorted(encrypted)}))


def fail(message):
    print("kafka_interop: " + message, file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
