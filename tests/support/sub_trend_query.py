#!/usr/bin/env python3
"""The gold-layer query of README "Archive" through DuckDB, an independent reader: subscriptions
per channel per UTC day from an archived `twitch.subscriptions.trend` (its 5-minute windows, the
last revision of each). Prints one JSON line per (channel, day), then one line with the Parquet
field docs of the first file (chatpulse.doc.<column>), read by pyarrow.

usage: sub_trend_query.py ROOT TOPIC   (ROOT: a local archive directory)"""

import json
import os
import sys

import duckdb
import pyarrow.parquet as pq

QUERY = """
WITH latest AS (
  SELECT * FROM read_parquet($files)
  WHERE window_end - window_start = INTERVAL 5 MINUTE
  QUALIFY row_number() OVER (PARTITION BY channel, window_start ORDER BY revision DESC) = 1
)
SELECT channel, strftime(CAST(window_start AS TIMESTAMP), '%Y-%m-%d') AS day,
       sum(total) AS subs, sum(gifted_subs) AS gifted
FROM latest GROUP BY ALL ORDER BY day, channel
"""


def main():
    root, topic = sys.argv[1], sys.argv[2]
    files = sorted(
        os.path.join(d, f)
        for d, _, names in os.walk(os.path.join(root, topic))
        for f in names
        if f.endswith(".parquet")
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for channel, day, subs, gifted in con.execute(QUERY, {"files": files}).fetchall():
        print(json.dumps({"channel": channel, "day": day, "subs": int(subs), "gifted": int(gifted)}))
    meta = pq.read_schema(files[0]).metadata or {}
    docs = {k.decode()[len("chatpulse.doc."):]: v.decode() for k, v in meta.items()
            if k.decode().startswith("chatpulse.doc.")}
    print(json.dumps({"docs": docs}))


if __name__ == "__main__":
    main()
