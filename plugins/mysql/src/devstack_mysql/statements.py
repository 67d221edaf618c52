"""The SQL the plugin runs on ``devstack_records``: the table, an insert, a page, the count."""

NOW_QUERY = "SELECT NOW()"
SCHEMA = """
CREATE TABLE IF NOT EXISTS devstack_records (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `key` VARCHAR(100) NOT NULL,
    value JSON NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX devstack_records_created_at (created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
INSERT = "INSERT INTO devstack_records (`key`, value, created_at) VALUES (%s, %s, %s)"
# A page stops before the record that would take its values past PAGE_VALUE_BYTES (the
# third parameter) as stored (the first record is always answered); page_rows says how
# many LIMIT/OFFSET chose.
PAGE = """
SELECT id, `key`, value, created_at, page_rows FROM (
    SELECT id, `key`, value, created_at,
        SUM(LENGTH(value)) OVER (ORDER BY created_at DESC, id DESC ROWS UNBOUNDED PRECEDING) AS running_bytes,
        ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS position,
        COUNT(*) OVER () AS page_rows
    FROM (
        SELECT id, `key`, value, created_at FROM devstack_records FORCE INDEX (devstack_records_created_at)
        ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s
    ) chosen
) sized
WHERE position = 1 OR running_bytes <= %s
ORDER BY created_at DESC, id DESC
"""
COUNT = "SELECT COUNT(*) FROM devstack_records"
