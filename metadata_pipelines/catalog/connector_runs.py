"""Connector-run history: one row per Dagster run, attempts of that run counted on the row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from metadata_pipelines.catalog.data_sources import DataSourceNotFound
from metadata_pipelines.catalog.records import ConnectorRun, RunStatus
from metadata_pipelines.catalog.schema import connector_runs, data_sources
from metadata_pipelines.models import utcnow

MAX_STORED_ERRORS = 200


class ConnectorRunNotFound(LookupError):
    pass


class SourceBusy(RuntimeError):
    """The data source already has a pending or running sync (at most one at a time)."""

    def __init__(self, active: ConnectorRun) -> None:
        super().__init__(
            f"data source {active.data_source_id} already has a sync {active.status.value} "
            f"(connector run {active.id}, Dagster run {active.dagster_run_id or 'not launched yet'})"
        )
        self.active = active


ACTIVE = [RunStatus.PENDING, RunStatus.RUNNING]


class RunOutcome(BaseModel):
    """How an orchestrator run ended, as the run-status reconciliation reports it.

    `data_source_id` / `tenant_id` are None when the run's partition key named no data source.
    `pending_run_id` is the pending row the run was launched for, if any (it is adopted).
    """

    model_config = ConfigDict(frozen=True)

    dagster_run_id: str
    status: RunStatus
    tenant_id: str | None
    data_source_id: str | None
    trigger: str | None = None
    parent_dagster_run_id: str | None = None
    pending_run_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    will_retry: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None


def _lock_source(connection: sa.Connection, tenant_id: str, data_source_id: str) -> None:
    """Serialize writers of one source's runs until the transaction ends: a row lock on PostgreSQL;
    on SQLite, which ignores FOR UPDATE, a no-op write as the transaction's first statement takes
    the database's write lock (later writers wait for it, within the busy timeout)."""
    owned = (data_sources.c.id == data_source_id, data_sources.c.tenant_id == tenant_id)
    if connection.dialect.name == "sqlite":
        found = connection.execute(
            data_sources.update().where(*owned).values(id=data_sources.c.id)
        ).rowcount
    else:
        found = connection.execute(
            sa.select(data_sources.c.id).where(*owned).with_for_update()
        ).first()
    if not found:
        raise DataSourceNotFound(
            f"data source {data_source_id!r} not found for tenant {tenant_id!r}"
        )


def _last_sign_of_life(row: ConnectorRun) -> datetime:
    stamp = row.heartbeat_at or row.started_at or row.created_at
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)  # SQLite keeps no offset (UTC)


class ConnectorRunRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def create_pending(
        self, tenant_id: str, data_source_id: str, trigger: str, run_type: str = "metadata"
    ) -> tuple[ConnectorRun, bool]:
        """A pending run for the application to poll; (existing run, False) if one is active.

        The check and the insert share a transaction that first locks the data source, and the
        catalog's unique index on active rows lets only one insert win anyway, so concurrent
        requests (the HTTP API's, the sensor's) cannot both create one. Raises
        DataSourceNotFound if the tenant has no such source.
        """
        row = self._new_row(tenant_id, data_source_id, RunStatus.PENDING, trigger, run_type)
        try:
            with self._engine.begin() as connection:
                _lock_source(connection, tenant_id, data_source_id)
                active = self._active(connection, data_source_id)
                if active is not None:
                    return active, False
                connection.execute(connector_runs.insert(), row)
        except sa.exc.IntegrityError:
            with self._engine.connect() as connection:
                active = self._active(connection, data_source_id)
            if active is None:
                raise
            return active, False
        return self.get(row["id"]), True

    def claim(
        self,
        *,
        tenant_id: str,
        data_source_id: str,
        dagster_run_id: str,
        trigger: str,
        worker: str,
        pending_run_id: str | None = None,
    ) -> ConnectorRun:
        """Claim the source for a run about to start in this process; SourceBusy if it has one.

        The row is the pending row `pending_run_id` if given, else a new pending row, or (if the
        source has one) the pending request no run has adopted yet, which this run then serves.
        Either way it carries the Dagster run id and a fresh lease before the run exists.
        """
        lease = {"dagster_run_id": dagster_run_id, "heartbeat_at": utcnow(), "worker": worker}
        if pending_run_id is None:
            row = {**self._new_row(tenant_id, data_source_id, RunStatus.PENDING, trigger), **lease}
            try:
                with self._engine.begin() as connection:
                    connection.execute(connector_runs.insert(), row)
                return self.get(row["id"])
            except sa.exc.IntegrityError:
                pass
        adopt = connector_runs.update().where(
            connector_runs.c.data_source_id == data_source_id,
            connector_runs.c.status == RunStatus.PENDING,
            connector_runs.c.dagster_run_id.is_(None),
        )
        if pending_run_id is not None:
            adopt = adopt.where(connector_runs.c.id == pending_run_id)
        with self._engine.begin() as connection:
            connection.execute(adopt.values(lease))
        claimed = self.find_by_dagster_run_id(dagster_run_id)
        if claimed is not None:
            return claimed
        if pending_run_id is not None:
            raise SourceBusy(self.get(pending_run_id))
        self._raise_busy(data_source_id)
        raise ConnectorRunNotFound(f"no active run of data source {data_source_id!r} to wait for")

    def heartbeat(self, run_id: str, worker: str) -> bool:
        """Renew the lease of an active run; False once the run is closed."""
        with self._engine.begin() as connection:
            return bool(
                connection.execute(
                    connector_runs.update()
                    .where(connector_runs.c.id == run_id, connector_runs.c.status.in_(ACTIVE))
                    .values(heartbeat_at=utcnow(), worker=worker)
                ).rowcount
            )

    def expired(
        self, lease_seconds: float, data_source_id: str | None = None
    ) -> list[ConnectorRun]:
        """Active runs of a Dagster run whose lease ran out (no heartbeat within `lease_seconds`).

        Pending rows no Dagster run has adopted yet are waiting for the sensor, not expired.
        """
        query = sa.select(connector_runs).where(
            connector_runs.c.status.in_(ACTIVE), connector_runs.c.dagster_run_id.is_not(None)
        )
        if data_source_id is not None:
            query = query.where(connector_runs.c.data_source_id == data_source_id)
        with self._engine.connect() as connection:
            rows = [
                ConnectorRun.model_validate(dict(r)) for r in connection.execute(query).mappings()
            ]
        now = utcnow()
        return [
            row for row in rows if (now - _last_sign_of_life(row)).total_seconds() > lease_seconds
        ]

    def _active(self, connection: sa.Connection, data_source_id: str) -> ConnectorRun | None:
        found = (
            connection.execute(
                sa.select(connector_runs).where(
                    connector_runs.c.data_source_id == data_source_id,
                    connector_runs.c.status.in_(ACTIVE),
                )
            )
            .mappings()
            .first()
        )
        return ConnectorRun.model_validate(dict(found)) if found else None

    def _raise_busy(self, data_source_id: str) -> None:
        with self._engine.connect() as connection:
            active = self._active(connection, data_source_id)
        if active is not None:
            raise SourceBusy(active) from None

    def open_for_dagster_run(
        self,
        *,
        tenant_id: str,
        data_source_id: str,
        dagster_run_id: str,
        trigger: str | None = None,
        parent_dagster_run_id: str | None = None,
        pending_run_id: str | None = None,
        worker: str | None = None,
    ) -> ConnectorRun:
        """The row of this Dagster run, now `running`: the row claimed for it, the pending row it
        was launched for, the source's unlaunched pending row, or a new one, in that order.

        Raises SourceBusy if another run of the source is active (one sync per source at a time).
        """
        now = utcnow()
        running = {
            "dagster_run_id": dagster_run_id,
            "status": RunStatus.RUNNING,
            "started_at": now,
            "attempts": 1,
            "heartbeat_at": now,
            "worker": worker,
        }
        existing = self.find_by_dagster_run_id(dagster_run_id)
        if existing is not None:
            if existing.status is not RunStatus.PENDING:
                return existing
            with self._engine.begin() as connection:
                connection.execute(
                    connector_runs.update()
                    .where(
                        connector_runs.c.id == existing.id,
                        connector_runs.c.status == RunStatus.PENDING,
                    )
                    .values(running)
                )
            return self.get(existing.id)
        parent_id = None
        if parent_dagster_run_id:
            parent = self.find_by_dagster_run_id(parent_dagster_run_id)
            parent_id = parent.id if parent else None
        running["parent_run_id"] = parent_id
        unlaunched = (
            connector_runs.c.data_source_id == data_source_id,
            connector_runs.c.status == RunStatus.PENDING,
            connector_runs.c.dagster_run_id.is_(None),
        )
        with self._engine.begin() as connection:
            adopted = 0
            if pending_run_id:
                adopted = connection.execute(
                    connector_runs.update()
                    .where(*unlaunched, connector_runs.c.id == pending_run_id)
                    .values(running)
                ).rowcount
            if not adopted:
                # A sync requested for the source that no run has adopted yet: this run serves it.
                adopted = connection.execute(
                    connector_runs.update().where(*unlaunched).values(running)
                ).rowcount
        if not adopted:
            row = {
                **self._new_row(tenant_id, data_source_id, RunStatus.RUNNING, trigger),
                **running,
            }
            try:
                with self._engine.begin() as connection:
                    connection.execute(connector_runs.insert(), row)
            except sa.exc.IntegrityError:
                # A concurrent op of the same run may have created it first; else the source is busy.
                if self.find_by_dagster_run_id(dagster_run_id) is None:
                    self._raise_busy(data_source_id)
                    raise
        run = self.find_by_dagster_run_id(dagster_run_id)
        assert run is not None
        return run

    def record_attempt(self, run_id: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                connector_runs.update()
                .where(connector_runs.c.id == run_id)
                .values(attempts=connector_runs.c.attempts + 1)
            )

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        stats: dict[str, Any] | None = None,
        extraction_errors: list[dict[str, Any]] | None = None,
        will_retry: bool = False,
        only_if_unfinished: bool = False,
    ) -> bool:
        """Close the row; with `only_if_unfinished`, leave an already closed row as it is."""
        values: dict[str, Any] = {
            "status": status,
            "finished_at": utcnow(),
            "will_retry": will_retry,
            "error_code": error_code,
            "error_message": error_message,
        }
        if stats is not None:
            values["stats"] = stats
        if extraction_errors is not None:
            values["extraction_errors"] = extraction_errors[:MAX_STORED_ERRORS]
        query = connector_runs.update().where(connector_runs.c.id == run_id)
        if only_if_unfinished:
            query = query.where(connector_runs.c.status.in_(ACTIVE))
        with self._engine.begin() as connection:
            return bool(connection.execute(query.values(values)).rowcount)

    def reconcile(self, outcome: RunOutcome) -> tuple[ConnectorRun, bool]:
        """Make the row of a finished orchestrator run agree with it; (row, whether it changed).

        A row its ops already closed keeps their status and message (they know more than the
        orchestrator); only `will_retry` is added to it. A row still open is closed with the
        outcome. A run that never reached its first op gets its row here: the pending row it was
        launched for, or a new one (linked to its parent run's row).
        """
        existing = self.find_by_dagster_run_id(outcome.dagster_run_id)
        if existing is None:
            return self._record_unopened(outcome), True
        changed = False
        with self._engine.begin() as connection:
            if not existing.status.finished:
                changed |= bool(
                    connection.execute(
                        connector_runs.update()
                        .where(
                            connector_runs.c.id == existing.id,
                            connector_runs.c.status.in_(ACTIVE),
                        )
                        .values(
                            status=outcome.status,
                            error_code=outcome.error_code,
                            error_message=outcome.error_message,
                            will_retry=outcome.will_retry,
                            finished_at=outcome.finished_at or utcnow(),
                        )
                    ).rowcount
                )
            if outcome.will_retry and not existing.will_retry:
                changed |= bool(
                    connection.execute(
                        connector_runs.update()
                        .where(connector_runs.c.id == existing.id)
                        .values(will_retry=True)
                    ).rowcount
                )
        return self.get(existing.id), changed

    def _record_unopened(self, outcome: RunOutcome) -> ConnectorRun:
        parent_id = None
        if outcome.parent_dagster_run_id:
            parent = self.find_by_dagster_run_id(outcome.parent_dagster_run_id)
            parent_id = parent.id if parent else None
        values = {
            "dagster_run_id": outcome.dagster_run_id,
            "status": outcome.status,
            "error_code": outcome.error_code,
            "error_message": outcome.error_message,
            "will_retry": outcome.will_retry,
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at or utcnow(),
            "parent_run_id": parent_id,
        }
        if outcome.pending_run_id:
            with self._engine.begin() as connection:
                adopted = connection.execute(
                    connector_runs.update()
                    .where(
                        connector_runs.c.id == outcome.pending_run_id,
                        connector_runs.c.status == RunStatus.PENDING,
                        connector_runs.c.dagster_run_id.is_(None),
                    )
                    .values(values)
                ).rowcount
            if adopted:
                return self.get(outcome.pending_run_id)
        row = self._new_row(
            outcome.tenant_id, outcome.data_source_id, outcome.status, outcome.trigger
        )
        row.update(values)
        try:
            with self._engine.begin() as connection:
                connection.execute(connector_runs.insert(), row)
        except sa.exc.IntegrityError:
            concurrent = self.find_by_dagster_run_id(outcome.dagster_run_id)
            if concurrent is not None:
                return concurrent
            # The data source was removed meanwhile: keep the row as an orphan.
            row.update(id=str(uuid.uuid4()), data_source_id=None)
            with self._engine.begin() as connection:
                connection.execute(connector_runs.insert(), row)
        return self.get(row["id"])

    def list_unlaunched(self, limit: int = 200) -> list[ConnectorRun]:
        """Pending rows no orchestrator run has adopted yet, oldest first (what to launch)."""
        query = (
            sa.select(connector_runs)
            .where(
                connector_runs.c.status == RunStatus.PENDING,
                connector_runs.c.dagster_run_id.is_(None),
            )
            .order_by(connector_runs.c.created_at, connector_runs.c.id)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [
                ConnectorRun.model_validate(dict(r)) for r in connection.execute(query).mappings()
            ]

    def active_data_source_ids(self) -> set[str]:
        """Sources with a pending or running sync, in one query (for schedules to skip)."""
        query = sa.select(connector_runs.c.data_source_id).where(
            connector_runs.c.status.in_(ACTIVE),
            connector_runs.c.data_source_id.is_not(None),
        )
        with self._engine.connect() as connection:
            return set(connection.execute(query.distinct()).scalars())

    def get(self, run_id: str, tenant_id: str | None = None) -> ConnectorRun:
        query = sa.select(connector_runs).where(connector_runs.c.id == run_id)
        if tenant_id is not None:
            query = query.where(connector_runs.c.tenant_id == tenant_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            raise ConnectorRunNotFound(f"connector run {run_id!r} not found")
        return ConnectorRun.model_validate(dict(row))

    def find_by_dagster_run_id(self, dagster_run_id: str) -> ConnectorRun | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(connector_runs).where(
                        connector_runs.c.dagster_run_id == dagster_run_id
                    )
                )
                .mappings()
                .first()
            )
        return ConnectorRun.model_validate(dict(row)) if row else None

    def list(
        self,
        *,
        tenant_id: str | None = None,
        data_source_id: str | None = None,
        statuses: list[RunStatus] | None = None,
        limit: int = 50,
    ) -> list[ConnectorRun]:
        query = sa.select(connector_runs).order_by(connector_runs.c.created_at.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(connector_runs.c.tenant_id == tenant_id)
        if data_source_id is not None:
            query = query.where(connector_runs.c.data_source_id == data_source_id)
        if statuses:
            query = query.where(connector_runs.c.status.in_(statuses))
        with self._engine.connect() as connection:
            return [
                ConnectorRun.model_validate(dict(r)) for r in connection.execute(query).mappings()
            ]

    def page(
        self,
        tenant_id: str,
        data_source_id: str,
        *,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[ConnectorRun]:
        """One page of a source's runs, newest first: those older than `before` (created_at, id)."""
        query = (
            sa.select(connector_runs)
            .where(
                connector_runs.c.tenant_id == tenant_id,
                connector_runs.c.data_source_id == data_source_id,
            )
            .order_by(connector_runs.c.created_at.desc(), connector_runs.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            created_at, run_id = before
            query = query.where(
                sa.or_(
                    connector_runs.c.created_at < created_at,
                    sa.and_(
                        connector_runs.c.created_at == created_at, connector_runs.c.id < run_id
                    ),
                )
            )
        with self._engine.connect() as connection:
            return [
                ConnectorRun.model_validate(dict(r)) for r in connection.execute(query).mappings()
            ]

    @staticmethod
    def _new_row(
        tenant_id: str | None,
        data_source_id: str | None,
        status: RunStatus,
        trigger: str | None,
        run_type: str = "metadata",
    ) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "data_source_id": data_source_id,
            "run_type": run_type,
            "status": status,
            "trigger": trigger,
            "attempts": 0,
            "will_retry": False,
            "created_at": utcnow(),
        }
