//! Marathon's timestamps: ISO-8601 in UTC with milliseconds and a `Z`
//! (`2015-09-30T09:09:17.614Z`). Every app version is one. marathon-python
//! parses only `%Y-%m-%dT%H:%M:%S.%fZ` and `%Y-%m-%dT%H:%M:%SZ`, so the
//! offset is always `Z`, never `+00:00`.
//!
//! Pure civil-date arithmetic (proleptic Gregorian calendar, days counted
//! from 1970-01-01); no clock is read here.

/// Why a string is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a UTC timestamp: use ISO-8601 with a Z, e.g. 2015-09-30T09:09:17.614Z")]
pub struct BadTimestamp {
    pub value: String,
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso8601(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let in_day = ms % 86_400_000;
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    // Written digit by digit: `format!` with seven padded numbers cost a
    // sixth of the leader's CPU in a 10,000-task app listing.
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999) as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, h);
    put(14, 2, min);
    put(17, 2, s);
    put(20, 3, milli);
    out.iter().map(|&b| char::from(b)).collect()
}

/// The ms since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z`. The
/// fraction may have 1 to 9 digits; what is finer than a millisecond is
/// dropped (marathon-python sends microseconds). Times before the epoch
/// are refused: no version is that old.
pub fn parse_iso8601(text: &str) -> Result<u64, BadTimestamp> {
    parse_parts(text).ok_or_else(|| BadTimestamp {
        value: text.to_string(),
    })
}

fn parse_parts(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let rest = text.strip_suffix('Z')?;
    if b.len() < 20 || !rest.is_ascii() {
        return None;
    }
    let sep = |i: usize, c: u8| b[i] == c;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        let s = &rest[from..to];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, min, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let milli = match &rest[19..] {
        "" => 0,
        frac => {
            let digits = frac.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let padded = format!("{digits:0<3}");
            padded[..3].parse::<u64>().ok()?
        }
    };
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || h > 23 || min > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    let days = u64::try_from(days).ok()?;
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + milli)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        // February: the days until March 1st (leap years per the calendar
        // arithmetic below, which knows the 4/100/400 rule).
        2 => (days_from_civil(y as i64, 3, 1) - days_from_civil(y as i64, 2, 1)) as u64,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm:
/// years start in March, so the leap day is the last day of a year).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = (i64::from(m) + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (the inverse of
/// [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both directions: `ms` prints as `text` and `text` reads as `ms`.
    fn check(ms: u64, text: &str) {
        assert_eq!(iso8601(ms), text, "format {ms}");
        assert_eq!(parse_iso8601(text), Ok(ms), "parse {text}");
    }

    #[test]
    fn formats_and_parses() {
        check(0, "1970-01-01T00:00:00.000Z");
        check(1, "1970-01-01T00:00:00.001Z");
        check(86_399_999, "1970-01-01T23:59:59.999Z");
        check(1_443_604_157_614, "2015-09-30T09:09:17.614Z");
        // Leap years: 2000 (divisible by 400) has Feb 29, 2100 does not.
        check(951_782_400_000, "2000-02-29T00:00:00.000Z");
        check(951_868_800_000, "2000-03-01T00:00:00.000Z");
        check(1_709_164_800_000, "2024-02-29T00:00:00.000Z");
        check(4_107_542_400_000, "2100-03-01T00:00:00.000Z");
        check(1_704_067_199_999, "2023-12-31T23:59:59.999Z");
        check(1_704_067_200_000, "2024-01-01T00:00:00.000Z");
        check(253_402_300_799_999, "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_clients_send() {
        let ok = [
            ("2015-09-30T09:09:17Z", 1_443_604_157_000),
            ("2015-09-30T09:09:17.6Z", 1_443_604_157_600),
            ("2015-09-30T09:09:17.614123Z", 1_443_604_157_614),
            ("2015-09-30T09:09:17.614999999Z", 1_443_604_157_614),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_iso8601(text), Ok(ms), "{text}");
        }
        let bad = [
            "",
            "2015-09-30T09:09:17.614",
            "2015-09-30T09:09:17.614+00:00",
            "2015-09-30 09:09:17.614Z",
            "2015-09-30T09:09:17.Z",
            "2015-09-30T09:09:17.1234567890Z",
            "2015-13-01T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2015-04-31T00:00:00Z",
            "2015-09-30T24:00:00Z",
            "2015-09-30T09:60:00Z",
            "2015-09-30T09:09:60Z",
            "1969-12-31T23:59:59Z",
            "+015-09-30T09:09:17Z",
            "2015-09-30T09:09:1éZ",
        ];
        for text in bad {
            assert_eq!(
                parse_iso8601(text),
                Err(BadTimestamp {
                    value: text.to_string()
                }),
                "{text:?} should be refused"
            );
        }
        assert_eq!(
            parse_iso8601("yesterday").unwrap_err().to_string(),
            "\"yesterday\" is not a UTC timestamp: use ISO-8601 with a Z, e.g. 2015-09-30T09:09:17.614Z"
        );
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let mut day = 0;
        let mut prev = (1969, 12, 31);
        while day < 146_097 {
            let date = civil_from_days(day);
            assert_eq!(days_from_civil(date.0, date.1, date.2), day);
            let next_of_prev = if prev.2 < days_in_month(prev.0 as u64, u64::from(prev.1)) as u32 {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!(date, next_of_prev, "day {day}");
            prev = date;
            day += 1;
        }
    }
}
