//! The build's one timestamp, in the three forms the archive needs: seconds since the epoch
//! (from `SOURCE_DATE_EPOCH`), MS-DOS date and time (zip entries), and `built_at` text.
//!
//! No date crate: UTC calendar arithmetic is a dozen lines (Howard Hinnant's
//! `civil_from_days`), and the archive needs nothing else.

use anyhow::{bail, Result};

/// 1980-01-01 00:00:00 UTC: the earliest MS-DOS date, and the build time when
/// `SOURCE_DATE_EPOCH` is not set (shiv's `--reproducible` uses it too).
pub const DOS_EPOCH: u64 = 315_532_800;

/// 2107-12-31 23:59:58 UTC: the latest MS-DOS date and time.
const DOS_END: u64 = 4_354_819_198;

/// The build time, in seconds since the Unix epoch: `SOURCE_DATE_EPOCH` when it is set
/// (reproducible-builds.org's specification: a decimal integer, as `date +%s` prints it),
/// else 1980-01-01. An empty value counts as unset, as most tools that read it do.
pub fn build_timestamp() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if value.is_empty() => Ok(DOS_EPOCH),
        Ok(value) => parse_epoch(&value),
        Err(std::env::VarError::NotPresent) => Ok(DOS_EPOCH),
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!("SOURCE_DATE_EPOCH is not valid UTF-8: expected seconds since 1970-01-01")
        }
    }
}

fn parse_epoch(value: &str) -> Result<u64> {
    match value.parse::<u64>() {
        Ok(seconds) => Ok(seconds),
        Err(_) => bail!(
            "SOURCE_DATE_EPOCH={value:?} is not a number of seconds since 1970-01-01 \
             (a non-negative integer, as `date +%s` prints)"
        ),
    }
}

/// `seconds` as `%Y-%m-%d %H:%M:%S` in UTC: shiv's `built_at`.
pub fn format_utc(seconds: u64) -> String {
    let civil = Civil::from_unix(seconds);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        civil.year, civil.month, civil.day, civil.hour, civil.minute, civil.second
    )
}

/// `seconds` as the MS-DOS `(time, date)` pair of a zip header (APPNOTE 4.4.6), in UTC,
/// clamped to the range the format can hold (1980 to 2107). Seconds are stored halved, so
/// an odd second rounds down.
pub fn dos_datetime(seconds: u64) -> (u16, u16) {
    let civil = Civil::from_unix(seconds.clamp(DOS_EPOCH, DOS_END));
    let time = (civil.hour << 11) | (civil.minute << 5) | (civil.second / 2);
    let date = ((civil.year - 1980) << 9) | (civil.month << 5) | civil.day;
    // The clamp keeps every field within its bits: year - 1980 <= 127.
    (time as u16, date as u16)
}

/// A UTC date and time of day.
struct Civil {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    fn from_unix(seconds: u64) -> Civil {
        let days = seconds / 86_400;
        let rest = (seconds % 86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
        }
    }
}

/// Year, month (1-12) and day (1-31) of the proleptic Gregorian calendar, `days` after
/// 1970-01-01 (Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // Years beyond u32 are 4e9 years away; saturate rather than wrap.
    (
        u32::try_from(year).unwrap_or(u32::MAX),
        month as u32,
        day as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_strftime_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(DOS_EPOCH), "1980-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_utc(DOS_END), "2107-12-31 23:59:58");
    }

    #[test]
    fn dos_fields_pack_and_clamp() {
        assert_eq!(dos_datetime(DOS_EPOCH), (0, (1 << 5) | 1));
        // 2023-11-14 22:13:20 -> seconds halved.
        let (time, date) = dos_datetime(1_700_000_000);
        assert_eq!(
            (time >> 11, (time >> 5) & 63, (time & 31) * 2),
            (22, 13, 20)
        );
        assert_eq!(
            (1980 + (date >> 9), (date >> 5) & 15, date & 31),
            (2023, 11, 14)
        );
        assert_eq!(dos_datetime(0), dos_datetime(DOS_EPOCH));
        assert_eq!(dos_datetime(u64::MAX), dos_datetime(DOS_END));
        assert_eq!(dos_datetime(DOS_EPOCH + 3).0, 1);
    }

    #[test]
    fn source_date_epoch_must_be_an_integer() {
        assert_eq!(parse_epoch("1700000000").unwrap(), 1_700_000_000);
        let err = parse_epoch("yesterday").unwrap_err().to_string();
        assert!(err.contains("SOURCE_DATE_EPOCH=\"yesterday\""), "{err}");
        assert!(parse_epoch("-5").is_err());
        assert!(parse_epoch("1.5").is_err());
    }
}
