//! Days as Arrow stores them (Date32: days since 1970-01-01) and back. A leaf
//! every stage uses; nothing here knows a table or a company.

use chrono::NaiveDate;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date")
}

/// The Date32 value of `d`.
pub fn day(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

/// The date of a Date32 value.
pub fn date(day: i32) -> NaiveDate {
    epoch() + chrono::Days::new(day as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_and_date_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(day(d), 20_758);
        assert_eq!(date(day(d)), d);
        assert_eq!(date(0), epoch());
    }
}
