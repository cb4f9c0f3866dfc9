#!/usr/bin/env python3
# Cross-checks `strongroom schema validate` against Python `jsonschema` (Draft 7) on a corpus of
# schemas and of valid and mutated events. Formats are left out (the official suite covers them,
# and jsonschema's format checks depend on optional packages).
# Usage: crosscheck_schema.py STRONGROOM_BINARY
import copy, json, random, subprocess, sys, tempfile
from jsonschema import Draft7Validator

binary = sys.argv[1]
random.seed(20251124)
def without_formats(node):
    # Formats are asserted here and only annotated by jsonschema without its optional checkers.
    if isinstance(node, dict):
        return {k: without_formats(v) for k, v in node.items() if k != "format"}
    if isinstance(node, list):
        return [without_formats(v) for v in node]
    return node

bench = without_formats(json.load(open("examples/loan_application.schema.json")))
rich = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "additionalProperties": False, "required": ["id", "amount", "lines"],
    "properties": {
        "id": {"type": "string", "pattern": "^APP-[0-9]{6}$"},
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 250000},
        "term": {"type": "integer", "minimum": 6, "maximum": 360},
        "currency": {"enum": ["USD", "EUR", "GBP"]},
        "kind": {"const": "loan"},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 8}, "maxItems": 4},
        "lines": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/line"}},
        "contact": {"oneOf": [{"$ref": "#/definitions/phone"}, {"$ref": "#/definitions/mail"}]},
        "flags": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
        "meta": {"type": "object", "additionalProperties": {"type": "string"}, "properties": {"n": {"type": "integer"}}},
        "pair": {"type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": False},
    },
    "definitions": {
        "line": {"type": "object", "required": ["sku", "qty"], "additionalProperties": False,
                 "properties": {"sku": {"type": "string", "minLength": 3}, "qty": {"type": "integer", "minimum": 1}}},
        "phone": {"type": "object", "required": ["phone"], "properties": {"phone": {"type": "string"}}},
        "mail": {"type": "object", "required": ["mail"], "properties": {"mail": {"type": "string"}}},
    },
}

def rich_event():
    e = {"id": "APP-%06d" % random.randrange(10**6), "amount": round(random.uniform(1, 250000), 2),
         "lines": [{"sku": "SKU%d" % random.randrange(100), "qty": random.randrange(1, 5)}]}
    if random.random() < .5: e["term"] = random.choice([6, 12, 60, 360])
    if random.random() < .5: e["currency"] = random.choice(["USD", "EUR", "GBP"])
    if random.random() < .3: e["kind"] = "loan"
    if random.random() < .3: e["tags"] = ["a", "bb"]
    if random.random() < .4: e["contact"] = random.choice([{"phone": "x"}, {"mail": "y"}])
    if random.random() < .3: e["flags"] = random.choice([True, None])
    if random.random() < .3: e["meta"] = {"n": 3, "x": "y"}
    if random.random() < .3: e["pair"] = ["a", 1.5]
    return e

def mutate(e, schema):
    e = copy.deepcopy(e)
    keys = list(e.keys())
    choice = random.randrange(12)
    k = random.choice(keys)
    if choice == 0: del e[k]
    elif choice == 1: e[k] = 12
    elif choice == 2: e[k] = "x" * random.randrange(0, 20)
    elif choice == 3: e["unexpected"] = 1
    elif choice == 4: e[k] = None
    elif choice == 5: e[k] = [1, "2", {}]
    elif choice == 6: e[k] = {"a": 1}
    elif choice == 7: e[k] = -1e3
    elif choice == 8: e[k] = 1.5
    elif choice == 9: e[k] = True
    elif choice == 10 and isinstance(e.get("lines"), list): e["lines"] = e["lines"] + [{"sku": "S", "qty": 0}]
    elif choice == 11 and "contact" in e: e["contact"] = {"phone": "x", "mail": "y"}
    return e

examples = [json.loads(l) for l in open("examples/loan_applications.jsonl") if l.strip()]
corpora = [
    (bench, examples + [mutate(random.choice(examples), bench) for _ in range(600)]),
    (rich, [rich_event() for _ in range(300)] + [mutate(rich_event(), rich) for _ in range(900)]),
]
total = mismatches = 0
for schema, events in corpora:
    expected = [not list(Draft7Validator(schema).iter_errors(e)) for e in events]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(schema, f)
    out = subprocess.run([binary, "schema", "validate", "--schema", f.name, "--json"],
                         input="".join(json.dumps(e) + "\n" for e in events), capture_output=True, text=True).stdout
    got = [json.loads(l)["valid"] for l in out.splitlines()]
    assert len(got) == len(events), f"{len(got)} results for {len(events)} events"
    for i, (a, b) in enumerate(zip(expected, got)):
        total += 1
        if a != b:
            mismatches += 1
            if mismatches <= 5: print(f"mismatch: jsonschema {a}, strongroom {b}: {json.dumps(events[i])[:200]}")
valid = sum(1 for s, ev in corpora for e in ev if not list(Draft7Validator(s).iter_errors(e)))
print(f"schema cross-check: {total} events ({valid} valid, {total - valid} invalid), {mismatches} disagreement(s) with jsonschema")
sys.exit(1 if mismatches else 0)
