//! Words for the generated company: account names, ticket subjects and bodies.
//!
//! Tickets keep the wording feature set v2's phrase list was written against
//! (so v2 stays measured on the company it was built on). What customers
//! write in their emails is drawn from pools by meaning (leaving, and why;
//! routine; a champion saying goodbye), written apart from v3's lexicon,
//! with paraphrases it may miss and negations it must not count.

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

// Written apart from any lexicon (the feature set's `intent.yaml` is another
// file, by other hands): paraphrases a phrase list may or may not know,
// harmless uses of the same words, and negations ("we are NOT cancelling").
// Each pool is what its messages mean; `tests` measures the intent lexicon
// against them.

/// Ordinary tickets (the wording feature set v2's phrase list was written
/// against; v2 stays measured on it).
pub const ROUTINE: &[(&str, &str)] = &[
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

/// Tickets of an account on its way out (v2's era, as above).
const CANCEL: &[(&str, &str)] = &[
    ("Cancellation process", "We are considering whether to cancel our subscription at renewal. What is the process?"),
    ("Data export before contract end", "Please tell us how to export our data before the contract end date."),
    ("Terminate agreement", "Our leadership asked how we can terminate the agreement and what notice is required."),
    ("Switching vendors", "We are evaluating alternatives and may switch to another vendor. Please send our usage history."),
    ("Do not renew", "Please note we do not plan to renew; send instructions to export our data."),
];

const ONBOARDING: &[(&str, &str)] = &[
    ("Getting started: importing data", "We are setting up our workspace and want to import historical data. What format works best?"),
    ("Onboarding: user roles", "During onboarding we need to understand admin vs editor roles."),
    ("Training session request", "Could we book a training session for the new team next week?"),
];

/// What an account on its way out writes in its emails, and what it means:
/// written apart from any lexicon, in paraphrases a phrase list may miss.
pub const LEAVING: &[(&str, &str)] = &[
    ("cancel", "We have decided to let the contract lapse at the end of the term."),
    ("cancel", "How do we cancel before the renewal date? Please confirm the notice period."),
    ("cancel", "We will not be renewing next year, the project is being shut down."),
    ("cancel", "Our leadership asked us to terminate the agreement at the end of the quarter."),
    ("cancel", "We are winding down the team that used the platform; please do not auto-renew."),
    ("cancel", "Wir möchten zum Vertragsende kündigen, bitte bestätigen Sie den Termin."),
    ("competitor", "We are evaluating other vendors before the renewal and need our usage history."),
    ("competitor", "Can you match the offer we got from a competitor? Otherwise we move to another platform."),
    ("competitor", "Procurement is running an RFP and we are comparing three tools this quarter."),
    ("downgrade", "We would like fewer seats at renewal, most of the team no longer logs in."),
    ("downgrade", "Can we move to a smaller plan? We only use the reporting now."),
    ("downgrade", "Please remove licenses for the sales team, they stopped using it."),
    ("budget_cut", "Finance announced a budget freeze for next year across all software."),
    ("budget_cut", "Our budget was cut by a third and every tool has to be justified again."),
    ("budget_cut", "Company-wide cost cutting means this contract is under review."),
    ("price", "Honestly the product is too expensive for what we actually use."),
    ("price", "The price increase at renewal is hard to justify to our CFO."),
    ("price", "Is there a cheaper option? The current price feels high for a team our size."),
];

/// Frustrated tickets during a support spike.
const NEGATIVE: &[(&str, &str)] = &[
    ("Still broken", "This is still broken after two weeks. Very frustrated with the response time."),
    ("Escalation", "Unacceptable downtime again this week. We need to escalate this."),
    ("Reports wrong", "The numbers in the report are wrong again and the team is disappointed."),
];

/// A champion saying goodbye (an inbound email).
pub const CHAMPION_LEAVING: &[&str] = &[
    "Friday is my last day here; Sam will be your new point of contact from Monday.",
    "I'm leaving the company at the end of the month and handing over our account to a colleague.",
    "Quick note: I've moved to a new role and will no longer look after the platform.",
];

/// Inbound emails of an ordinary month: some use risky words harmlessly or negated.
pub const EMAIL_ROUTINE: &[&str] = &[
    "Thanks for the quick answer yesterday, that solved it.",
    "Could you share the slides from our last call?",
    "The team is really happy with the new reports, great work.",
    "Can we move our check-in to Thursday?",
    "We are not planning to cancel, just checking what the renewal includes.",
    "To be clear we are NOT cancelling anything, we only need the invoice split by department.",
    "We definitely won't be switching to another tool; can you send the renewal quote early?",
    "The cancel button on the survey form does nothing when clicked.",
    "We won't downgrade, quite the opposite: we need ten more seats next month.",
];

pub enum TicketKind {
    Routine,
    Onboarding,
    Cancel,
    Negative,
}

/// A ticket's subject and body (one draw from the generator's stream).
pub fn ticket_text(rng: &mut impl Rng, kind: TicketKind) -> (&'static str, &'static str) {
    let pool = match kind {
        TicketKind::Routine => ROUTINE,
        TicketKind::Onboarding => ONBOARDING,
        TicketKind::Cancel => CANCEL,
        TicketKind::Negative => NEGATIVE,
    };
    *pool.choose(rng).unwrap()
}

/// An inbound email's text, chosen without a draw (the generator's stream
/// stays as it was): `key` picks within the pool.
pub fn email_text(key: usize, leaving: bool, champion_leaving: bool) -> &'static str {
    if champion_leaving {
        CHAMPION_LEAVING[key % CHAMPION_LEAVING.len()]
    } else if leaving {
        LEAVING[key % LEAVING.len()].1
    } else {
        EMAIL_ROUTINE[key % EMAIL_ROUTINE.len()]
    }
}

pub const NPS_GOOD: &[&str] = &["Great product, the team loves it", "Support is responsive", "Easy to use"];
pub const NPS_BAD: &[&str] = &["Too expensive for what we use", "Reports are unreliable", "We barely use it anymore", "Support is slow"];

/// Every text the generator can write (for the text benchmark).
pub fn all_texts() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ROUTINE.iter().chain(ONBOARDING).chain(CANCEL).chain(NEGATIVE).flat_map(|(s, b)| [*s, *b]).collect();
    v.extend(LEAVING.iter().map(|(_, b)| *b));
    v.extend(CHAMPION_LEAVING.iter().chain(EMAIL_ROUTINE).chain(NPS_GOOD).chain(NPS_BAD));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::text::{words, Lexicon};

    /// What each NPS comment means: the first unhappy one is about the price.
    fn nps_intent(comment: &str) -> Option<&'static str> {
        (comment == NPS_BAD[0]).then_some("price")
    }

    /// Every text the generator writes, with what it means (None: no intent).
    fn truth() -> Vec<(&'static str, Option<&'static str>)> {
        let mut v: Vec<(&str, Option<&str>)> = Vec::new();
        for (s, b) in ROUTINE.iter().chain(ONBOARDING).chain(NEGATIVE) {
            v.push((s, None));
            v.push((b, None));
        }
        // the v2-era cancellation tickets: the fourth is about another vendor
        for (k, (subject, body)) in CANCEL.iter().enumerate() {
            let meant = if k == 3 { "competitor" } else { "cancel" };
            v.push((subject, if k == 1 { None } else { Some(meant) }));
            v.push((body, Some(meant)));
        }
        v.extend(LEAVING.iter().map(|(i, b)| (*b, Some(*i))));
        v.extend(CHAMPION_LEAVING.iter().map(|b| (*b, Some("champion_leaving"))));
        v.extend(EMAIL_ROUTINE.iter().map(|b| (*b, None)));
        v.extend(NPS_GOOD.iter().chain(NPS_BAD).map(|c| (*c, nps_intent(c))));
        v
    }

    /// Precision and recall of the v3 lexicon (`sql/features/v3/intent.yaml`)
    /// against the generator's meaning, message by message: the lexicon was
    /// written apart from these texts, and the measured figures are the README's.
    #[test]
    fn the_intent_lexicon_against_the_generators_truth() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/features/v3/intent.yaml");
        let lex = Lexicon::parse(&std::fs::read_to_string(path).unwrap(), "intent.yaml").unwrap();
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        let mut misses = Vec::new();
        for (text, meant) in truth() {
            let w = words(text);
            for i in &lex.intents {
                let fired = lex.weight(i, &w) > 0.0;
                match (fired, meant == Some(i.name.as_str())) {
                    (true, true) => tp += 1,
                    (true, false) => {
                        fp += 1;
                        misses.push(format!("false {}: {text}", i.name));
                    }
                    (false, true) => {
                        fn_ += 1;
                        misses.push(format!("missed {}: {text}", i.name));
                    }
                    _ => {}
                }
            }
        }
        let (p, r) = (tp as f64 / (tp + fp) as f64, tp as f64 / (tp + fn_) as f64);
        println!("intent lexicon on the generator's texts: precision {p:.2}, recall {r:.2} ({tp} hits, {fp} false, {fn_} missed)\n  {}", misses.join("\n  "));
        assert!(p >= 0.8 && r >= 0.6, "precision {p:.2}, recall {r:.2}:\n{}", misses.join("\n"));
        // negations never fire
        for t in ["To be clear we are NOT cancelling anything", "We won't downgrade, quite the opposite", "We are not planning to cancel"] {
            assert!(lex.intents.iter().all(|i| lex.weight(i, &words(t)) == 0.0), "{t}");
        }
    }
}
