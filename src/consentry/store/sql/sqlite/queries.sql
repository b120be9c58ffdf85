-- SQLite-only queries (override common.sql by name).

-- name: begin_write
BEGIN IMMEDIATE;

-- name: begin_plain
BEGIN IMMEDIATE;
