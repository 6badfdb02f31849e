//! `features.yaml`: what each output feature means to a person — its label,
//! signal group, risk direction, how to print its value, the reason templates
//! and the suggested action — and which input tables it needs.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A higher value means more churn risk.
    HigherIsRisk,
    /// A lower value means more churn risk.
    LowerIsRisk,
    /// Context: no direction (segment, plan, tenure …).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    /// A share 0..1 printed as a percentage.
    Pct,
    /// A relative change, -1..∞, printed as "down 42%" / "up 10%".
    PctChange,
    Days,
    Hours,
    Ratio,
    Currency,
    /// 0..10 or 1..5 scores printed as they are.
    Score,
    /// A signed score in -1..1 (sentiment) printed with its sign: "-0.41".
    Signed,
    /// 0/1 printed as yes/no.
    Flag,
    Category,
    Number,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    pub label: String,
    /// Rules signal group (usage, adoption, support, payment, engagement) or `context`.
    pub group: String,
    pub direction: Direction,
    pub unit: Unit,
    /// Risk reason; `{value}` and `{segment_median}` are filled in.
    pub reason: Option<String>,
    /// Positive reason, when the feature speaks for the account.
    pub positive: Option<String>,
    pub action: Option<String>,
    /// Input tables (and `table.column`s) the feature reads; an absent one
    /// drops the feature. `a|b` is met by either (text from tickets, NPS
    /// comments or activity bodies).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Shown as a reason. Context features (tenure, renewal timing, segment)
    /// count in the model but are never a reason a CSM can act on.
    #[serde(default = "yes")]
    pub explain: bool,
    #[serde(default)]
    pub categorical: bool,
    /// An input of the model. `false`: text the alert messages quote (the
    /// product areas that stopped), computed with the features, never trained on.
    #[serde(default = "yes")]
    pub model: bool,
}

fn yes() -> bool {
    true
}

impl Feature {
    /// The requirements the export does not meet, for people (`a|b` as "`a` or `b`").
    pub fn missing(&self, present: impl Fn(&str) -> bool) -> Vec<String> {
        self.requires.iter().filter(|r| !r.split('|').any(&present)).map(|r| r.replace('|', "` or `")).collect()
    }

    /// A feature with only what scoring reads (unit tests build frames of them).
    #[cfg(test)]
    pub fn for_test(name: &str, group: &str, direction: Direction, reason: Option<&str>, action: Option<&str>) -> Feature {
        Feature {
            name: name.into(),
            label: name.replace('_', " "),
            group: group.into(),
            direction,
            unit: Unit::Count,
            reason: reason.map(String::from),
            positive: Some(format!("{name} is {{value}}")),
            action: action.map(String::from),
            requires: vec![],
            explain: true,
            categorical: false,
            model: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The view whose rows are the features, at (account_id, as_of) grain.
    pub output: String,
    pub features: Vec<Feature>,
    /// The default words the SQL reads through the `vocabulary` relation.
    #[serde(default)]
    pub vocabulary: crate::config::Vocabulary,
    /// Views computed once per input file and kept under the output
    /// location (`cache.rs`): the rollups that stand between the raw usage
    /// rows and every snapshot's windows.
    #[serde(default)]
    pub cached: Vec<String>,
}

impl Spec {
    pub fn parse(text: &str, file: &str) -> Result<Spec> {
        let spec: Spec = serde_yaml::from_str(text).map_err(|e| Error::Config(format!("`{file}`: {e}")))?;
        let mut seen = BTreeSet::new();
        for f in &spec.features {
            if !seen.insert(f.name.as_str()) {
                return Err(Error::Config(format!("`{file}`: feature `{}` is listed twice", f.name)));
            }
            let groups = crate::config::RULE_GROUPS;
            if f.group != "context" && !groups.contains(&f.group.as_str()) {
                return Err(Error::Config(format!(
                    "`{file}`: feature `{}` has group `{}`; use context or {}",
                    f.name,
                    f.group,
                    groups.join(", ")
                )));
            }
            if !f.model && f.explain {
                return Err(Error::Config(format!("`{file}`: feature `{}` is not a model input (`model: false`), so it cannot be explained: set `explain: false`", f.name)));
            }
            if f.explain && f.reason.is_none() {
                return Err(Error::Config(format!("`{file}`: feature `{}` is explained but has no `reason` template", f.name)));
            }
            for r in f.requires.iter().flat_map(|r| r.split('|')) {
                let (table, column) = match r.split_once('.') {
                    Some((t, c)) => (t, Some(c)),
                    None => (r, None),
                };
                let known = crate::contract::table(table).is_some_and(|t| column.is_none_or(|c| t.column(c).is_some()));
                if !known {
                    return Err(Error::Config(format!("`{file}`: feature `{}` requires unknown table or column `{r}`", f.name)));
                }
            }
        }
        // a template names `{value}`, `{segment_median}` or a context feature
        // whose tables the feature itself requires (so it is there when the
        // feature is)
        for f in &spec.features {
            for t in [&f.reason, &f.positive].into_iter().flatten() {
                for name in t.split('{').skip(1).filter_map(|p| p.split_once('}')).map(|(n, _)| n) {
                    let ok = matches!(name, "value" | "segment_median")
                        || spec.features.iter().any(|c| c.name == name && !c.model && c.requires.iter().all(|r| f.requires.contains(r)));
                    if !ok {
                        return Err(Error::Config(format!(
                            "`{file}`: feature `{}`'s template names `{{{name}}}`; use {{value}}, {{segment_median}} or a `model: false` feature requiring no other tables",
                            f.name
                        )));
                    }
                }
            }
        }
        crate::config::check_vocabulary(&spec.vocabulary).map_err(|e| Error::Config(format!("`{file}`: vocabulary: {e}")))?;
        Ok(spec)
    }

    pub fn get(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// Prints a feature value the way its unit reads.
pub fn render(unit: Unit, v: f64) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    match unit {
        Unit::Pct => format!("{:.0}%", v * 100.0),
        Unit::PctChange => {
            let p = (v * 100.0).round();
            if p < 0.0 {
                format!("down {:.0}%", -p)
            } else if p > 0.0 {
                format!("up {p:.0}%")
            } else {
                "flat".into()
            }
        }
        Unit::Days => format!("{:.0} days", v),
        Unit::Hours => format!("{:.0} h", v),
        Unit::Currency => {
            let r = v.round() as i64;
            let s = r.abs().to_string();
            let mut out = String::new();
            for (i, ch) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(ch);
            }
            format!("{}${out}", if r < 0 { "-" } else { "" })
        }
        Unit::Flag => if v >= 0.5 { "yes" } else { "no" }.into(),
        Unit::Ratio => format!("{v:.1}×"),
        Unit::Score => format!("{v:.1}"),
        Unit::Signed => format!("{v:+.2}").replace('-', "−"),
        Unit::Count | Unit::Number | Unit::Category => {
            if (v - v.round()).abs() < 1e-9 { format!("{v:.0}") } else { format!("{v:.1}") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_render_for_people() {
        assert_eq!(render(Unit::PctChange, -0.42), "down 42%");
        assert_eq!(render(Unit::PctChange, 0.1), "up 10%");
        assert_eq!(render(Unit::Pct, 0.351), "35%");
        assert_eq!(render(Unit::Currency, 1234567.4), "$1,234,567");
        assert_eq!(render(Unit::Flag, 1.0), "yes");
        assert_eq!(render(Unit::Days, f64::NAN), "n/a");
    }

    fn spec(reason: &str, context_requires: &str) -> Result<Spec> {
        Spec::parse(
            &format!(
                "output: account_features\nfeatures:\n  - {{ name: intent_x_90d, label: x, group: support, direction: higher_is_risk, unit: score, reason: \"{reason}\", requires: [\"tickets|nps\"] }}\n  - {{ name: intent_x_last, label: x, group: context, direction: none, unit: category, explain: false, model: false, requires: [{context_requires}] }}\n"
            ),
            "features.yaml",
        )
    }

    #[test]
    fn a_template_names_only_its_value_the_median_or_context_it_always_has() {
        assert!(spec("{intent_x_last} mentions x (weight {value}, median {segment_median})", "\"tickets|nps\"").is_ok());
        let e = spec("{intent_y_last} mentions x", "\"tickets|nps\"").unwrap_err().to_string();
        assert!(e.contains("intent_x_90d") && e.contains("{intent_y_last}"), "{e}");
        // a context from a table the feature does not require may be absent
        assert!(spec("{intent_x_last} mentions x", "external_signals").is_err());
        // alternatives are checked one by one against the contract
        let e = Spec::parse("output: o\nfeatures:\n  - { name: a, label: a, group: support, direction: higher_is_risk, unit: score, reason: r, requires: [\"tickets|mail\"] }\n", "f").unwrap_err();
        assert!(e.to_string().contains("`mail`"), "{e}");
        let f = &spec("{value}", "\"tickets|nps\"").unwrap().features[0];
        assert!(f.missing(|t| t == "nps").is_empty());
        assert_eq!(f.missing(|_| false), vec!["tickets` or `nps".to_string()]);
    }
}
