//! A secret read from an environment variable; it never prints itself.

use std::fmt;

/// A token or password. `Debug` and `Display` show only the variable's name,
/// so a secret that slips into a log line, an error or a manifest is harmless.
#[derive(Clone)]
pub struct Secret {
    env: String,
    value: String,
}

impl Secret {
    /// Reads `env` now. A missing variable is not an error here: commands
    /// that never talk to the CRM (a dry run, `validate`) must still work.
    pub fn from_env(env: &str) -> Option<Self> {
        std::env::var(env).ok().filter(|v| !v.is_empty()).map(|value| Secret { env: env.to_string(), value })
    }

    pub fn new(env: &str, value: String) -> Self {
        Secret { env: env.to_string(), value }
    }

    /// The only way to the value: named so that every use is easy to audit.
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn env_name(&self) -> &str {
        &self.env
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(${}: redacted)", self.env)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${} (redacted)", self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("HUBSPOT_TOKEN", "pat-na1-very-secret".into());
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(!format!("{s}").contains("very-secret"));
        assert_eq!(s.expose(), "pat-na1-very-secret");
    }
}
