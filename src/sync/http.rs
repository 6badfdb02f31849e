//! What every destination shares on the wire: the rate limit, the retry
//! policy (one function of the status and `Retry-After`), and auth.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Mutex;

use crate::config::Secret;
use crate::error::{Error, Result};

/// At most `requests` request starts in any window of `per`, and none
/// while the CRM has said to hold (its rate-limit headers ran out, or a 429
/// asked every worker to wait, not only the one that got it).
pub struct RateLimit {
    requests: usize,
    per: Duration,
    starts: Mutex<VecDeque<Instant>>,
    hold_until: std::sync::Mutex<Option<Instant>>,
}

impl RateLimit {
    pub fn new(requests: u32, per_seconds: f64) -> RateLimit {
        RateLimit {
            requests: requests.max(1) as usize,
            per: Duration::from_secs_f64(per_seconds.max(0.001)),
            starts: Mutex::new(VecDeque::new()),
            hold_until: std::sync::Mutex::new(None),
        }
    }

    /// No request starts for `d` from now (whichever hold ends later wins).
    pub fn hold(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut h = self.hold_until.lock().unwrap();
        if h.is_none_or(|t| t < until) {
            *h = Some(until);
        }
    }

    /// Waits for a slot, then takes it.
    pub async fn acquire(&self) {
        loop {
            let held = *self.hold_until.lock().unwrap();
            if let Some(t) = held.filter(|t| *t > Instant::now()) {
                tokio::time::sleep(t - Instant::now()).await;
                continue;
            }
            let wait = {
                let mut q = self.starts.lock().await;
                let now = Instant::now();
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.per) {
                    q.pop_front();
                }
                if q.len() < self.requests {
                    q.push_back(now);
                    return;
                }
                self.per - now.duration_since(*q.front().unwrap())
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Exponential backoff with full jitter, never shorter than the server
/// asked; on top of a `Retry-After`, up to a quarter of it (at most a
/// second) more, so workers told the same wait do not return in lockstep.
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let cap = Duration::from_secs(30);
    let base = Duration::from_millis(250).saturating_mul(1 << attempt.min(16)).min(cap);
    let mut rng = rand::rng();
    match retry_after {
        Some(r) => {
            let spread = (r.as_secs_f64() / 4.0).clamp(0.05, 1.0);
            r + Duration::from_secs_f64(rng.random_range(0.0..=spread))
        }
        None => Duration::from_secs_f64(rng.random_range(0.0..=base.as_secs_f64())),
    }
}

/// What HubSpot's `X-HubSpot-RateLimit-*` headers say: requests left in the
/// current interval and its length, and requests left today.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    pub remaining: Option<u64>,
    pub interval: Option<Duration>,
    pub daily_remaining: Option<u64>,
}

pub fn budget(headers: &reqwest::header::HeaderMap) -> Budget {
    let num = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    Budget {
        remaining: num("x-hubspot-ratelimit-remaining"),
        interval: num("x-hubspot-ratelimit-interval-milliseconds").map(Duration::from_millis),
        daily_remaining: num("x-hubspot-ratelimit-daily-remaining"),
    }
}

/// `Retry-After` in seconds (fractions allowed) or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(3600.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds().max(0) as f64 / 1000.0;
    Some(Duration::from_secs_f64(secs.min(3600.0)))
}

/// How a destination authenticates.
pub enum Auth {
    /// A bearer token read from an environment variable.
    Token { env: String },
    /// OAuth 2.0 client credentials, refreshed when the server says the
    /// session expired.
    ClientCredentials { token_url: String, id_env: String, secret_env: String, cached: Mutex<Option<(Secret, Option<String>)>> },
    /// No token; the URL is the credential, read from an environment variable (a webhook).
    UrlFromEnv { env: String },
    /// No credential at all.
    None,
}

impl Auth {
    fn env(name: &str) -> Result<Secret> {
        Secret::from_env(name).ok_or_else(|| Error::Usage(format!("set the environment variable `{name}`: the destination's credentials are read from it")))
    }

    /// The bearer token and, for OAuth, the instance URL it returned.
    pub async fn token(&self, client: &reqwest::Client, refresh: bool) -> Result<(Secret, Option<String>)> {
        match self {
            Auth::Token { env } => Ok((Self::env(env)?, None)),
            Auth::UrlFromEnv { env } => Ok((Secret::new("NO_TOKEN", String::new()), Some(Self::env(env)?.expose().to_string()))),
            Auth::None => Ok((Secret::new("NO_TOKEN", String::new()), None)),
            Auth::ClientCredentials { cached, .. } => {
                let mut c = cached.lock().await;
                if refresh {
                    *c = None;
                }
                if let Some(t) = c.as_ref() {
                    return Ok(t.clone());
                }
                let t = self.fetch(client).await?;
                *c = Some(t.clone());
                Ok(t)
            }
        }
    }

    /// After `failed` was refused as expired: a new token — unless another
    /// worker already replaced `failed`, whose token is then used (fetching
    /// again would expire that one in turn).
    pub async fn refresh(&self, client: &reqwest::Client, failed: &Secret) -> Result<()> {
        match self {
            Auth::Token { .. } | Auth::UrlFromEnv { .. } | Auth::None => Ok(()),
            Auth::ClientCredentials { cached, .. } => {
                let mut c = cached.lock().await;
                if c.as_ref().is_some_and(|(t, _)| t.expose() != failed.expose()) {
                    return Ok(());
                }
                *c = Some(self.fetch(client).await?);
                Ok(())
            }
        }
    }

    /// One client-credentials exchange.
    async fn fetch(&self, client: &reqwest::Client) -> Result<(Secret, Option<String>)> {
        match self {
            Auth::Token { env } => Ok((Self::env(env)?, None)),
            Auth::UrlFromEnv { .. } | Auth::None => unreachable!("only client credentials are exchanged for a token"),
            Auth::ClientCredentials { token_url, id_env, secret_env, .. } => {
                let id = Self::env(id_env)?;
                let secret = Self::env(secret_env)?;
                // the token endpoint meets the same 5xx and timeouts as the API: retried, a few times
                let mut attempt = 0;
                let resp = loop {
                    let sent = client
                        .post(token_url)
                        .form(&[("grant_type", "client_credentials"), ("client_id", id.expose()), ("client_secret", secret.expose())])
                        .send()
                        .await;
                    let passing = match &sent {
                        Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                        Err(_) => true,
                    };
                    if passing && attempt < 4 {
                        let wait = sent.as_ref().ok().and_then(|r| retry_after(r.headers()));
                        tokio::time::sleep(backoff(attempt, wait)).await;
                        attempt += 1;
                        continue;
                    }
                    break sent.map_err(|e| Error::other(format!("requesting an OAuth token from {token_url}"), e.without_url()))?;
                };
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(Error::Usage(format!(
                        "the OAuth token request to {token_url} was refused ({status}: {}); check ${id_env} and ${secret_env}",
                        body.get("error_description").or(body.get("error")).and_then(|v| v.as_str()).unwrap_or("no detail")
                    )));
                }
                let token = body["access_token"].as_str().ok_or_else(|| Error::Usage(format!("{token_url} returned no access_token")))?;
                Ok((Secret::new("OAUTH_ACCESS_TOKEN", token.to_string()), body["instance_url"].as_str().filter(|s| !s.is_empty()).map(String::from)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_honours_retry_after_and_stays_capped() {
        for a in 0..20 {
            assert!(backoff(a, None) <= Duration::from_secs(30));
        }
        assert!(backoff(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(2500)));
        let when = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, when.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(27) && d <= Duration::from_secs(30), "{d:?}");
        // a date in the past: go now
        h.insert(reqwest::header::RETRY_AFTER, "Tue, 01 Dec 2020 10:00:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn workers_told_the_same_wait_spread_out() {
        let waits: Vec<Duration> = (0..20).map(|_| backoff(0, Some(Duration::from_secs(2)))).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_secs(2) && *w <= Duration::from_millis(2500)));
        assert!(waits.iter().any(|w| *w != waits[0]), "jitter on top of Retry-After");
    }

    #[tokio::test]
    async fn a_hold_stops_every_start_until_it_ends() {
        let rl = RateLimit::new(1000, 1.0);
        rl.hold(Duration::from_millis(300));
        let t = Instant::now();
        rl.acquire().await;
        assert!(t.elapsed() >= Duration::from_millis(290), "{:?}", t.elapsed());
    }

    #[test]
    fn rate_limit_headers_are_read() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-hubspot-ratelimit-remaining", "3".parse().unwrap());
        h.insert("x-hubspot-ratelimit-interval-milliseconds", "10000".parse().unwrap());
        h.insert("x-hubspot-ratelimit-daily-remaining", "4242".parse().unwrap());
        assert_eq!(budget(&h), Budget { remaining: Some(3), interval: Some(Duration::from_secs(10)), daily_remaining: Some(4242) });
    }

    #[tokio::test]
    async fn the_rate_limit_spaces_requests() {
        let rl = RateLimit::new(5, 0.2);
        let t = Instant::now();
        for _ in 0..11 {
            rl.acquire().await;
        }
        // 11 starts at 5 per 200 ms need two full windows
        assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    }
}
