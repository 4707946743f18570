#!/bin/bash
# One database and one login per service, so that no service can read another's data
# (CONTRACTS.md). Run by the postgres image on its first start (empty data volume) only; the
# passwords come from env/postgres.env and match each service's <SERVICE>_DATABASE_URL.
# ECOM_DB_PREFIX (default empty) prefixes the database and login names (the tests use it).
set -euo pipefail

prefix="${ECOM_DB_PREFIX:-}"
for plain in catalog orders inventory aftersales logistics billing marketing analytics console; do
    service="$prefix$plain"
    var="${plain^^}_DB_PASSWORD"
    password="${!var:-}"
    if [ -z "$password" ]; then
        echo "init-databases: $var is not set (env/postgres.env)" >&2
        exit 1
    fi
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        --set=service="$service" --set=password="$password" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"service" TO :"service";
SQL
    echo "init-databases: database and login '$service' created"
done
