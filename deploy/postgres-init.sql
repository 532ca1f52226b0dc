-- Runs once, when the postgresql service starts on an empty data volume (files in
-- /docker-entrypoint-initdb.d are ignored afterwards). Temporal uses the superuser from
-- POSTGRES_USER and creates its own databases; Berth gets a separate role and database.
-- The password must match DATABASE_URL in docker-compose.yml; change both for a real deployment.
CREATE ROLE berth WITH LOGIN PASSWORD 'berth';
CREATE DATABASE berth OWNER berth;
