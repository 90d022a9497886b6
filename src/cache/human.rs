//! Times and tables as operators read and type them: `3 minutes ago`,
//! `2026-11-21T09:15:48Z`, durations such as `30d` on the command line, aligned columns.
//! (Sizes are `progress::human_bytes`, shared with the build's summary line.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long before `now` the moment `then` was: `just now`, `1 minute ago`, `3 days ago`.
/// A moment in the future (clocks differ between machines sharing a cache) is `just now`.
pub fn ago(then: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(then).map_or(0, |d| d.as_secs());
    let (count, unit) = match secs {
        0..=59 => return "just now".to_string(),
        60..=3_599 => (secs / 60, "minute"),
        3_600..=86_399 => (secs / 3_600, "hour"),
        86_400..=5_183_999 => (secs / 86_400, "day"),
        5_184_000..=63_071_999 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

/// ISO 8601 / RFC 3339 in UTC to the second: `2026-11-21T09:15:48Z`.
pub fn iso8601(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // `format_utc` is `%Y-%m-%d %H:%M:%S`, the calendar arithmetic kept in one place.
    format!("{}Z", crate::archive::format_utc(secs).replace(' ', "T"))
}

/// Rows as left-aligned columns two spaces apart; the last column is not padded, so no
/// line ends in spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// A bad `--older-than` value.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid duration `{value}`: expected a number and a unit, such as 90s, 15m, 12h, 30d or 2w"
)]
pub struct DurationError {
    value: String,
}

/// Parse a duration as `rshiv cache prune --older-than` takes it: one or more
/// `<number><unit>` groups with units `s`, `m`, `h`, `d`, `w` (`90s`, `36h`, `1d12h`).
pub fn parse_duration(value: &str) -> Result<Duration, DurationError> {
    let error = || DurationError {
        value: value.to_string(),
    };
    let mut total: u64 = 0;
    let mut rest = value.trim();
    if rest.is_empty() {
        return Err(error());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        let number: u64 = rest[..digits].parse().map_err(|_| error())?;
        let unit = rest[digits..].chars().next().ok_or_else(error)?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(error()),
        };
        let secs = number.checked_mul(scale).ok_or_else(error)?;
        total = total.checked_add(secs).ok_or_else(error)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_without_trailing_spaces() {
        let rows = vec![
            vec![
                "NAME".to_string(),
                "VERSION".to_string(),
                "LICENSE".to_string(),
            ],
            vec!["fastapi".to_string(), "0.110.0".to_string(), String::new()],
        ];
        assert_eq!(
            table(&rows),
            "NAME     VERSION  LICENSE\nfastapi  0.110.0\n"
        );
    }

    #[test]
    fn ages_read_naturally() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000_000);
        let before = |secs| now - Duration::from_secs(secs);
        assert_eq!(ago(before(5), now), "just now");
        assert_eq!(ago(now + Duration::from_secs(30), now), "just now");
        assert_eq!(ago(before(60), now), "1 minute ago");
        assert_eq!(ago(before(180), now), "3 minutes ago");
        assert_eq!(ago(before(7_200), now), "2 hours ago");
        assert_eq!(ago(before(86_400 * 12), now), "12 days ago");
        assert_eq!(ago(before(86_400 * 90), now), "3 months ago");
    }

    #[test]
    fn iso8601_is_utc() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(iso8601(t), "2024-02-29T23:59:59Z");
        let t = UNIX_EPOCH + Duration::from_secs(315_532_800);
        assert_eq!(iso8601(t), "1980-01-01T00:00:00Z");
    }

    #[test]
    fn durations_parse_with_units() {
        let secs = |v| parse_duration(v).unwrap().as_secs();
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("15m"), 900);
        assert_eq!(secs("12h"), 43_200);
        assert_eq!(secs("30d"), 2_592_000);
        assert_eq!(secs("2w"), 1_209_600);
        assert_eq!(secs("1d12h"), 129_600);
    }

    #[test]
    fn bad_durations_name_the_value() {
        for bad in ["", "30", "d", "30x", "-1d", "1.5d", "99999999999999999999w"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }
}
