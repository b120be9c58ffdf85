-- PostgreSQL-only queries (override common.sql by name).

-- name: begin_write
SELECT pg_advisory_xact_lock(7310252771364861001);
