"""Reads a lake written by Weir with readers Weir did not write (pyarrow, DuckDB) and
checks row counts, column types and values. Usage: check_lake.py LAKE EXPECTED_ROWS"""

import json
import pathlib
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

lake = pathlib.Path(sys.argv[1])
expected_rows = int(sys.argv[2])

data = ds.dataset(lake / "orders", format="parquet", partitioning="hive")
table = data.to_table()
dead = [json.loads(l) for f in (lake / "errors").rglob("*.jsonl") for l in f.read_text().splitlines()]
assert table.num_rows + len(dead) == expected_rows, (table.num_rows, len(dead))
assert 0 < len(dead) < expected_rows * 0.05, len(dead)
assert {d["error_type"] for d in dead} <= {"invalid-json", "schema-mismatch"}, dead[:3]

schema = table.schema
assert schema.field("event_time").type == pa.timestamp("us", tz="UTC"), schema.field("event_time").type
assert not schema.field("event_time").nullable
assert schema.field("total").type == pa.float64()
assert schema.field("discount_code").nullable
items = schema.field("items").type
assert pa.types.is_list(items) and pa.types.is_struct(items.value_type), items
assert items.value_type.field("qty").type == pa.int64()
customer = schema.field("customer").type
assert customer.field("address").type.field("city").type == pa.string()
# Column order follows the schema file.
assert schema.names[:3] == ["order_id", "event_time", "status"], schema.names

con = duckdb.connect()
con.register("orders", table)
(rows, ids, bad_hours, bad_totals, max_t, min_t) = con.execute(
    """
    select count(*), count(distinct order_id),
           count(*) filter (where hour(event_time) <> cast(hour as int)),
           count(*) filter (where abs(total - list_sum(list_transform(items, lambda i: i.qty * i.unit_price))) > 0.01),
           cast(max(event_time) as varchar), cast(min(event_time) as varchar)
    from orders
    """
).fetchone()
assert rows == ids == table.num_rows, (rows, ids)
assert bad_hours == 0, "every row sits in the folder of its event hour"
assert bad_totals == 0, "totals equal the sum of their items"
assert str(min_t).startswith("2026-05-01 00") and str(max_t).startswith("2026-05-01 04"), (min_t, max_t)

# DuckDB straight from the files, with Hive partitions, as a user would.
files = con.execute(
    f"select count(*), count(distinct hour) from read_parquet('{lake}/orders/**/*.parquet', hive_partitioning=true)"
).fetchone()
assert files == (table.num_rows, 5), files
print(f"ok: {table.num_rows} rows, {len(dead)} dead letters")
