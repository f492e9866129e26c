#!/usr/bin/env python3
"""Fails unless the document at URL (or in FILE) is valid OpenAPI 3.1.

    scripts/check_openapi.py http://127.0.0.1:8080/openapi.json
    scripts/check_openapi.py openapi.json

Needs openapi-spec-validator (pinned in .ci/run). Besides the schema validation it checks what
the validator does not: every operation has a unique operationId, a tag and at least one
response, and every `$ref` resolves (links name existing operations).
"""
import json
import sys
import urllib.request

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load(location):
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=30) as response:
            content_type = response.headers.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                sys.exit(f"{location}: Content-Type is {content_type!r}, not application/json")
            return json.load(response)
    with open(location, encoding="utf-8") as f:
        return json.load(f)


def extra_problems(doc):
    problems = []
    if doc.get("openapi") != "3.1.0":
        problems.append(f"openapi is {doc.get('openapi')!r}, expected '3.1.0'")
    operation_ids = set()
    links = []
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            where = f"{method.upper()} {path}"
            op_id = op.get("operationId")
            if not op_id:
                problems.append(f"{where}: no operationId")
            elif op_id in operation_ids:
                problems.append(f"{where}: duplicate operationId {op_id!r}")
            operation_ids.add(op_id)
            if not op.get("tags"):
                problems.append(f"{where}: no tag")
            if not op.get("responses"):
                problems.append(f"{where}: no responses")
            for status, response in op.get("responses", {}).items():
                for name, link in response.get("links", {}).items():
                    links.append((f"{where} {status} link {name}", link.get("operationId")))
    for where, target in links:
        if target not in operation_ids:
            problems.append(f"{where}: operationId {target!r} does not exist")

    def walk(node, trail):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = doc
                for part in ref[2:].split("/"):
                    if not isinstance(target, dict) or part not in target:
                        problems.append(f"{trail}: $ref {ref} does not resolve")
                        break
                    target = target[part]
            for key, value in node.items():
                walk(value, f"{trail}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{trail}/{i}")

    walk(doc, "#")
    return problems, len(operation_ids)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    doc = load(sys.argv[1])
    try:
        validate(doc)
    except OpenAPIValidationError as err:
        sys.exit(f"not valid OpenAPI: {err}")
    except Exception as err:  # an unresolvable $ref surfaces as a resolver error
        sys.exit(f"not valid OpenAPI: {type(err).__name__}: {str(err)[:300]}")
    problems, operations = extra_problems(doc)
    if problems:
        sys.exit("\n".join(["OpenAPI document problems:", *problems]))
    print(f"valid OpenAPI {doc['openapi']}: {len(doc['paths'])} paths, {operations} operations")


if __name__ == "__main__":
    main()
