"""What `healthscore run` does, done with the usual Python stack on the same
files and the same trained model: DuckDB for the feature SQL, lightgbm's
predict and pred_contrib for probabilities and SHAP reasons, numpy for the
calibration, pyarrow to write account_scores and score_drivers.

    python3 benches/python_stack.py <data dir> <model version dir> <as_of> <out dir>
"""
import json
import os
import sys
import time

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import duckdb_sql  # noqa: E402

data, model_dir, as_of, out = sys.argv[1:5]
t0 = time.perf_counter()
con = duckdb_sql.connect(data)
f = duckdb_sql.features(con, [as_of])
t1 = time.perf_counter()
card = json.load(open(os.path.join(model_dir, "card.json")))
cal = json.load(open(os.path.join(model_dir, "calibration.json")))
names = card["features"]
cols = []
for n in names:
    c = f.column(n)
    if n in card["vocab"]:
        vocab = {v: i for i, v in enumerate(card["vocab"][n])}
        cols.append(np.array([vocab.get(x, np.nan) if x is not None else np.nan for x in c.to_pylist()], dtype=float))
    else:
        cols.append(c.to_numpy(zero_copy_only=False).astype(float))
x = np.column_stack(cols)
churn = lgb.Booster(model_file=os.path.join(model_dir, "model.txt"))
expansion = lgb.Booster(model_file=os.path.join(model_dir, "expansion.txt"))
iso = lambda c, p: np.interp(p, c["x"], c["y"])  # noqa: E731
j_renewal = names.index("days_to_renewal")
hazards = []
for k in range(3):
    m = x.copy()
    m[:, j_renewal] = np.mod(m[:, j_renewal] - 30 * k, 365)
    hazards.append(iso(cal["hazard"], churn.predict(np.column_stack([m, np.full(len(m), 30.0 * k)]), num_threads=2)))
p90 = 1 - np.prod([1 - h for h in hazards], axis=0)
now = x.copy()
now[:, j_renewal] = 15.0
now = np.column_stack([now, np.zeros(len(now))])
contrib = churn.predict(now, pred_contrib=True, num_threads=2)
t2 = time.perf_counter()
p_now = iso(cal["hazard"], 1 / (1 + np.exp(-contrib.sum(axis=1))))
health = np.round(100 * (1 - p_now), 1)
p_exp = iso(cal["expansion"], expansion.predict(x, num_threads=2))
top = np.argsort(-contrib[:, : len(names)], axis=1)[:, :3]
reasons = [[names[j] for j in row] for row in top]
tier = np.where(health < 40, "red", np.where(health < 70, "yellow", "green"))
ids = f.column("account_id")
scores = pa.table({"account_id": ids, "health_score": health, "tier": tier, "p_churn_30d": hazards[0], "p_churn_90d": p90, "p_expand_90d": p_exp, "top_risk_reasons": reasons})
n, w = x.shape
drivers = pa.table({
    "account_id": pa.array(np.repeat(ids.to_numpy(zero_copy_only=False), w)),
    "feature": pa.array(np.tile(np.array(names), n)),
    "value": pa.array(x.reshape(-1)),
    "contribution": pa.array(contrib[:, :w].reshape(-1)),
})
os.makedirs(out, exist_ok=True)
pq.write_table(scores, os.path.join(out, "account_scores.parquet"), compression="zstd")
pq.write_table(drivers, os.path.join(out, "score_drivers.parquet"), compression="zstd")
t3 = time.perf_counter()
print(f"python stack: {n} accounts; duckdb features {t1 - t0:.2f}s, lightgbm predict + pred_contrib {t2 - t1:.2f}s, reasons + pyarrow writes {t3 - t2:.2f}s, total {t3 - t0:.2f}s")
