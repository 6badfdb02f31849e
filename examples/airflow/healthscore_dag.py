"""healthscore in Airflow: score every account each day once the export has
landed, then write the report.

Two ways to run the same job; keep the one your deployment uses:

- ``healthscore_daily`` runs the binary on a worker (BashOperator);
- ``healthscore_daily_k8s`` runs the container image in a pod
  (KubernetesPodOperator), the config from a ConfigMap, tokens from a Secret.

What the job tells Airflow:

- ``--logical-date {{ ds }}`` scores the DAG run's date (features read data
  strictly before it); reruns of a date give the same tables.
- Exit 99 (``scheduler.inputs_missing_exit_code``) means "that day's export
  is not there yet": the task is skipped rather than failed; clear it, or
  let the next run catch up, once the export lands.
- The run's summary is the task's XCom return value: the last line of
  stdout (BashOperator) or ``/airflow/xcom/return.json`` (the pod's XCom
  sidecar) — as_of, run_id, accounts per tier, alerts, partitions written,
  each CRM destination's sync.
- With the OpenLineage provider installed, the run's lineage events name
  this task as their parent (``OPENLINEAGE_PARENT_ID``); give healthscore a
  ``lineage:`` block in its config to send them.

Exit codes: 0 done, 2 bad config or input (fix, then clear), 3 finished with
rejected CRM records (see ``sync_rejections``), 4 a CRM's daily limit (state
saved; the retry finishes the sync), 99 inputs not there yet.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

# Where the binary and its config are on the workers.
HEALTHSCORE = os.environ.get("HEALTHSCORE_BIN", "healthscore")
CONFIG = os.environ.get("HEALTHSCORE_CONFIG", "/opt/healthscore/healthscore.yaml")
IMAGE = os.environ.get("HEALTHSCORE_IMAGE", "ghcr.io/your-org/healthscore:0.1.0")
# healthscore's `scheduler.inputs_missing_exit_code` (default 99).
NOT_YET = 99

try:  # hand the task's OpenLineage run to healthscore's events as their parent
    import airflow.providers.openlineage  # noqa: F401

    LINEAGE_ENV = {"OPENLINEAGE_PARENT_ID": "{{ macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) }}"}
except ImportError:
    LINEAGE_ENV = {}

DEFAULTS = {"retries": 2, "retry_delay": timedelta(minutes=15)}

with DAG(
    dag_id="healthscore_daily",
    description="Customer health scores, alerts and CRM sync from the day's export",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs write under one output lock: one at a time
    default_args=DEFAULTS,
    tags=["healthscore"],
):
    # Tokens (HUBSPOT_TOKEN, …) come from the worker's environment.
    score = BashOperator(
        task_id="score",
        bash_command=f"{HEALTHSCORE} run --config {CONFIG} --logical-date {{{{ ds }}}} --log-format json",
        env=LINEAGE_ENV,
        append_env=True,
        skip_on_exit_code=NOT_YET,
        do_xcom_push=True,
    )
    report = BashOperator(
        task_id="report",
        bash_command=f"{HEALTHSCORE} report --config {CONFIG} --as-of {{{{ ds }}}} --log-format json",
        append_env=True,
        do_xcom_push=False,
    )
    score >> report

with DAG(
    dag_id="healthscore_daily_k8s",
    description="healthscore in a pod: the same job from the container image",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULTS,
    tags=["healthscore"],
):
    KubernetesPodOperator(
        task_id="score",
        name="healthscore-score",
        namespace="data",
        image=IMAGE,
        cmds=["healthscore"],
        arguments=["run", "--config", "/etc/healthscore/healthscore.yaml", "--logical-date", "{{ ds }}", "--log-format", "json"],
        env_vars=LINEAGE_ENV,
        secrets=[Secret("env", "HUBSPOT_TOKEN", "healthscore", "hubspot-token")],
        volumes=[k8s.V1Volume(name="config", config_map=k8s.V1ConfigMapVolumeSource(name="healthscore-config"))],
        volume_mounts=[k8s.V1VolumeMount(name="config", mount_path="/etc/healthscore", read_only=True)],
        skip_on_exit_code=NOT_YET,
        do_xcom_push=True,  # the XCom sidecar reads /airflow/xcom/return.json
        get_logs=True,
    )
