"""Registered data sources: config validated on write, credentials encrypted at rest."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from croniter import croniter

from metadata_pipelines.catalog.partition_keys import candidate_keys
from metadata_pipelines.catalog.records import DataSource
from metadata_pipelines.catalog.schema import data_sources
from metadata_pipelines.catalog.secrets import CredentialCipher
from metadata_pipelines.extractors.factory import MetadataExtractorFactory
from metadata_pipelines.models import utcnow


class DataSourceNotFound(LookupError):
    """No such data source for this tenant (another tenant's source is reported the same way)."""


class DuplicateDataSource(ValueError):
    pass


def validate_cron(expression: str) -> str:
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValueError(f"invalid cron expression {expression!r} (expected 5 fields)")
    return expression


class DataSourceRepository:
    def __init__(
        self, engine: sa.Engine, cipher: CredentialCipher, factory: MetadataExtractorFactory
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._factory = factory

    def create(
        self,
        *,
        tenant_id: str,
        name: str,
        connector_type: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any] | None = None,
        enabled: bool = True,
        sync_schedule: str | None = None,
        data_source_id: str | None = None,
    ) -> DataSource:
        """Validate with the connector's own models, then store; raises ConfigurationError."""
        self._factory.validate(connector_type, config, credentials or {})
        normalized = self._normalized_config(connector_type, config)
        now = utcnow()
        row = {
            "id": data_source_id or str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "name": name,
            "connector_type": connector_type,
            "config": normalized,
            "credentials_encrypted": self._cipher.encrypt(credentials) if credentials else None,
            "enabled": enabled,
            "sync_schedule": validate_cron(sync_schedule) if sync_schedule else None,
            "created_at": now,
            "updated_at": now,
        }
        # A concurrent create may take the chosen partition key between the lookup and the
        # insert: then the next free candidate is chosen again (a taken name fails at once).
        for _ in range(3):
            try:
                with self._engine.begin() as connection:
                    row["partition_key"] = _free_partition_key(
                        connection, tenant_id, name, row["id"]
                    )
                    connection.execute(data_sources.insert(), row)
                break
            except sa.exc.IntegrityError:
                if self._name_taken(tenant_id, name):
                    raise DuplicateDataSource(
                        f"tenant {tenant_id!r} already has a data source named {name!r}"
                    ) from None
        else:
            raise DuplicateDataSource(f"no free partition key for {name!r} in tenant {tenant_id!r}")
        return self.get(row["id"], tenant_id)

    def update(
        self,
        data_source_id: str,
        tenant_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        credentials: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
        sync_schedule: str | type[...] | None = ...,
        name: str | None = None,
    ) -> DataSource:
        """Change what is given; raises ConfigurationError, DuplicateDataSource (a taken name).

        A rename keeps the partition key (and id): the source's Dagster history stays attached.
        """
        current = self.get(data_source_id, tenant_id)
        values: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None:
            values["name"] = name
        if config is not None:
            self._factory.validate(current.connector_type, config, None)
            values["config"] = self._normalized_config(current.connector_type, config)
        if credentials is not None:
            self._factory.extractor_class(current.connector_type).parse_credentials(credentials)
            values["credentials_encrypted"] = self._cipher.encrypt(credentials)
        if enabled is not None:
            values["enabled"] = enabled
        if sync_schedule is not ...:
            values["sync_schedule"] = validate_cron(sync_schedule) if sync_schedule else None
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    data_sources.update()
                    .where(
                        data_sources.c.id == data_source_id, data_sources.c.tenant_id == tenant_id
                    )
                    .values(values)
                )
        except sa.exc.IntegrityError:
            raise DuplicateDataSource(
                f"tenant {tenant_id!r} already has a data source named {name!r}"
            ) from None
        return self.get(data_source_id, tenant_id)

    def get(self, data_source_id: str, tenant_id: str | None = None) -> DataSource:
        """One data source; with `tenant_id`, only if that tenant owns it."""
        query = sa.select(*_PUBLIC_COLUMNS).where(data_sources.c.id == data_source_id)
        if tenant_id is not None:
            query = query.where(data_sources.c.tenant_id == tenant_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            owner = f" for tenant {tenant_id!r}" if tenant_id is not None else ""
            raise DataSourceNotFound(f"data source {data_source_id!r} not found{owner}")
        return DataSource.model_validate(dict(row))

    def get_by_partition_key(self, key: str) -> DataSource:
        """The source a Dagster partition key names (in any tenant: keys are globally unique)."""
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(*_PUBLIC_COLUMNS).where(data_sources.c.partition_key == key)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise DataSourceNotFound(f"no data source has the partition key {key!r}")
        return DataSource.model_validate(dict(row))

    def for_partition(self, key: str) -> DataSource:
        """The source of a Dagster run's partition key: its readable key, or its id.

        Runs made before migration 0006 (and runs someone launches for a source's id by hand) carry
        the id as their key; they still resolve until the partition-key migration re-tags them.
        """
        try:
            return self.get_by_partition_key(key)
        except DataSourceNotFound:
            pass
        try:
            return self.get(key)
        except DataSourceNotFound:
            raise DataSourceNotFound(
                f"no data source has the partition key (or id) {key!r}"
            ) from None

    def _name_taken(self, tenant_id: str, name: str) -> bool:
        try:
            self.find_by_name(tenant_id, name)
        except DataSourceNotFound:
            return False
        return True

    def find_by_name(self, tenant_id: str, name: str) -> DataSource:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(*_PUBLIC_COLUMNS).where(
                        data_sources.c.tenant_id == tenant_id, data_sources.c.name == name
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise DataSourceNotFound(f"tenant {tenant_id!r} has no data source named {name!r}")
        return DataSource.model_validate(dict(row))

    def list(self, tenant_id: str | None = None, enabled_only: bool = False) -> list[DataSource]:
        query = sa.select(*_PUBLIC_COLUMNS).order_by(data_sources.c.tenant_id, data_sources.c.name)
        if tenant_id is not None:
            query = query.where(data_sources.c.tenant_id == tenant_id)
        if enabled_only:
            query = query.where(data_sources.c.enabled.is_(True))
        with self._engine.connect() as connection:
            return [
                DataSource.model_validate(dict(r)) for r in connection.execute(query).mappings()
            ]

    def page(
        self,
        tenant_id: str,
        *,
        connector_type: str | None = None,
        after_name: str | None = None,
        limit: int = 50,
    ) -> list[DataSource]:
        """One page of the tenant's sources in name order: those named after `after_name`."""
        query = (
            sa.select(*_PUBLIC_COLUMNS)
            .where(data_sources.c.tenant_id == tenant_id)
            .order_by(data_sources.c.name)
            .limit(limit)
        )
        if connector_type is not None:
            query = query.where(data_sources.c.connector_type == connector_type)
        if after_name is not None:
            query = query.where(data_sources.c.name > after_name)
        with self._engine.connect() as connection:
            return [
                DataSource.model_validate(dict(r)) for r in connection.execute(query).mappings()
            ]

    def credentials(self, data_source_id: str, tenant_id: str) -> dict[str, Any]:
        """Decrypted credentials; call only where an extractor is about to be built."""
        with self._engine.connect() as connection:
            token = connection.execute(
                sa.select(data_sources.c.credentials_encrypted).where(
                    data_sources.c.id == data_source_id, data_sources.c.tenant_id == tenant_id
                )
            ).scalar_one_or_none()
        return self._cipher.decrypt(token) if token else {}

    def remove(self, data_source_id: str, tenant_id: str) -> None:
        """Delete the source with its assets and run history (foreign keys cascade)."""
        with self._engine.begin() as connection:
            deleted = connection.execute(
                data_sources.delete().where(
                    data_sources.c.id == data_source_id, data_sources.c.tenant_id == tenant_id
                )
            ).rowcount
        if not deleted:
            raise DataSourceNotFound(
                f"data source {data_source_id!r} not found for tenant {tenant_id!r}"
            )

    def _normalized_config(self, connector_type: str, config: Mapping[str, Any]) -> dict[str, Any]:
        model = self._factory.extractor_class(connector_type).parse_config(config)
        return model.model_dump(mode="json", exclude_unset=True)


def _free_partition_key(
    connection: sa.Connection, tenant_id: str, name: str, data_source_id: str
) -> str:
    """The first of the source's candidate keys that no source holds (partition_keys.py)."""
    candidates = candidate_keys(tenant_id, name, data_source_id)
    taken = set(
        connection.execute(
            sa.select(data_sources.c.partition_key).where(
                data_sources.c.partition_key.in_(candidates)
            )
        ).scalars()
    )
    return next((key for key in candidates if key not in taken), candidates[-1])


_PUBLIC_COLUMNS = (
    data_sources.c.id,
    data_sources.c.tenant_id,
    data_sources.c.name,
    data_sources.c.partition_key,
    data_sources.c.connector_type,
    data_sources.c.config,
    data_sources.c.credentials_encrypted.is_not(None).label("has_credentials"),
    data_sources.c.enabled,
    data_sources.c.sync_schedule,
    data_sources.c.created_at,
    data_sources.c.updated_at,
)
