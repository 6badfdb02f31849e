//! Care segments and campaign audiences: health × value, for the teams that
//! run programmes rather than accounts (marketing lists, CS coverage).
//!
//! ```text
//!                 not green          green
//!  VIP (ARR ≥ x)  vip_retention      nurture_for_expansion if expanding, else low_touch
//!  the rest       emergency if red,  nurture_for_expansion if expanding, else low_touch
//!                 else low_touch
//! ```

use crate::config::Care;
use crate::domain::Tier;
use crate::output::tables::account_scores::{CareColumns, CareSegment, Row};

/// The care columns of a scored row (its 30-day delta already set).
pub fn classify(r: &Row, c: &Care) -> CareColumns {
    let vip = r.arr.is_finite() && r.arr >= c.vip_arr_at_least;
    let green = r.tier == Tier::Green;
    let expanding = green && (r.p_expand >= c.expansion_p_at_least || r.seat_utilization.is_some_and(|u| u >= c.seat_limit_utilization));
    let segment = match (vip, r.tier) {
        (true, Tier::Red | Tier::Yellow) => CareSegment::VipRetention,
        (false, Tier::Red) => CareSegment::Emergency,
        _ if expanding => CareSegment::NurtureForExpansion,
        _ => CareSegment::LowTouch,
    };
    CareColumns { segment, vip, win_back: r.delta_30d.is_some_and(|d| d <= -c.win_back_drop_points), expansion_intent: expanding }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn care() -> Care {
        Care { vip_arr_at_least: 100_000.0, expansion_p_at_least: 0.15, win_back_drop_points: 10.0, seat_limit_utilization: 0.9 }
    }

    fn row(tier: Tier, arr: f64) -> Row {
        let mut r = crate::output::tables::account_scores::tests::row("a");
        r.tier = tier;
        r.arr = arr;
        r.p_expand = 0.05;
        r.delta_30d = None;
        r
    }

    #[test]
    fn health_times_value_gives_the_segment() {
        let c = care();
        assert_eq!(classify(&row(Tier::Yellow, 150_000.0), &c).segment, CareSegment::VipRetention);
        assert_eq!(classify(&row(Tier::Red, 150_000.0), &c).segment, CareSegment::VipRetention);
        assert_eq!(classify(&row(Tier::Red, 20_000.0), &c).segment, CareSegment::Emergency);
        assert_eq!(classify(&row(Tier::Yellow, 20_000.0), &c).segment, CareSegment::LowTouch);
        assert_eq!(classify(&row(Tier::Green, 20_000.0), &c).segment, CareSegment::LowTouch);
        let mut near = row(Tier::Green, 20_000.0);
        near.seat_utilization = Some(0.95);
        assert_eq!(classify(&near, &c).segment, CareSegment::NurtureForExpansion, "near the seat limit");
        let mut r = row(Tier::Green, 150_000.0);
        r.p_expand = 0.2;
        let x = classify(&r, &c);
        assert_eq!((x.segment, x.vip, x.expansion_intent), (CareSegment::NurtureForExpansion, true, true));
        assert!(!classify(&row(Tier::Green, f64::NAN), &c).vip, "an unknown ARR is no VIP");
    }

    #[test]
    fn win_back_and_expansion_intent_are_audiences_of_their_own() {
        let c = care();
        let mut r = row(Tier::Yellow, 20_000.0);
        r.delta_30d = Some(-12.0);
        assert!(classify(&r, &c).win_back);
        r.delta_30d = Some(-5.0);
        assert!(!classify(&r, &c).win_back);
        r.p_expand = 0.5;
        r.seat_utilization = Some(1.0);
        assert!(!classify(&r, &c).expansion_intent, "only healthy accounts are expansion audiences");
    }
}
