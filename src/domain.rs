//! The domain's small types, shared by every stage: the health tier and the
//! modelled targets. A leaf: it imports nothing from the crate.

use std::fmt;

/// A health tier. Stored, synced and written in cards as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Red,
    Yellow,
    Green,
}

impl Tier {
    /// Worst first, the order reports list them in.
    pub const ALL: [Tier; 3] = [Tier::Red, Tier::Yellow, Tier::Green];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Red => "red",
            Tier::Yellow => "yellow",
            Tier::Green => "green",
        }
    }

    /// `red`, `yellow` or `green`, in any case.
    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a model predicts: churn within a horizon, or expansion within one.
/// Named `churn_90d` / `expand_90d` in cards and metrics tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Churn(u32),
    Expand(u32),
}

impl Target {
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Churn(h) => write!(f, "churn_{h}d"),
            Target::Expand(h) => write!(f, "expand_{h}d"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_their_own_names_only() {
        for t in Tier::ALL {
            assert_eq!(Tier::parse(t.as_str()), Some(t));
        }
        assert_eq!(Tier::parse(" RED "), Some(Tier::Red));
        assert_eq!(Tier::parse("amber"), None);
        assert_eq!(Tier::parse(""), None);
    }

    #[test]
    fn targets_are_named_as_the_cards_name_them() {
        assert_eq!(Target::Churn(90).name(), "churn_90d");
        assert_eq!(Target::Expand(30).to_string(), "expand_30d");
    }
}
