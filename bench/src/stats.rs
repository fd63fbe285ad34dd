//! Medians and spreads of a scenario's runs, and the number formatting of the report.

/// The distribution of one driver's throughputs in one scenario.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// The first and third quartiles (linear interpolation between the sorted values).
    pub q1: f64,
    pub q3: f64,
}

impl Summary {
    /// Summarizes `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        Some(Summary {
            median: quantile(&sorted, 0.5),
            min,
            max,
            q1: quantile(&sorted, 0.25),
            q3: quantile(&sorted, 0.75),
        })
    }

    /// `(q3 - q1) / median`, in percent.
    pub fn iqr_percent(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.q3 - self.q1) / self.median * 100.0
        }
    }
}

/// The `q` quantile of sorted, non-empty `values`, interpolated linearly.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let (a, b) = (sorted[low], sorted[high]);
    a + (b - a) * (position - low as f64)
}

/// A number with thousands separators and no decimals (`1,234,567`), or with one significant
/// decimal below 100.
pub fn group(value: f64) -> String {
    if value.abs() < 100.0 {
        return format!("{value:.1}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (3.0, 1.0, 5.0));
        let even = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert_eq!((even.q1, even.q3), (1.75, 3.25));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn grouping() {
        assert_eq!(group(1234567.4), "1,234,567");
        assert_eq!(group(999.6), "1,000");
        assert_eq!(group(100.0), "100");
        assert_eq!(group(12.34), "12.3");
        assert_eq!(group(-4321.0), "-4,321");
    }
}
