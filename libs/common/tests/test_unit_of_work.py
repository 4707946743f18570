"""The unit of work's participants: what a caller adds to a business transaction (e.g. the HTTP
request's Idempotency-Key) commits with it or not at all, and only the units of work it was given
to or enlisted for write it."""

import sqlalchemy as sa

from ecom_common.db import Database, job_leases


class LeaseNote:
    """A participant writing one job_leases row, and counting the commits it was told of."""

    def __init__(self, db: Database, name: str):
        self.db, self.name, self.committed = db, name, 0

    def before_commit(self, session) -> None:
        session.execute(
            job_leases.insert().values(name=self.name, holder="test", expires_at=self.db.config.clock.now())
        )

    def after_commit(self) -> None:
        self.committed += 1


def leases(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.execute(sa.select(job_leases.c.name)).scalars())


def test_a_participant_commits_with_the_unit_of_work_or_not_at_all(db):
    kept, dropped = LeaseNote(db, "kept"), LeaseNote(db, "dropped")
    with db.uow(kept) as uow:
        uow.commit()
    with db.uow(dropped):
        pass  # left without commit: rolled back
    assert leases(db) == {"kept"}
    assert (kept.committed, dropped.committed) == (1, 0)


def test_a_failed_commit_does_not_tell_its_participants_it_committed(db):
    first, again = LeaseNote(db, "same"), LeaseNote(db, "same")
    with db.uow(first) as uow:
        uow.commit()
    with db.uow(again) as uow:
        try:
            uow.commit()  # the same primary key: the transaction fails
        except sa.exc.IntegrityError:
            pass
        else:
            raise AssertionError("a duplicate job_leases row was committed")
    assert (first.committed, again.committed) == (1, 0)


def test_an_enlisted_participant_joins_the_units_of_work_opened_in_the_block_on_its_database(db):
    other = Database(db.config)  # another service's database, in the same process
    note = LeaseNote(db, "enlisted")
    try:
        with db.enlisting(note):
            with db.uow() as uow:
                uow.commit()
            with other.uow() as uow:
                uow.commit()  # not enlisted there: the note is not written a second time
        with db.uow() as uow:
            uow.commit()  # after the block: not enlisted any more
    finally:
        other.dispose()
    assert leases(db) == {"enlisted"}
    assert note.committed == 1
