from datetime import timedelta

from ecom_common.clock import OffsetClock, iso
from ecom_common.config import Config
from ecom_common.privacy import mask_name, mask_phone, scrub


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert scrub("call 13812345678 or 13987654321 now") == "call 138****5678 or 139****4321 now"
    assert scrub("order 2026112312345678901") == "order 2026112312345678901"


def test_config_defaults_follow_contracts(tmp_path):
    env = {"ECOM_VAR_DIR": str(tmp_path)}
    c = Config.from_env("orders", env=env)
    assert c.database_url == f"sqlite:///{tmp_path}/orders.sqlite"
    assert c.broker_url == f"sqla+sqlite:///{tmp_path}/bus.sqlite" and c.embedded_bus
    assert c.peers["catalog"] == "http://127.0.0.1:8001" and c.port == 8002
    assert c.bus_prefix == ""
    # the generated secret is stable across processes
    assert Config.from_env("catalog", env=env).jwt_secret == c.jwt_secret


def test_the_embedded_default_generates_service_secrets_into_var_and_nowhere_else(tmp_path):
    env = {"ECOM_VAR_DIR": str(tmp_path)}
    generated = Config.from_env("logistics", env=env).setting("LOGISTICS_CARRIER_WEBHOOK_SECRET", None)
    assert generated and (tmp_path / "carrier-webhook-secret").read_text().strip() == generated
    assert Config.from_env("logistics", env=env).setting("LOGISTICS_CARRIER_WEBHOOK_SECRET", None) == generated
    assert "LOGISTICS_CARRIER_WEBHOOK_SECRET" not in Config.from_env("orders", env=env).settings
    # The environment wins; named but empty switches the webhook off.
    for value, expected in (("from-the-env", "from-the-env"), ("", None)):
        named = {**env, "LOGISTICS_CARRIER_WEBHOOK_SECRET": value}
        assert Config.from_env("logistics", env=named).setting("LOGISTICS_CARRIER_WEBHOOK_SECRET", None) == expected
    # With a broker the processes need not share var/: nothing is generated, the deployment sets it.
    other = tmp_path / "with-broker"
    brokered = {"ECOM_VAR_DIR": str(other), "BROKER_URL": "amqp://guest:guest@h:5672//", "ECOM_JWT_SECRET": "k" * 40}
    assert Config.from_env("logistics", env=brokered).setting("LOGISTICS_CARRIER_WEBHOOK_SECRET", None) is None
    assert not other.exists()


def test_config_reads_service_urls_and_settings(tmp_path):
    env = {
        "ECOM_VAR_DIR": str(tmp_path),
        "ORDERS_DATABASE_URL": "postgresql://x/y",
        "BROKER_URL": "amqp://guest:guest@h:5672//",
        "CATALOG_URL": "http://catalog:8001",
        "ECOM_JWT_SECRET": "k" * 40,
        "ORDERS_UNPAID_TIMEOUT_MINUTES": "5",
        "ECOM_RETRY_DELAYS": "1,2",
    }
    c = Config.from_env("orders", env=env)
    assert not c.embedded_bus and c.database_url == "postgresql://x/y"
    assert c.peers["catalog"] == "http://catalog:8001"
    assert c.setting("ORDERS_UNPAID_TIMEOUT_MINUTES", 30, int) == 5
    assert c.setting("ORDERS_MISSING", 7, int) == 7
    assert c.retry_delays == (1.0, 2.0)


def test_offset_clock_moves_on():
    clock = OffsetClock()
    before = clock.now()
    clock.advance(days=7)
    assert clock.now() - before >= timedelta(days=7)
    assert iso(before).endswith("Z")


def test_database_pool_settings_come_from_the_environment(tmp_path):
    env = {
        "ECOM_VAR_DIR": str(tmp_path),
        "ECOM_DB_POOL_SIZE": "4",
        "ECOM_DB_MAX_OVERFLOW": "6",
        "ECOM_DB_PING_IDLE_SECONDS": "0.5",
    }
    c = Config.from_env("billing", env=env)
    assert (c.db_pool_size, c.db_max_overflow, c.db_ping_idle_seconds) == (4, 6, 0.5)


def test_a_generated_secret_is_never_read_half_written_by_a_process_starting_at_the_same_time(tmp_path):
    """Processes racing to create the secret all read the one that was linked into place, never an
    empty file (issue 14 review: O_EXCL made the file visible before its write)."""
    import threading

    from ecom_common.config import generated_secret

    for round_ in range(20):
        path = tmp_path / f"secret-{round_}"
        seen: list[str] = []
        start = threading.Barrier(8)

        def read():
            start.wait()
            seen.append(generated_secret(path))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(seen)) == 1 and len(seen[0]) >= 40, seen
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
