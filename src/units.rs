//! Exact quantities: money in micro-units (no floating point anywhere), CPU in
//! millicores, memory in MiB. Parsers take what a user types and say what form
//! they expect when the input does not fit.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// An amount of money in millionths of the currency unit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(pub i64);

const MICROS: i64 = 1_000_000;

impl Money {
    /// Parses `12`, `0.0070`, `-5.25` (at most 6 decimals).
    pub fn parse(what: &str, s: &str) -> Result<Money> {
        let bad = || {
            invalid(format!(
                "{what} \"{}\" is not an amount: write a decimal number like 0.0070 or 25.00 (at most 6 decimals)",
                crate::validate::printable(s)
            ))
        };
        let t = s.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 6
            || whole.len() > 12
            || (whole.is_empty() && frac.is_empty())
        {
            return Err(bad());
        }
        let w: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let f: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().map_err(|_| bad())?
        };
        let v = w * MICROS + f;
        Ok(Money(if neg { -v } else { v }))
    }

    /// Multiplies by a count of hours (e.g. the 730 of an average month).
    pub fn times(self, n: i64) -> Money {
        Money(self.0.saturating_mul(n))
    }

    /// Shows at least 2 and at most `max_decimals` decimals, trimming zeros
    /// beyond the second. Rounds half away from zero past `max_decimals`.
    pub fn format(self, max_decimals: u32) -> String {
        let max = max_decimals.min(6);
        let step = 10i64.pow(6 - max);
        let mut v = self.0.abs();
        v = (v + step / 2) / step * step;
        let whole = v / MICROS;
        let mut frac = format!("{:06}", v % MICROS);
        frac.truncate(max as usize);
        while frac.len() > 2 && frac.ends_with('0') {
            frac.pop();
        }
        let sign = if self.0 < 0 && v != 0 { "-" } else { "" };
        format!("{sign}{whole}.{frac}")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(6))
    }
}

/// `0.5` → 500 millicores; from 0.01 to 256 CPUs.
pub fn parse_cpu(s: &str) -> Result<i64> {
    let m = Money::parse("cpu", s).map_err(|_| cpu_error(s))?;
    if m.0 % 1000 != 0 {
        return Err(cpu_error(s));
    }
    let millis = m.0 / 1000;
    if !(10..=256_000).contains(&millis) {
        return Err(cpu_error(s));
    }
    Ok(millis)
}

fn cpu_error(s: &str) -> crate::error::Error {
    invalid(format!(
        "cpu \"{}\" is invalid: give CPUs as a number from 0.01 to 256 with at most 3 decimals, like 0.5",
        crate::validate::printable(s)
    ))
}

pub fn format_cpu(millis: i64) -> String {
    let frac = format!("{:03}", millis % 1000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}", millis / 1000)
    } else {
        format!("{}.{frac}", millis / 1000)
    }
}

/// `512M`, `512MB`, `1G`, `2GB`, `256` (MiB) → MiB; from 16 MiB to 1 TiB.
pub fn parse_memory(s: &str) -> Result<i64> {
    let bad = || {
        invalid(format!(
            "memory \"{}\" is invalid: write a whole number of megabytes or gigabytes like 512M or 2G \
             (from 16M to 1024G)",
            crate::validate::printable(s)
        ))
    };
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("GB").or_else(|| t.strip_suffix('G')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("MB").or_else(|| t.strip_suffix('M')) {
        (n, 1)
    } else {
        (t.as_str(), 1)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.len() > 9 {
        return Err(bad());
    }
    let mb = num.parse::<i64>().map_err(|_| bad())? * mult;
    if !(16..=1024 * 1024).contains(&mb) {
        return Err(bad());
    }
    Ok(mb)
}

pub fn format_memory(mb: i64) -> String {
    if mb % 1024 == 0 {
        format!("{}G", mb / 1024)
    } else {
        format!("{mb}M")
    }
}

/// Days since 1970-01-01 of a (proleptic Gregorian) date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month, day, hour and minute (UTC) of unix seconds.
pub fn civil(t: i64) -> (i64, i64, i64, i64, i64) {
    let secs = t.rem_euclid(86_400);
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(next.0, next.1, 1) - days_from_civil(y, m, 1)
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A UTC time as a user types it: `2026-11-24`, `2026-11-24T10:00Z`,
/// `2026-11-24T10:00:00Z` (a space for the T and no Z work too).
pub fn parse_utc(what: &str, s: &str) -> Result<i64> {
    let bad = || {
        invalid(format!(
            "{what} \"{}\" is not a date or time: write 2026-11-24 or 2026-11-24T10:00Z (UTC)",
            crate::validate::printable(s)
        ))
    };
    let t = s.trim();
    let t = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix('z'))
        .unwrap_or(t);
    let (date, time) = match t.split_once(['T', 't', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (y, m, d) = match (digits(y, 4), digits(m, 2), digits(d, 2)) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = 0;
    if let Some(tm) = time {
        let f: Vec<&str> = tm.split(':').collect();
        let (h, mi, se) = match f.as_slice() {
            [h, mi] => (digits(h, 2), digits(mi, 2), Some(0)),
            [h, mi, se] => (digits(h, 2), digits(mi, 2), digits(se, 2)),
            _ => return Err(bad()),
        };
        match (h, mi, se) {
            (Some(h), Some(mi), Some(se)) if h < 24 && mi < 60 && se < 60 => {
                secs = h * 3600 + mi * 60 + se
            }
            _ => return Err(bad()),
        }
    }
    Ok(days_from_civil(y, m, d) * 86_400 + secs)
}

/// `2026-11` → the month's first second and the next month's (UTC).
pub fn parse_month(s: &str) -> Result<(i64, i64)> {
    let bad = || {
        invalid(format!(
            "month \"{}\" is not a month: write it as YYYY-MM, like 2026-11",
            crate::validate::printable(s)
        ))
    };
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    let (y, m) = match (digits(y, 4), digits(m, 2)) {
        (Some(y), Some(m)) if (1..=12).contains(&m) => (y, m),
        _ => return Err(bad()),
    };
    let start = days_from_civil(y, m, 1) * 86_400;
    Ok((start, start + days_in_month(y, m) * 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parse_and_format_are_exact() {
        assert_eq!(Money::parse("p", "0.0070").expect("ok"), Money(7000));
        assert_eq!(Money::parse("p", "25").expect("ok"), Money(25_000_000));
        assert_eq!(Money::parse("p", "-5.25").expect("ok"), Money(-5_250_000));
        assert_eq!(Money::parse("p", ".5").expect("ok"), Money(500_000));
        for bad in ["", "abc", "1.2.3", "0.0000001", "1e3", "--1", "1,5", " . "] {
            assert!(Money::parse("p", bad).is_err(), "{bad:?}");
        }
        assert_eq!(Money(7000).format(4), "0.007");
        assert_eq!(Money(7000).times(730).format(2), "5.11");
        assert_eq!(Money(25_000_000).to_string(), "25.00");
        assert_eq!(Money(-5_250_000).to_string(), "-5.25");
        // 0.1 + 0.2 is exactly 0.3 here.
        assert_eq!(
            Money(100_000 + 200_000),
            Money::parse("p", "0.3").expect("ok")
        );
    }

    #[test]
    fn cpu_and_memory() {
        assert_eq!(parse_cpu("0.5").expect("ok"), 500);
        assert_eq!(parse_cpu("2").expect("ok"), 2000);
        for bad in ["0", "-1", "0.0001", "abc", "1000"] {
            assert!(parse_cpu(bad).is_err(), "{bad}");
        }
        assert_eq!(format_cpu(500), "0.5");
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(parse_memory("512M").expect("ok"), 512);
        assert_eq!(parse_memory("1g").expect("ok"), 1024);
        assert_eq!(parse_memory("256").expect("ok"), 256);
        for bad in ["", "8M", "1.5G", "lots", "-512M", "2T"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
        assert_eq!(format_memory(1024), "1G");
        assert_eq!(format_memory(512), "512M");
    }

    #[test]
    fn civil_dates_round_trip_and_parse() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            parse_utc("t", "2026-11-24T10:00Z").expect("parses"),
            1_795_514_400
        );
        assert_eq!(civil(1_795_514_400), (2026, 11, 24, 10, 0));
        assert_eq!(parse_utc("t", "2024-02-29").expect("parses") % 86_400, 0);
        for t in [0i64, 951_782_400, 1_709_164_800, 4_102_444_799, -86_400] {
            let (y, m, d, h, mi) = civil(t);
            assert_eq!(
                days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60,
                t - t.rem_euclid(60)
            );
        }
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-11-24T24:00Z",
            "24/11/2026",
            "",
            "2026-11-24T10",
        ] {
            assert!(parse_utc("--from", bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_month("2026-12").expect("parses").1,
            parse_utc("t", "2027-01-01").expect("parses")
        );
        assert_eq!(
            parse_month("2026-02").expect("parses").1 - parse_month("2026-02").expect("parses").0,
            28 * 86_400
        );
        for bad in ["2026-13", "2026-1", "202611", "2026-00", "nov"] {
            let e = parse_month(bad).expect_err("bad month").to_string();
            assert!(e.contains("YYYY-MM"), "{e}");
        }
    }
}
