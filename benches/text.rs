//! Throughput of the text functions the feature SQL calls — `sentiment()`
//! (VADER) and `intent_weight()` — through DataFusion, on a million
//! messages drawn from the generator's pools (tickets, emails, NPS
//! comments; one in a thousand 40 KB long, past the per-message cap).
//!
//!     cargo bench --bench text [-- MESSAGES]     (default 1,000,000)

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let g = healthscore::generate::text::all_texts();
    let long = "The export keeps failing and nobody answers. ".repeat(900);
    let texts: Vec<String> = (0..n).map(|i| if i % 1000 == 999 { long.clone() } else { g[i % g.len()].to_string() }).collect();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
    let batches: Vec<RecordBatch> = texts.chunks(8192).map(|c| RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(c.to_vec()))]).unwrap()).collect();
    let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_target_partitions(2));
    ctx.register_table("messages", Arc::new(MemTable::try_new(schema, vec![batches]).unwrap())).unwrap();
    let lexicon = healthscore::features::text::Lexicon::parse(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/features/v3/intent.yaml")).unwrap(),
        "intent.yaml",
    )
    .unwrap();
    let long_count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for f in healthscore::features::text::udfs(Arc::new(lexicon), long_count.clone()) {
        ctx.register_udf(f);
    }
    println!("{n} messages, {:.1} MB of text (2 threads)", chars as f64 / 1e6);
    for (what, sql) in [
        ("sentiment()", "SELECT sum(sentiment(text)) FROM messages"),
        ("intent_weight() × 6", "SELECT sum(intent_weight(text, 'cancel') + intent_weight(text, 'competitor') + intent_weight(text, 'downgrade') + intent_weight(text, 'budget_cut') + intent_weight(text, 'price') + intent_weight(text, 'champion_leaving')) FROM messages"),
    ] {
        let mut secs = Vec::new();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            ctx.sql(sql).await.unwrap().collect().await.unwrap();
            secs.push(t.elapsed().as_secs_f64());
        }
        secs.sort_by(f64::total_cmp);
        println!("  {what:<22} median {:.2} s of 3 = {:.0} messages/s", secs[1], n as f64 / secs[1]);
    }
    println!("  messages past the {}-character cap, counted: {}", healthscore::features::text::MAX_CHARS, long_count.load(std::sync::atomic::Ordering::Relaxed));
}
