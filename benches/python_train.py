"""Trains Python's lightgbm on the frame `healthscore train --export-frame`
wrote (the churn hazard model's training and validation rows), with the same
parameters and early stopping — the yardstick for healthscore's training.

    python3 benches/python_train.py <frame dir>
"""
import json
import os
import sys
import time

import lightgbm as lgb
import numpy as np
import pyarrow.parquet as pq

d = sys.argv[1]
params = json.load(open(os.path.join(d, "params.json")))
early = int(params.pop("early_stopping_round"))
rounds = int(params.pop("num_iterations"))
cats = [int(c) for c in params.pop("categorical_feature", "").split(",") if c]
t = pq.read_table(os.path.join(d, "train.parquet"))
v = pq.read_table(os.path.join(d, "valid.parquet"))
names = [c for c in t.column_names if c != "label"]
xt = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in names])
xv = np.column_stack([v.column(c).to_numpy(zero_copy_only=False) for c in names])
start = time.perf_counter()
ds = lgb.Dataset(xt, label=t.column("label").to_numpy(), feature_name=names, categorical_feature=cats, params=params)
dv = lgb.Dataset(xv, label=v.column("label").to_numpy(), reference=ds)
booster = lgb.train(params, ds, num_boost_round=rounds, valid_sets=[dv], callbacks=[lgb.early_stopping(early, verbose=False)])
print(f"python lightgbm {lgb.__version__}: {xt.shape[0]} rows × {xt.shape[1]} inputs, best iteration {booster.best_iteration}, trained in {time.perf_counter() - start:.2f}s")
