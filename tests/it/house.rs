//! Checks that read the sources: the rooms import only downwards, and a
//! results table's column names are written in its table file only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::common::repo;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The source without its unit tests (they sit at the end of a file).
fn code(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap();
    match s.find("#[cfg(test)]") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The string literals of Rust source, with their line numbers; comments,
/// char literals and lifetimes are skipped.
fn literals(src: &str) -> Vec<(usize, String)> {
    let b: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < b.len() {
        match b[i] {
            '\n' => line += 1,
            '/' if b.get(i + 1) == Some(&'/') => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\'' => {
                // 'x', '\n', '\'' are chars; 'a (no closing quote soon) is a lifetime
                let close = if b.get(i + 1) == Some(&'\\') { b[i + 2..].iter().position(|c| *c == '\'').map(|k| i + 2 + k) } else { (b.get(i + 2) == Some(&'\'')).then_some(i + 2) };
                if let Some(c) = close {
                    i = c + 1;
                    continue;
                }
            }
            '"' => {
                let (start, mut s) = (line, String::new());
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' {
                        i += 1;
                    }
                    if b[i] == '\n' {
                        line += 1;
                    }
                    s.push(b[i]);
                    i += 1;
                }
                out.push((start, s));
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn the_literal_reader_finds_strings_and_skips_the_rest() {
    let src = "let a = \"one\"; // \"not this\"\nlet c = '\"'; fn f<'a>(x: &'a str) { g(\"two \\\" three\") }";
    let got: Vec<String> = literals(src).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, vec!["one".to_string(), "two \" three".to_string()]);
}

/// Top-level module → the top-level modules it names as `crate::…`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in rust_files(&src) {
        let rel = p.strip_prefix(&src).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = code(&p);
        let entry = g.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(inner) = rest.strip_prefix('{') {
                inner[..inner.find('}').unwrap()].split(',').map(|n| n.trim().split("::").next().unwrap().trim()).collect()
            } else {
                vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap()]
            };
            entry.extend(names.into_iter().filter(|n| !n.is_empty() && *n != module).map(String::from));
        }
    }
    g
}

#[test]
fn config_engine_and_output_import_nothing_from_generate_score_or_sync() {
    let g = imports();
    for low in ["config", "engine", "output", "contract", "dates", "domain", "location", "store", "columns"] {
        let deps = &g[low];
        for high in ["generate", "score", "sync", "pipeline", "cli", "model", "features"] {
            assert!(!deps.contains(high), "`{low}` imports `{high}`: {deps:?}");
        }
    }
}

#[test]
fn the_rooms_import_without_a_cycle() {
    let g = imports();
    // Kahn: repeatedly remove a module none of the remaining import
    let mut left: BTreeSet<String> = g.keys().cloned().collect();
    while !left.is_empty() {
        let leaf = left.iter().find(|m| g[*m].iter().all(|d| !left.contains(d))).cloned();
        match leaf {
            Some(m) => {
                left.remove(&m);
            }
            None => panic!("these modules import each other in a cycle: {:?}", left.iter().map(|m| (m, &g[m])).collect::<Vec<_>>()),
        }
    }
    // and the check can fail: a cycle is found where there is one
    assert!(g["engine"].contains("config") && !g["config"].contains("engine"));
}

#[test]
fn results_columns_are_named_in_their_table_file_only() {
    use healthscore::output::tables::ALL;
    let results: BTreeSet<String> = ALL.iter().flat_map(|t| t.column_names(&[30, 60, 90, 180], 90)).collect();
    // names the input contract also has are the export's too, and the
    // snapshot key is every feature relation's
    let shared: BTreeSet<String> = healthscore::contract::TABLES
        .iter()
        .flat_map(|t| t.columns.iter().map(|c| c.name.to_string()))
        .chain(["account_id", "as_of"].map(String::from))
        .collect();
    // a plain word (`tier`, `status`, `message`) is also the CRMs' JSON vocabulary:
    // it is flagged where it addresses a column; a compound name anywhere
    // the same word naming a column of another file
    let elsewhere = [("model/train.rs", "label", "the target column of `train --export-frame`'s matrix, which benches/python_train.py reads")];
    let accessors = ["column_by_name(", "strings(", "floats(", "days(", "Field::new(", "cell("];
    let src = repo().join("src");
    let tables = src.join("output/tables");
    let mut found = Vec::new();
    for p in rust_files(&src).into_iter().filter(|p| !p.starts_with(&tables)) {
        let text = code(&p);
        let lines: Vec<&str> = text.lines().collect();
        for (n, lit) in literals(&text) {
            let file = p.strip_prefix(&src).unwrap().to_string_lossy().to_string();
            if !results.contains(&lit) || shared.contains(&lit) || elsewhere.iter().any(|(f, l, _)| *f == file && *l == lit) {
                continue;
            }
            let l = lines[n - 1];
            let addresses = accessors.iter().any(|a| l.split(a).skip(1).any(|after| after.contains(&format!("\"{lit}\""))));
            if lit.contains('_') || addresses {
                found.push(format!("{file}:{n}: \"{lit}\"  {}", l.trim()));
            }
        }
    }
    assert!(found.is_empty(), "results columns named outside their table file (use the table's constants):\n{}", found.join("\n"));
    assert!(results.contains("health_score") && results.contains("not_delivered"), "the table list is read");
}
