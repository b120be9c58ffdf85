-- SQLite-only queries (override common.sql by name).

-- name: begin_write
BEGIN IMMEDIATE;
