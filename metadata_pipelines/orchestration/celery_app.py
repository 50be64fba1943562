"""The Celery app of the step workers (METADATA_PIPELINES_EXECUTOR=celery):

    celery -A metadata_pipelines.orchestration.celery_app worker -Q dagster -c 1 \\
        --prefetch-multiplier=1 -n step-worker-1@%h

Each worker needs the same environment as the code location (catalog URL, secret key, handover on
shared storage, METADATA_PIPELINES_CELERY_BROKER_URL): a task names the job to load
(`metadata_pipelines.definitions`) and the Dagster instance to report to, and the worker executes
that one step there. This is dagster-celery's own worker app (`dagster_celery.app`), configured
from the settings instead of a config file, so the broker's password stays in the environment.
"""

from __future__ import annotations

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from metadata_pipelines.orchestration.executors import celery_app_args

app = make_app(celery_app_args())
execute_plan = create_task(app)
