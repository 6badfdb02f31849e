"""What Airflow makes of the example DAGs, as one JSON object on stdout.

    check_dags.py dagbag <dag folder>   import errors, and each DAG's tasks
    check_dags.py runs <airflow.db>     each task instance's state and XCom return value

The Rust test (tests/it/stack.rs) runs it with the Airflow venv's python
and asserts on what it prints.
"""

import json
import sqlite3
import sys

mode, arg = sys.argv[1], sys.argv[2]

if mode == "dagbag":
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    try:
        bag = DagBag(dag_folder=arg, include_examples=False)
    except TypeError:  # Airflow 3.2+: examples are never loaded into a DagBag
        bag = DagBag(dag_folder=arg)
    out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        tasks = {}
        for t in dag.tasks:
            skip = getattr(t, "skip_on_exit_code", None)
            skip = sorted(skip) if isinstance(skip, (list, tuple, set)) else ([skip] if skip is not None else [])
            tasks[t.task_id] = {
                "type": type(t).__name__,
                "command": getattr(t, "bash_command", None) or " ".join(getattr(t, "arguments", None) or []),
                "skip_on_exit_code": skip,
                "do_xcom_push": bool(t.do_xcom_push),
                "downstream": sorted(t.downstream_task_ids),
            }
        out["dags"][dag_id] = {"tasks": tasks}
elif mode == "runs":
    db = sqlite3.connect(arg)
    xcom = {(t, r): v for t, r, v in db.execute("select task_id, run_id, value from xcom where key = 'return_value'")}
    out = {"runs": []}
    for dag, task, run, state in db.execute("select dag_id, task_id, run_id, state from task_instance order by run_id, task_id"):
        value = xcom.get((task, run))
        if isinstance(value, bytes):
            value = value.decode()
        out["runs"].append({"dag": dag, "task": task, "run_id": run, "state": state, "xcom": json.loads(value) if value else None})
else:
    sys.exit(f"unknown mode {mode}")

print(json.dumps(out, default=str))
