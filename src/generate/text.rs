//! Words for the generated company: account names, ticket subjects and bodies.
//!
//! Cancellation intent and negative wording are what the feature SQL looks
//! for; ordinary tickets use some of the same words ("export", "contract")
//! in harmless phrases so that a naive keyword match is not enough.

use rand::Rng;
use rand::seq::IndexedRandom;

const SYL_A: &[&str] = &["Acme", "Blue", "North", "Bright", "Clear", "Iron", "Nova", "Pine", "Quant", "Red", "Silver", "Terra", "Vertex", "Wave", "Zen", "Atlas", "Cobalt", "Delta", "Echo", "Fern"];
const SYL_B: &[&str] = &["field", "stone", "point", "path", "works", "labs", "line", "forge", "scale", "bridge", "grid", "loop", "peak", "harbor", "logic"];
const SUFFIX: &[&str] = &["Inc", "LLC", "GmbH", "Ltd", "Co", "Group", "Systems", "Health", "Retail", "Capital"];

pub fn company_name(rng: &mut impl Rng) -> String {
    format!("{}{} {}", SYL_A.choose(rng).unwrap(), SYL_B.choose(rng).unwrap(), SUFFIX.choose(rng).unwrap())
}

pub const INDUSTRIES: &[&str] = &["software", "healthcare", "retail", "finance", "manufacturing", "education", "logistics", "media"];
pub const CSMS: &[&str] = &["ana.ruiz", "ben.okafor", "chen.li", "dana.kowalski", "eli.haddad", "fatima.sy", "gus.berg", "hana.sato"];
pub const TITLES: &[&str] = &["Head of Operations", "VP Sales", "Analyst", "IT Manager", "Director of Marketing", "CFO", "Team Lead", "Engineer"];

const ROUTINE: &[(&str, &str)] = &[
    ("How do I export a report to CSV?", "Trying to export the weekly report to CSV for our finance team. Where is the button?"),
    ("SSO setup question", "We want to enable SSO for the new team. Which IdP settings do you need?"),
    ("Dashboard loads slowly", "The main dashboard takes a while to load in the mornings. Any tips?"),
    ("Add users to workspace", "Please add three new users to our workspace, we are onboarding a new team."),
    ("Invoice copy", "Could you send a copy of last month's invoice to our accounts payable address?"),
    ("API rate limits", "What are the API rate limits for the reporting endpoint?"),
    ("Question about the contract", "Where can I see the contract terms we signed? Our legal team asked."),
    ("Alert rules", "How do we configure alert rules for a shared channel?"),
    ("Integration with Slack", "The Slack integration stopped posting after we renamed a channel."),
];

const ONBOARDING: &[(&str, &str)] = &[
    ("Getting started: importing data", "We are setting up our workspace and want to import historical data. What format works best?"),
    ("Onboarding: user roles", "During onboarding we need to understand admin vs editor roles."),
    ("Training session request", "Could we book a training session for the new team next week?"),
];

const CANCEL: &[(&str, &str)] = &[
    ("Cancellation process", "We are considering whether to cancel our subscription at renewal. What is the process?"),
    ("Data export before contract end", "Please tell us how to export our data before the contract end date."),
    ("Terminate agreement", "Our leadership asked how we can terminate the agreement and what notice is required."),
    ("Switching vendors", "We are evaluating alternatives and may switch to another vendor. Please send our usage history."),
    ("Do not renew", "Please note we do not plan to renew; send instructions to export our data."),
];

const NEGATIVE: &[(&str, &str)] = &[
    ("Still broken", "This is still broken after two weeks. Very frustrated with the response time."),
    ("Escalation", "Unacceptable downtime again this week. We need to escalate this."),
    ("Reports wrong", "The numbers in the report are wrong again and the team is disappointed."),
];

pub enum TicketKind {
    Routine,
    Onboarding,
    Cancel,
    Negative,
}

pub fn ticket_text(rng: &mut impl Rng, kind: TicketKind) -> (&'static str, &'static str) {
    let pool = match kind {
        TicketKind::Routine => ROUTINE,
        TicketKind::Onboarding => ONBOARDING,
        TicketKind::Cancel => CANCEL,
        TicketKind::Negative => NEGATIVE,
    };
    *pool.choose(rng).unwrap()
}

pub const NPS_GOOD: &[&str] = &["Great product, the team loves it", "Support is responsive", "Easy to use"];
pub const NPS_BAD: &[&str] = &["Too expensive for what we use", "Reports are unreliable", "We barely use it anymore", "Support is slow"];
