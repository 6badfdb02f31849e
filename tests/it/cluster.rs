//! The feature SQL on a Ballista cluster: Ballista's own scheduler and two
//! executors, started in this process, give the same feature tables as the
//! local engine, for feature sets v1, v2 and v4 (whose usage rollups are
//! built here and read there); v3's text functions are refused by name.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// Every feature row of every snapshot under `out`, as text, by (as_of, account).
fn frame(out: &Path) -> BTreeMap<(String, String), String> {
    let mut rows = BTreeMap::new();
    for part in std::fs::read_dir(out.join("features")).unwrap().flatten() {
        let as_of = part.file_name().to_string_lossy().to_string();
        for b in read_parquet_dir(&part.path()) {
            let ids = healthscore::columns::strings(&b, "account_id").unwrap();
            for i in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{}={}", f.name(), arrow::util::display::array_value_to_string(b.column_by_name(f.name()).unwrap(), i).unwrap()))
                    .collect();
                rows.insert((as_of.clone(), ids[i].clone().unwrap()), cells.join(","));
            }
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feature_views_on_a_ballista_cluster_give_the_local_engines_tables() {
    let c = company();
    let addr = healthscore::engine::ballista::start_local(2, 1).await.unwrap();
    let scheduler = format!("engine: {{ kind: ballista, scheduler: 'df://localhost:{}' }}\n", addr.port());
    let features = |version: &str, name: &str, extra: &str| {
        let dir = scratch(&format!("ballista-{version}-{name}"));
        let cfg = config_for(&dir, &c.data, &c.models, extra);
        let yaml = std::fs::read_to_string(&cfg).unwrap().replace("version: v2", &format!("version: {version}"));
        assert!(yaml.contains(&format!("version: {version}")), "{yaml}");
        std::fs::write(&cfg, yaml).unwrap();
        let r = hs(&["features", "-c", cfg.to_str().unwrap(), "--snapshots", "monthly", "--from", "2026-06-01", "--to", EXPORT_DATE]);
        (dir, r)
    };
    for version in ["v1", "v2", "v4"] {
        let run = |name: &str, extra: &str| {
            let (dir, r) = features(version, name, extra);
            assert_eq!(r.code, 0, "{version} {name}: {}", r.all());
            (frame(&dir.join("out")), r)
        };
        let (local, _) = tokio::task::block_in_place(|| run("local", ""));
        let (cluster, r) = tokio::task::block_in_place(|| run("cluster", &scheduler));
        assert!(r.stderr.contains("Ballista"), "the run says where its queries ran: {}", r.stderr);
        assert_eq!(local.keys().map(|k| &k.0).collect::<std::collections::BTreeSet<_>>().len(), 6, "six monthly snapshots");
        assert!(local.len() > 6 * 1000, "{version}: {} rows", local.len());
        assert_eq!(local.len(), cluster.len(), "{version}: the same rows");
        for (k, row) in &local {
            assert_eq!(Some(row), cluster.get(k), "{version}: {k:?} differs on the cluster");
        }
    }

    // v3 calls our text functions, which the executors do not have
    let (_, r) = tokio::task::block_in_place(|| features("v3", "cluster", &scheduler));
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("calls `sentiment`") && r.stderr.contains("v1, v2 or v4"), "{}", r.stderr);

    // no scheduler there: exit 2 naming where it looked
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = scratch("ballista-down");
    let cfg = config_for(&dir, &c.data, &c.models, &format!("engine: {{ kind: ballista, scheduler: 'df://127.0.0.1:{port}' }}\n"));
    let r = hs(&["features", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains(&format!("no Ballista scheduler answers at http://127.0.0.1:{port}")), "{}", r.stderr);
}
