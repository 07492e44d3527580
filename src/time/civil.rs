//! Calendar dates to epoch milliseconds and back (proleptic Gregorian, UTC), for the timestamps of
//! recorded chat logs: ISO-8601 (`2021-07-15T01:59:24.123Z`, `+02:00` offsets), `2019-04-30_08:56:59`
//! and `2017-10-25 09:18:56 UTC`.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

/// Parses `YYYY-MM-DD?HH:MM:SS[.frac][Z|UTC|±HH:MM|±HHMM]` where `?` is `T`, a space or `_`.
/// A timestamp without a zone is read as UTC shifted by `default_offset_s` (its local offset).
/// Returns epoch milliseconds, or None when the text is not such a timestamp.
pub fn parse_timestamp_ms(text: &str, default_offset_s: i32) -> Option<i64> {
    let s = text.trim().as_bytes();
    if s.len() < 19 || s[4] != b'-' || s[7] != b'-' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    if !matches!(s[10], b'T' | b' ' | b'_' | b't') {
        return None;
    }
    let year = digits(&s[0..4])? as i64;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let minute = digits(&s[14..16])?;
    let second = digits(&s[17..19])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut ms = 0i64;
        for i in 0..3 {
            ms = ms * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        millis = ms;
        rest = &frac[n..];
    }
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let offset_s: i64 = match rest {
        b"" => i64::from(default_offset_s),
        b"Z" | b"z" | b"UTC" | b"GMT" => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                _ => return None,
            };
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    Some(secs * 1000 + millis)
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_timestamp_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Parses a UTC offset such as `-07:00`, `+0530`, `Z` or `UTC` into seconds.
pub fn parse_offset_s(text: &str) -> Option<i32> {
    let probe = format!("2000-01-01T00:00:00{}", text.trim());
    parse_timestamp_ms(&probe, 0).map(|ms| -((ms - 946_684_800_000) / 1000) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:00Z", 0), Some(0));
        assert_eq!(
            parse_timestamp_ms("2024-01-06T16:19:44.095Z", 0),
            Some(1_704_557_984_095)
        );
        assert_eq!(
            parse_timestamp_ms("2017-10-25 01:44:47 UTC", 0),
            Some(1_508_895_887_000)
        );
        // admiralbulldog's logger time, read as UTC-7, is 15:56:59 UTC.
        assert_eq!(
            parse_timestamp_ms("2019-04-30_08:56:59", -7 * 3600),
            parse_timestamp_ms("2019-04-30T15:56:59Z", 0)
        );
        assert_eq!(
            parse_timestamp_ms("2025-03-13T09:57:37.902648", 0),
            Some(1_741_859_857_902)
        );
        assert_eq!(
            parse_timestamp_ms("2021-07-15T02:01:48.74506207+02:00", 0),
            parse_timestamp_ms("2021-07-15T00:01:48.745Z", 0)
        );
    }

    #[test]
    fn rejects_non_timestamps() {
        for s in [
            "",
            "2019-04-30",
            "2019-13-30T00:00:00Z",
            "2019-04-30T00:00:00X",
            "abcd-ef-ghTij:kl:mn",
        ] {
            assert_eq!(parse_timestamp_ms(s, 0), None, "{s}");
        }
    }

    #[test]
    fn days_round_trip_across_eras() {
        for days in [-800_000i64, -1, 0, 1, 11_016, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(
            format_timestamp_ms(1_704_557_984_095),
            "2024-01-06T16:19:44.095Z"
        );
        assert_eq!(parse_offset_s("-07:00"), Some(-25_200));
        assert_eq!(parse_offset_s("UTC"), Some(0));
    }
}
