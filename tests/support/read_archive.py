#!/usr/bin/env python3
"""The archive tests' independent reader: reads every Parquet file of a topic in a chatpulse
archive with pyarrow (a local directory, or s3://bucket/prefix with --endpoint) and prints one JSON
line per row, then one line with messages per channel per hour counted by pyarrow's group_by.
A message whose `raw` column is null is rebuilt from its columns by the rule in README "Archive"
(written here from that rule, not from chatpulse's code).

usage: read_archive.py ROOT TOPIC [--endpoint URL]
(S3 credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.)"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def filesystem(root, endpoint):
    if root.startswith("s3://"):
        scheme, _, host = endpoint.partition("://")
        fs = pafs.S3FileSystem(
            endpoint_override=host,
            scheme=scheme,
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region=os.environ.get("AWS_REGION", "us-east-1"),
            force_virtual_addressing=False,
        )
        return fs, root[len("s3://"):].rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(root)


TYPED = {"t": "tmi-sent-ts", "u": "user-id", "i": "id", "b": "bits", "l": "login"}
ESCAPES = {" ": "\\s", ";": "\\:", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}


def escape(value):
    return "".join(ESCAPES.get(c, c) for c in value)


def rebuild_line(row):
    """The IRC line of a message row stored without `raw`."""
    entries = iter(row["tags"] or [])
    order = row["tag_order"]
    colon = ":"
    if order.endswith("-"):
        order, colon = order[:-1], ""
    tags = []
    for slot in order:
        if slot == ".":
            key, value = next(entries)
            tags.append(f"{key}={escape(value or '')}")
        elif slot == "t":
            tags.append(f"tmi-sent-ts={int(row['event_time'].timestamp() * 1000 + 0.5)}")
        elif slot == "b":
            tags.append("bits=" + ("" if row["bits"] is None else str(row["bits"])))
        else:
            column = {"u": "user_id", "i": "message_id", "l": "user_login"}[slot]
            tags.append(f"{TYPED[slot]}={row[column] or ''}")
    assert next(entries, None) is None, "tags entries left over"
    login = row["user_login"]
    head = "@" + ";".join(tags) + " " if tags else ""
    return f"{head}:{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{row['channel']} {colon}{row['text']}"


def main():
    root, topic = sys.argv[1], sys.argv[2]
    endpoint = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--endpoint" else None
    fs, base = filesystem(root, endpoint)
    selector = pafs.FileSelector(f"{base}/{topic}", recursive=True, allow_not_found=True)
    paths = sorted(
        i.path for i in fs.get_file_info(selector)
        if i.type == pafs.FileType.File and i.path.endswith(".parquet")
    )
    tables = []
    for path in paths:
        table = pq.read_table(path, filesystem=fs)
        rel = path[len(base) + 1:]
        tables.append(table.append_column("path", pa.array([rel] * table.num_rows, pa.string())))
        for row in table.select(
            ["kafka_partition", "kafka_offset", "message_id", "channel", "kind", "event_time",
             "user_login", "user_id", "bits", "text", "raw", "raw_bytes", "tag_order", "tags"]
        ).to_pylist():
            raw = row["raw"]
            if raw is None and row["raw_bytes"] is None:
                raw = rebuild_line(row)
            print(json.dumps({
                "path": rel,
                "partition": row["kafka_partition"],
                "offset": row["kafka_offset"],
                "id": row["message_id"],
                "channel": row["channel"],
                "kind": row["kind"],
                "event_time_ms": int(row["event_time"].timestamp() * 1000 + 0.5)
                if row["event_time"] is not None else None,
                "user": row["user_login"],
                "text": row["text"],
                "raw": raw,
                "rebuilt": row["raw"] is None and row["raw_bytes"] is None,
                "tags": len(row["tags"] or []),
            }))
    counts = []
    if tables:
        all_rows = pa.concat_tables(tables)
        messages = all_rows.filter(pc.equal(all_rows["kind"], "message"))
        hour = pc.floor_temporal(messages["event_time"], unit="hour")
        grouped = (
            pa.table({"channel": messages["channel"], "hour": hour})
            .group_by(["channel", "hour"])
            .aggregate([([], "count_all")])
        )
        for row in grouped.to_pylist():
            counts.append([row["channel"], int(row["hour"].timestamp() * 1000), row["count_all"]])
    print(json.dumps({"files": len(paths), "counts": sorted(counts)}))


if __name__ == "__main__":
    main()
