"""deploy/postgres/init-databases.sh (run by the postgres image of docker compose and the dev
overlay) on the real PostgreSQL: one database and one login per service, and no service can connect
to another's database. Names carry a unique prefix (ECOM_DB_PREFIX) and are dropped afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from ecom_common.config import SERVICES
from ecom_testkit import database_url

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "init-databases.sh"


def _url(user: str, database: str) -> str:
    base = urlsplit(database_url())
    return f"postgresql+psycopg://{user}:pw-{user}@{base.hostname}:{base.port or 5432}/{database}"


@pytest.fixture
def prefix():
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield prefix
    admin = sa.create_engine(database_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for service in SERVICES:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{prefix}{service}"'))
    admin.dispose()


def test_one_database_and_login_per_service_and_no_crossing(prefix):
    assert shutil.which("psql"), "psql is needed to run the init script"
    base = urlsplit(database_url())
    env = {
        **os.environ,
        "ECOM_DB_PREFIX": prefix,
        "POSTGRES_USER": base.username or "postgres",
        "PGHOST": base.hostname,
        "PGPORT": str(base.port or 5432),
        **{f"{s.upper()}_DB_PASSWORD": f"pw-{prefix}{s}" for s in SERVICES},
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    admin = sa.create_engine(database_url())
    with admin.connect() as conn:
        owners = dict(
            conn.execute(
                sa.text(
                    "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                    "WHERE d.datname LIKE :p"
                ),
                {"p": f"{prefix}%"},
            ).all()
        )
    admin.dispose()
    assert owners == {f"{prefix}{s}": f"{prefix}{s}" for s in SERVICES}

    orders, billing = f"{prefix}orders", f"{prefix}billing"
    own = sa.create_engine(_url(orders, orders))
    with own.begin() as conn:  # the owner creates its tables in its own database
        conn.execute(sa.text("CREATE TABLE orders_probe (id int PRIMARY KEY)"))
    own.dispose()
    other = sa.create_engine(_url(orders, billing))
    with pytest.raises(sa.exc.OperationalError, match="permission denied"):
        other.connect()
    other.dispose()


def test_a_missing_password_stops_the_script(prefix):
    base = urlsplit(database_url())
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DB_PASSWORD")}
    env.update(
        {
            "ECOM_DB_PREFIX": prefix,
            "PGHOST": base.hostname,
            "PGPORT": str(base.port or 5432),
            "CATALOG_DB_PASSWORD": "x",
        }
    )
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "ORDERS_DB_PASSWORD is not set" in result.stderr
