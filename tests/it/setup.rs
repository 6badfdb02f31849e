//! The setup script's decisions, against fake roots (no fresh machine
//! needed), and the guard that keeps the release and test builds on one
//! dependency tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Runs one of `scripts/setup.sh`'s detection functions with `SETUP_ROOT`
/// set to `root`; returns whether it succeeded and what it printed.
fn detect(root: &Path, call: &str) -> (bool, String) {
    let script = repo().join("scripts/setup.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(". '{}'; {call}", script.display()))
        .env("SETUP_ROOT", root)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "").unwrap();
}

#[test]
fn libclang_cpp_alone_is_not_libclang() {
    let root = scratch("setup-cpp-only");
    touch(&root, "usr/lib/llvm-14/lib/libclang-cpp.so.14");
    touch(&root, "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14");
    assert_eq!(detect(&root, "libclang_found"), (false, String::new()));
}

#[test]
fn libclang_is_found_under_each_name_clang_sys_loads() {
    for name in ["libclang.so.1", "libclang.so", "libclang-14.so.1", "libclang-14.so"] {
        let root = scratch(&format!("setup-{name}"));
        touch(&root, "usr/lib/llvm-14/lib/libclang-cpp.so.14");
        touch(&root, &format!("usr/lib/llvm-14/lib/{name}"));
        let (ok, found) = detect(&root, "libclang_found");
        assert!(ok, "{name} not found");
        assert!(found.ends_with(name), "{name}: found {found}");
    }
}

#[test]
fn clang_headers_are_required_separately() {
    let root = scratch("setup-headers");
    touch(&root, "usr/lib/llvm-14/lib/libclang.so.1");
    assert!(!detect(&root, "clang_headers_found").0);
    touch(&root, "usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h");
    assert!(detect(&root, "clang_headers_found").0);
}

#[test]
fn cmake_versions_lightgbm_builds_with() {
    let root = scratch("setup-cmake");
    for (version, ok) in [("3.25.1", false), ("3.28.0", true), ("3.31.6", true), ("4.0.2", false)] {
        let fake = root.join(format!("cmake-{version}"));
        std::fs::write(&fake, format!("#!/bin/sh\necho 'cmake version {version}'\n")).unwrap();
        Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
        assert_eq!(detect(&root, &format!("cmake_ok '{}'", fake.display())).0, ok, "cmake {version}");
    }
    assert!(!detect(&root, "cmake_ok /nonexistent/cmake").0);
}

/// `name version -> feature sets` for every package in the tree (a package
/// built for the host, as a build dependency, may show a second set).
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo())
        .args(["tree", "--locked", "--prefix", "none", "-f", "{p}|{f}", "-e", edges])
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, f) in String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim_end_matches(" (*)").split_once('|')) {
        map.entry(p.split(" (").next().unwrap().to_string()).or_default().insert(f.to_string());
    }
    map
}

#[test]
fn release_and_test_builds_resolve_the_same_dependency_features() {
    let release = features("normal,build");
    let test = features("normal,build,dev");
    assert!(release.len() > 100, "cargo tree printed too little: {}", release.len());
    let drift: Vec<String> = release
        .iter()
        .filter_map(|(p, f)| test.get(p).filter(|t| *t != f).map(|t| format!("{p}: release {f:?} test {t:?}")))
        .collect();
    assert!(drift.is_empty(), "dev-dependencies change features of shared crates, so `make test` would rebuild them; pin these in Cargo.toml:\n{}", drift.join("\n"));
}
