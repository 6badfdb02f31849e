//! What customers write, as two SQL functions the feature views call, so the
//! features stay SQL:
//!
//! - `sentiment(text)`: VADER's compound score in [−1, 1] (vader-parity:
//!   the lexicon-and-rules method a CSM can follow word by word, with exact
//!   parity with Python's vaderSentiment 3.3.2 — negation, boosters, caps,
//!   "but", punctuation, emoji). A message longer than [`MAX_CHARS`] is
//!   scored on its first [`MAX_CHARS`] characters and counted.
//! - `intent_weight(text, intent)`: the largest weight among the intent's
//!   phrases (`intent.yaml` in the feature set) found in the text —
//!   case-insensitive, on word boundaries (`cancel*` matches words that start
//!   with `cancel`), and not when one of the lexicon's negations (`not`,
//!   `*n't`, `nicht`, `kein*`…) is among the three words before the phrase:
//!   "we are NOT cancelling" does not fire; 0 when nothing matches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Characters of a message that are scored; the rest is ignored and counted.
pub const MAX_CHARS: usize = 20_000;

/// A negation counts when among the three words before a phrase.
const NEGATION_WINDOW: usize = 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLexicon {
    /// Language → words that negate a phrase (`word`, `stem*`, `*suffix`).
    #[serde(default)]
    negations: BTreeMap<String, Vec<String>>,
    intents: BTreeMap<String, RawIntent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    /// How a reason names it: "moving to a competitor".
    label: String,
    /// Language → phrase → weight (0–1].
    phrases: BTreeMap<String, BTreeMap<String, f64>>,
    /// Language → harmless uses: a phrase found where one of these starts
    /// does not count ("cancel the meeting").
    #[serde(default)]
    except: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
enum Word {
    Exact(String),
    Stem(String),
    Suffix(String),
}

impl Word {
    fn parse(token: &str) -> Word {
        let t = token.to_lowercase().replace('’', "'");
        if let Some(s) = t.strip_suffix('*') {
            Word::Stem(s.to_string())
        } else if let Some(s) = t.strip_prefix('*') {
            Word::Suffix(s.to_string())
        } else {
            Word::Exact(t)
        }
    }

    fn matches(&self, w: &str) -> bool {
        match self {
            Word::Exact(e) => e == w,
            Word::Stem(s) => w.starts_with(s.as_str()),
            Word::Suffix(s) => w.ends_with(s.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
struct Phrase {
    words: Vec<Word>,
    weight: f64,
}

/// An intent: its name (`competitor`), label and phrases in every language.
#[derive(Debug, Clone)]
pub struct Intent {
    pub name: String,
    pub label: String,
    phrases: Vec<Phrase>,
    except: Vec<Vec<Word>>,
}

/// `intent.yaml`, parsed and checked.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    pub intents: Vec<Intent>,
    /// Every language's negations: a phrase after one does not count.
    negations: Vec<Word>,
}

/// Lowercased words: letters, digits and apostrophes (’ read as ').
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('’', "'").to_lowercase().trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A phrase's words (`stem*` as a stem); `None` when it has none.
fn phrase(p: &str) -> Option<Vec<Word>> {
    let ws: Vec<Word> =
        words(p).into_iter().zip(p.split_whitespace().map(|t| t.ends_with('*'))).map(|(w, stem)| if stem { Word::Stem(w) } else { Word::Exact(w) }).collect();
    (!ws.is_empty()).then_some(ws)
}

/// Whether `phrase` matches `words` from `start`.
fn at(phrase: &[Word], words: &[String], start: usize) -> bool {
    start + phrase.len() <= words.len() && phrase.iter().zip(&words[start..]).all(|(p, w)| p.matches(w))
}

impl Lexicon {
    pub fn parse(text: &str, file: &str) -> Result<Lexicon> {
        let raw: RawLexicon = serde_yaml::from_str(text).map_err(|e| Error::Config(format!("`{file}`: {e}")))?;
        let mut negations = Vec::new();
        for (lang, list) in &raw.negations {
            for n in list {
                if n.trim_matches('*').is_empty() || n.contains(char::is_whitespace) {
                    return Err(Error::Config(format!("`{file}`: negations.{lang}: `{n}` must be one word (`word`, `stem*` or `*suffix`)")));
                }
                negations.push(Word::parse(n));
            }
        }
        let mut intents = Vec::new();
        for (name, i) in raw.intents {
            let mut phrases = Vec::new();
            for (lang, list) in &i.phrases {
                for (p, w) in list {
                    if !(*w > 0.0 && *w <= 1.0) {
                        return Err(Error::Config(format!("`{file}`: intents.{name}.phrases.{lang}.\"{p}\": the weight {w} must be above 0 and at most 1")));
                    }
                    let ws = phrase(p).ok_or_else(|| Error::Config(format!("`{file}`: intents.{name}.phrases.{lang}: `{p}` has no words")))?;
                    phrases.push(Phrase { words: ws, weight: *w });
                }
            }
            let mut except = Vec::new();
            for (lang, list) in &i.except {
                for p in list {
                    except.push(phrase(p).ok_or_else(|| Error::Config(format!("`{file}`: intents.{name}.except.{lang}: `{p}` has no words")))?);
                }
            }
            intents.push(Intent { name, label: i.label, phrases, except });
        }
        Ok(Lexicon { intents, negations })
    }

    /// The largest weight of `intent`'s phrases found in `words` with no
    /// negation among the three words before and no harmless use (`except`)
    /// starting where they do.
    pub fn weight(&self, intent: &Intent, words: &[String]) -> f64 {
        let negated = |start: usize| words[start.saturating_sub(NEGATION_WINDOW)..start].iter().any(|w| self.negations.iter().any(|n| n.matches(w)));
        let mut best = 0.0f64;
        for p in &intent.phrases {
            let n = p.words.len();
            if n > words.len() || p.weight <= best {
                continue;
            }
            for start in 0..=words.len() - n {
                if at(&p.words, words, start) && !negated(start) && !intent.except.iter().any(|e| at(e, words, start)) {
                    best = best.max(p.weight);
                    break;
                }
            }
        }
        best
    }

    pub fn get(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }
}

fn capped<'a>(text: &'a str, long: &AtomicUsize) -> &'a str {
    match text.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => {
            long.fetch_add(1, Ordering::Relaxed);
            &text[..i]
        }
        None => text,
    }
}

/// VADER's compound score of `text` (capped at [`MAX_CHARS`]).
pub fn sentiment(analyzer: &vader_parity::SentimentIntensityAnalyzer, text: &str, long: &AtomicUsize) -> f64 {
    analyzer.polarity_scores(capped(text, long)).compound
}

fn strings(v: &ColumnarValue, n: usize) -> datafusion::error::Result<StringArray> {
    let a: ArrayRef = v.clone().into_array(n)?;
    let a = arrow::compute::cast(&a, &DataType::Utf8)?;
    Ok(a.as_any().downcast_ref::<StringArray>().cloned().expect("cast to Utf8"))
}

/// The two functions, registered as `sentiment` and `intent_weight`;
/// `long` counts the messages scored on their first [`MAX_CHARS`] only.
pub fn udfs(lexicon: Arc<Lexicon>, long: Arc<AtomicUsize>) -> Vec<ScalarUDF> {
    let analyzer = Arc::new(vader_parity::SentimentIntensityAnalyzer::new());
    let l1 = long.clone();
    let sentiment_fn = Arc::new(move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let n = match &args[0] {
            ColumnarValue::Array(a) => a.len(),
            ColumnarValue::Scalar(_) => 1,
        };
        let t = strings(&args[0], n)?;
        let out: Float64Array = (0..t.len()).map(|i| (!t.is_null(i)).then(|| sentiment(&analyzer, t.value(i), &l1))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    let intent_fn = Arc::new(move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let n = args.iter().find_map(|a| if let ColumnarValue::Array(a) = a { Some(a.len()) } else { None }).unwrap_or(1);
        let (t, names) = (strings(&args[0], n)?, strings(&args[1], n)?);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if t.is_null(i) || names.is_null(i) {
                out.push(None);
                continue;
            }
            let intent = lexicon
                .get(names.value(i))
                .ok_or_else(|| datafusion::error::DataFusionError::Plan(format!("intent_weight: `{}` is not an intent of intent.yaml", names.value(i))))?;
            out.push(Some(lexicon.weight(intent, &words(capped(t.value(i), &long)))));
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
    });
    vec![
        create_udf("sentiment", vec![DataType::Utf8], DataType::Float64, Volatility::Immutable, sentiment_fn),
        create_udf("intent_weight", vec![DataType::Utf8, DataType::Utf8], DataType::Float64, Volatility::Immutable, intent_fn),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        Lexicon::parse(
            "negations:\n  en: [not, no, never, \"*n't\"]\n  de: [nicht, kein*]\nintents:\n  cancel:\n    label: cancelling\n    phrases:\n      en: { 'cancel*': 1.0, 'not renew': 1.0, 'end our contract': 0.8 }\n      de: { 'kündigen': 1.0 }\n    except:\n      en: ['cancel* the meeting']\n  competitor:\n    label: moving to a competitor\n    phrases:\n      en: { competitor: 1.0, 'switch to': 0.6 }\n",
            "intent.yaml",
        )
        .unwrap()
    }

    fn w(intent: &str, text: &str) -> f64 {
        let l = lexicon();
        l.weight(l.get(intent).unwrap(), &words(text))
    }

    #[test]
    fn intents_match_on_word_boundaries_and_not_when_negated() {
        assert_eq!(w("cancel", "We will Cancel at renewal."), 1.0);
        assert_eq!(w("cancel", "the cancellation process?"), 1.0, "a stem");
        assert_eq!(w("cancel", "We are NOT cancelling."), 0.0);
        assert_eq!(w("cancel", "we don't want to cancel"), 0.0, "…n't within three words");
        assert_eq!(w("cancel", "we have no choice but to cancel"), 1.0, "a negation four words back does not count");
        assert_eq!(w("cancel", "we will not renew"), 1.0, "a phrase may carry its own negation");
        assert_eq!(w("cancel", "we never said we would not renew"), 1.0, "the window is before the phrase");
        assert_eq!(w("cancel", "we want to end our contract early"), 0.8);
        assert_eq!(w("cancel", "Wir möchten kündigen"), 1.0, "another language's list");
        assert_eq!(w("cancel", "Wir werden nicht kündigen"), 0.0, "and its negations");
        assert_eq!(w("cancel", "Wir wollen auf keinen Fall kündigen"), 0.0, "a negation's stem");
        assert_eq!(w("cancel", "Please cancel the meeting on Friday"), 0.0, "a harmless use");
        assert_eq!(w("cancel", "Cancel the meeting: we will cancel the contract"), 1.0, "beside a real one");
        assert_eq!(w("competitor", "competitors' pricing page"), 0.0, "exact words: not a stem");
        assert_eq!(w("competitor", "we may switch to Acme"), 0.6);
        assert_eq!(w("competitor", "a switchboard to the office"), 0.0);
        assert!(Lexicon::parse("intents: { x: { label: x, phrases: { en: { a: 2.0 } } } }\n", "intent.yaml").unwrap_err().to_string().contains("weight 2"));
    }

    #[test]
    fn sentiment_is_vaders_compound_on_hand_checked_sentences() {
        let a = vader_parity::SentimentIntensityAnalyzer::new();
        let long = AtomicUsize::new(0);
        let s = |t: &str| sentiment(&a, t, &long);
        // values from Python's vaderSentiment 3.3.2
        assert_eq!(s("The support team was great"), 0.7783);
        assert_eq!(s("The support team was not great"), -0.1516, "negation flips");
        assert_eq!(s("The support team was extremely great"), 0.796, "an intensifier raises");
        assert_eq!(s("The support team was GREAT!!!"), 0.8559, "caps and exclamation raise");
        assert_eq!(s("Billing is a mess 😡"), -0.3612, "emoji read");
        assert_eq!(s(""), 0.0);
        let huge = "bad ".repeat(MAX_CHARS);
        assert!(s(&huge) < 0.0);
        assert_eq!(long.load(Ordering::Relaxed), 1, "a message past the cap is counted");
    }
}
