"""Decodes Kafka record values in the Confluent Schema Registry wire format with fastavro, as any
non-Rust consumer would: magic byte 0, a 4-byte big-endian schema id, then the Avro binary datum.
The writer schema is fetched by id from the registry's REST API (GET /schemas/ids/{id}).

    python3 avro_decode.py REGISTRY_URL < values.hex > values.jsonl

Input: one hex-encoded record value per line. Output: one JSON value per line, in the same order,
with timestamp-millis as epoch milliseconds (fastavro reads them as datetimes).
"""

import datetime
import io
import json
import struct
import sys
import urllib.request

import fastavro

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(v):
    """The JSON shape of a decoded value."""
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v


def main():
    registry = sys.argv[1].rstrip("/")
    schemas = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        value = bytes.fromhex(line)
        if value[0] != 0:
            sys.exit(f"magic byte {value[0]}, not 0")
        (schema_id,) = struct.unpack(">I", value[1:5])
        if schema_id not in schemas:
            with urllib.request.urlopen(f"{registry}/schemas/ids/{schema_id}", timeout=10) as r:
                text = json.load(r)["schema"]
            schemas[schema_id] = fastavro.parse_schema(json.loads(text))
        datum = io.BytesIO(value[5:])
        record = fastavro.schemaless_reader(datum, schemas[schema_id])
        if datum.read():
            sys.exit("bytes left after the datum")
        print(json.dumps(plain(record)))
    print(f"decoded with {len(schemas)} schema(s) from the registry", file=sys.stderr)


if __name__ == "__main__":
    main()
