"""The SQL the plugin runs on ``devstack_records``: the table, an insert, a page, the count."""

# The value is kept as the JSON text the plugin wrote (json, not jsonb): jsonb rewrites
# numbers in full (1e308 as 309 digits, ~50x the body) and cannot hold "\u0000". A table
# made before then holds jsonb and is converted once, under a lock, by the first process.
SCHEMA = """
CREATE TABLE IF NOT EXISTS devstack_records (
    id bigserial PRIMARY KEY,
    key varchar(100) NOT NULL,
    value json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devstack_records_created_at ON devstack_records (created_at DESC, id DESC);
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute
        WHERE attrelid = 'devstack_records'::regclass AND attname = 'value') = 'jsonb'::regtype THEN
        LOCK TABLE devstack_records IN ACCESS EXCLUSIVE MODE;
        IF (SELECT atttypid FROM pg_attribute
            WHERE attrelid = 'devstack_records'::regclass AND attname = 'value') = 'jsonb'::regtype THEN
            ALTER TABLE devstack_records ALTER COLUMN value TYPE json USING value::json;
        END IF;
    END IF;
END
$$;
"""
NOW_QUERY = "SELECT current_timestamp"
INSERT = "INSERT INTO devstack_records (key, value) VALUES ($1, $2) RETURNING id, created_at"
# A page stops before the record that would take its values past PAGE_VALUE_BYTES ($3) as
# stored (the first record is always answered); page_rows says how many LIMIT/OFFSET chose.
PAGE = """
SELECT id, key, value, created_at, page_rows FROM (
    SELECT id, key, value, created_at,
        sum(octet_length(value::text)) OVER newest AS running_bytes,
        row_number() OVER newest AS position,
        count(*) OVER () AS page_rows
    FROM (
        SELECT id, key, value, created_at FROM devstack_records
        ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2
    ) chosen
    WINDOW newest AS (ORDER BY created_at DESC, id DESC ROWS UNBOUNDED PRECEDING)
) sized
WHERE position = 1 OR running_bytes <= $3
ORDER BY created_at DESC, id DESC
"""
COUNT = "SELECT count(*) FROM devstack_records"
