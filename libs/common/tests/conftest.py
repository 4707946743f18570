from pathlib import Path

import pytest
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.db import Database
from ecom_common.http import Blueprint, make_app
from ecom_common.idempotency import idempotent
from ecom_common.migrations import upgrade
from ecom_testkit import unit_config

INVENTORY_MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "inventory" / "inventory" / "migrations"


class WidgetIn(Schema):
    name = fields.Str(required=True, validate=validate.Length(min=1))
    quantity = fields.Int(required=True, validate=validate.Range(min=1))


def make_test_blueprint():
    blp = Blueprint("widgets", __name__, url_prefix="/api/v1")
    created = []

    @blp.route("/widgets", methods=["POST"])
    @requires("ops")
    @idempotent()
    @blp.arguments(WidgetIn)
    @blp.response(201, WidgetIn)
    def create(data):
        created.append(data)
        return data

    @blp.route("/widgets/fragile", methods=["POST"])
    @requires("ops")
    @idempotent()
    @blp.arguments(WidgetIn)
    @blp.response(201, WidgetIn)
    def create_then_crash(data):
        """Commits its change (an event in the outbox), then dies before answering: as a process
        killed between the commit and storing the response."""
        from ecom_common.events import make_event
        from ecom_common.http import current_db

        with current_db().uow() as uow:
            uow.record(make_event("inventory.StockItemCreated", {"sku_code": data["name"], "shop_id": "S1"}))
            uow.commit()
        created.append(data)
        raise RuntimeError("crashed after commit")

    @blp.route("/widgets/lost-after-commit", methods=["POST"])
    @requires("ops")
    @idempotent()
    @blp.arguments(WidgetIn)
    @blp.response(201, WidgetIn)
    def create_then_lose_the_database(data):
        """Commits its change, then reads and finds the database gone (a view that reads after its
        commit when the database goes away at that moment)."""
        import sqlalchemy as sa

        from ecom_common.events import make_event
        from ecom_common.http import current_db

        with current_db().uow() as uow:
            uow.record(make_event("inventory.StockItemCreated", {"sku_code": data["name"], "shop_id": "S1"}))
            uow.commit()
        created.append(data)
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    @blp.route("/widgets/lost-before-commit", methods=["POST"])
    @requires("ops")
    @idempotent()
    @blp.arguments(WidgetIn)
    @blp.response(201, WidgetIn)
    def lose_the_database(data):
        import sqlalchemy as sa

        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    lost_once = []

    @blp.route("/widgets/lost-with-its-key", methods=["POST"])
    @requires("ops")
    @idempotent()
    @blp.arguments(WidgetIn)
    @blp.response(201, WidgetIn)
    def lose_the_database_and_the_key(data):
        """The first time: the database goes away before anything is written, and stays away long
        enough that the key cannot be released either (its table renamed away until the test puts
        it back). Then it works."""
        import sqlalchemy as sa

        from ecom_common.http import current_db

        if not lost_once:
            lost_once.append(data)
            with current_db().engine.begin() as conn:
                conn.execute(sa.text("ALTER TABLE idempotency_keys RENAME TO idempotency_keys_gone"))
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        created.append(data)
        return data

    @blp.route("/widgets/answer-not-stored", methods=["POST"])
    @requires("ops")
    @idempotent()
    @blp.arguments(WidgetIn)
    @blp.response(201, WidgetIn)
    def create_then_the_key_table_is_gone(data):
        """Commits its change, then the Idempotency-Key table cannot be written (renamed away): the
        stored answer fails as it does when the database is lost right after the commit."""
        import sqlalchemy as sa

        from ecom_common.events import make_event
        from ecom_common.http import current_db

        db = current_db()
        with db.uow() as uow:
            uow.record(make_event("inventory.StockItemCreated", {"sku_code": data["name"], "shop_id": "S1"}))
            uow.commit()
        with db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE idempotency_keys RENAME TO idempotency_keys_away"))
        created.append(data)
        return data

    blp.created = created
    return blp


@pytest.fixture
def db(tmp_path):
    """A service database (inventory's migrations: shared tables + stock) on SQLite."""
    config = unit_config("inventory", tmp_path)
    upgrade(INVENTORY_MIGRATIONS, config.database_url)
    database = Database(config)
    yield database
    database.dispose()


@pytest.fixture
def widget_app(db):
    blp = make_test_blueprint()
    app = make_app(db.config, [blp], db=db)
    app.created = blp.created
    return app


@pytest.fixture
def make_widget_app(db):
    """widget_app with settings of its own (e.g. a body limit) and more blueprints."""

    def make(settings: dict | None = None, more: tuple = ()):
        blp = make_test_blueprint()
        app = make_app(db.config.with_(settings=settings or {}), [blp, *more], db=db)
        app.created = blp.created
        return app

    return make
