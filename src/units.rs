//! Units on the command line: durations in humantime syntax (`2s`, `250ms`), byte sizes with
//! optional decimal or binary suffixes (`1400`, `64KiB`, `1MB`), bit rates (`50Mbit`, `1Gbit`)
//! and percentages (`30%`, or the fraction `0.3`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Parses a humantime duration, with an error message that shows the expected form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|err| format!("{err}; expected a duration such as 2s, 250ms, 1m or 0s"))
}

/// A number of bytes, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let bad = || {
            format!(
                "'{text}' is not a byte size; expected a number with an optional unit: \
                 B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 1400 or 64KiB"
            )
        };
        let number: u64 = digits.parse().map_err(|_| bad())?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "ki" | "kib" => 1 << 10,
            "mi" | "mib" => 1 << 20,
            "gi" | "gib" => 1 << 30,
            _ => return Err(bad()),
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("'{text}' is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// A bit rate, as typed on the command line: `50Mbit`, `1Gbit`, `500kbit`, `2.5Gbit` (decimal
/// prefixes, as iperf3 and tc use them), or a plain number of bits per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub bits_per_second: f64,
}

impl Rate {
    /// How long a link at this rate takes to carry `bytes`.
    pub fn transmission_time(self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.bits_per_second)
    }

    /// How many bytes a link at this rate carries in `time`.
    pub fn bytes_in(self, time: Duration) -> u64 {
        (self.bits_per_second / 8.0 * time.as_secs_f64()) as u64
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "'{text}' is not a bit rate; expected a number with a unit such as 500kbit, \
                 50Mbit or 1Gbit (powers of 1000)"
            )
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit = unit.trim().to_ascii_lowercase();
        let unit = unit
            .strip_suffix("bit/s")
            .or_else(|| unit.strip_suffix("bps"))
            .or_else(|| unit.strip_suffix("bit"))
            .unwrap_or(&unit);
        let multiplier = match unit {
            "" => 1.0,
            "k" => 1e3,
            "m" => 1e6,
            "g" => 1e9,
            _ => return Err(bad()),
        };
        let bits_per_second = number * multiplier;
        if !bits_per_second.is_finite() || bits_per_second < 1.0 {
            return Err(format!(
                "'{text}' is too small a rate: a link must carry at least 1 bit/s; leave the flag \
                 out for no limit"
            ));
        }
        Ok(Rate { bits_per_second })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.bits_per_second;
        let (value, unit) = match bits {
            b if b >= 1e9 => (b / 1e9, "Gbit"),
            b if b >= 1e6 => (b / 1e6, "Mbit"),
            b if b >= 1e3 => (b / 1e3, "kbit"),
            b => (b, "bit"),
        };
        write!(f, "{}{unit}", trim_float(value))
    }
}

/// `bytes` over `time` as people read a rate: `7.093 Gbit/s`, `38.15 Mbit/s`, `512.0 kbit/s`,
/// four figures in the largest unit under the value (iperf3 picks its unit the same way), so that
/// a slow path does not read `0.038 Gbit/s`.
pub fn bit_rate(bytes: u64, time: Duration) -> String {
    let bits = bytes as f64 * 8.0 / time.as_secs_f64().max(1e-9);
    let (value, unit) = match bits {
        b if b >= 1e9 => (b / 1e9, "Gbit/s"),
        b if b >= 1e6 => (b / 1e6, "Mbit/s"),
        b if b >= 1e3 => (b / 1e3, "kbit/s"),
        b => (b, "bit/s"),
    };
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    format!("{value:.decimals$} {unit}")
}

/// A probability, typed as a percentage (`30%`, `0.5%`) or as a fraction (`0.3`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percent {
    /// From 0.0 to 1.0.
    pub fraction: f64,
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let (number, scale) = match trimmed.strip_suffix('%') {
            Some(number) => (number.trim(), 100.0),
            None => (trimmed, 1.0),
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("'{text}' is not a percentage; expected e.g. 30% or 0.5% (or a fraction: 0.3)")
        })?;
        let fraction = value / scale;
        if !(0.0..=1.0).contains(&fraction) {
            let hint = if scale == 1.0 && value > 1.0 && value <= 100.0 {
                format!(" (for {value} percent write {value}%)")
            } else {
                String::new()
            };
            return Err(format!(
                "'{text}' is not a percentage between 0% and 100%{hint}"
            ));
        }
        Ok(Percent { fraction })
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", trim_float(self.fraction * 100.0))
    }
}

/// `2.50` as `2.5`, `3.00` as `3`: figures as a person would write them.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A loss percentage as ping prints it: `0`, `100`, `7`, `0.44`, never a nonzero loss rounded
/// down to `0` (which once read "0% loss" with 22 of 5000 datagrams missing).
pub fn loss_percent(lost: u64, sent: u64) -> String {
    if lost == 0 || sent == 0 {
        return "0".to_string();
    }
    let percent = lost as f64 * 100.0 / sent as f64;
    let text = match percent {
        p if p >= 10.0 => format!("{p:.1}"),
        p if p >= 0.01 => format!("{p:.2}"),
        _ => return "<0.01".to_string(),
    };
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A duration in milliseconds with three decimals, as ping prints round-trip times.
pub fn millis(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!("1400".parse(), Ok(ByteSize(1400)));
        assert_eq!("64KiB".parse(), Ok(ByteSize(65536)));
        assert_eq!("1MB".parse(), Ok(ByteSize(1_000_000)));
        assert_eq!("2 GiB".parse(), Ok(ByteSize(2 << 30)));
        assert!("".parse::<ByteSize>().is_err());
        assert!("12XB".parse::<ByteSize>().is_err());
        assert!("-5".parse::<ByteSize>().is_err());
        assert!("99999999999999999999GiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn loss_and_rates_read_as_people_write_them() {
        assert_eq!(loss_percent(0, 5000), "0");
        assert_eq!(loss_percent(22, 5000), "0.44");
        assert_eq!(loss_percent(1, 100_000), "<0.01");
        assert_eq!(loss_percent(35, 500), "7");
        assert_eq!(loss_percent(1, 3), "33.3");
        assert_eq!(loss_percent(2, 2), "100");
        assert_eq!(
            bit_rate(1_000_000_000, Duration::from_secs(1)),
            "8.000 Gbit/s"
        );
        assert_eq!(bit_rate(4_768_750, Duration::from_secs(1)), "38.15 Mbit/s");
        assert_eq!(bit_rate(64_000, Duration::from_secs(1)), "512.0 kbit/s");
    }

    #[test]
    fn rates() {
        let rate = |text: &str| text.parse::<Rate>().map(|rate| rate.bits_per_second);
        assert_eq!(rate("50Mbit"), Ok(50e6));
        assert_eq!(rate("1Gbit"), Ok(1e9));
        assert_eq!(rate("500kbit"), Ok(500e3));
        assert_eq!(rate("2.5gbit"), Ok(2.5e9));
        assert_eq!(rate("100M"), Ok(100e6));
        assert_eq!(rate("10Mbps"), Ok(10e6));
        assert!(rate("0").unwrap_err().contains("too small"));
        assert!(rate("fast").unwrap_err().contains("50Mbit"));
        assert!(rate("5MB").is_err());
        assert_eq!(
            "50Mbit".parse::<Rate>().map(|r| r.to_string()),
            Ok("50Mbit".into())
        );
        let rate = Rate {
            bits_per_second: 8e6,
        };
        assert_eq!(rate.transmission_time(1000), Duration::from_millis(1));
        assert_eq!(rate.bytes_in(Duration::from_secs(1)), 1_000_000);
    }

    #[test]
    fn percentages() {
        let percent = |text: &str| text.parse::<Percent>().map(|p| p.fraction);
        assert_eq!(percent("30%"), Ok(0.3));
        assert_eq!(percent("0.3"), Ok(0.3));
        assert_eq!(percent("0%"), Ok(0.0));
        assert_eq!(percent("100%"), Ok(1.0));
        assert!(percent("120%").unwrap_err().contains("between 0% and 100%"));
        assert!(percent("5").unwrap_err().contains("write 5%"));
        assert!(percent("-1%").is_err());
        assert!(percent("lots").is_err());
        assert_eq!(
            "2.5%".parse::<Percent>().map(|p| p.to_string()),
            Ok("2.5%".into())
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").unwrap_err().contains("2s"));
    }
}
