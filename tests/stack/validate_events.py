"""Validates OpenLineage events (one JSON object per line of a file) against
openlineage-run-event.schema.json. Prints one JSON list: each event's type
and its validation errors (empty when valid).

    validate_events.py <events.jsonl>
"""

import json
import pathlib
import sys

import jsonschema

schema = json.loads((pathlib.Path(__file__).parent / "openlineage-run-event.schema.json").read_text())
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
out = []
for line in pathlib.Path(sys.argv[1]).read_text().splitlines():
    if line.strip():
        event = json.loads(line)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]
        out.append({"eventType": event.get("eventType"), "errors": errors})
print(json.dumps(out))
