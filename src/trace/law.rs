//! The laws a generated trace draws from: the batch-size law ([`BatchSpec`], exact as a
//! discrete pmf) and model weights.

use crate::error::{Error, Result};

/// The largest batch a generated trace may hold.
pub const MAX_BATCH: u32 = 65_536;
/// The batch-size law.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchSpec {
    /// `round(exp(N(mu, sigma)))`, clamped to `[1, max]`.
    LogNormal { mu: f64, sigma: f64, max: u32 },
    /// Explicit `(batch, weight)` pairs; weights need not sum to 1.
    Histogram(Vec<(u32, f64)>),
}

fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

impl BatchSpec {
    /// The exact discrete law: `(batch, probability)` with positive probabilities.
    pub fn pmf(&self) -> Result<Vec<(u32, f64)>> {
        match self {
            BatchSpec::LogNormal { mu, sigma, max } => {
                let ok = (1..=MAX_BATCH).contains(max)
                    && mu.is_finite()
                    && sigma.is_finite()
                    && *sigma >= 0.0;
                if !ok {
                    return Err(Error::Usage(format!(
                        "log-normal batches need a finite --batch-mu, --batch-sigma >= 0 and --max-batch in 1..={MAX_BATCH} (got {mu}, {sigma}, {max})"
                    )));
                }
                if *sigma == 0.0 {
                    let b = (mu.exp().round() as u32).clamp(1, *max);
                    return Ok(vec![(b, 1.0)]);
                }
                let cdf = |b: f64| phi((b.ln() - mu) / sigma);
                let v: Vec<(u32, f64)> = (1..=*max)
                    .map(|b| {
                        let lo = if b == 1 { 0.0 } else { cdf(b as f64 - 0.5) };
                        let hi = if b == *max { 1.0 } else { cdf(b as f64 + 0.5) };
                        (b, (hi - lo).max(0.0))
                    })
                    .filter(|(_, p)| *p > 0.0)
                    .collect();
                let s: f64 = v.iter().map(|x| x.1).sum();
                Ok(v.into_iter().map(|(b, p)| (b, p / s)).collect())
            }
            BatchSpec::Histogram(h) => {
                if h.is_empty() {
                    return Err(Error::Usage("a batch histogram needs an entry".into()));
                }
                if let Some((b, w)) = h
                    .iter()
                    .find(|&&(b, w)| !((1..=MAX_BATCH).contains(&b) && w.is_finite() && w >= 0.0))
                {
                    return Err(Error::Usage(format!(
                        "a batch histogram needs batch >= 1 (at most {MAX_BATCH}, the largest batch a trace holds) and weights >= 0; got {b}:{}",
                        crate::error::num(*w)
                    )));
                }
                let s: f64 = h.iter().map(|x| x.1).sum();
                if s <= 0.0 {
                    return Err(Error::Usage("batch histogram weights sum to 0".into()));
                }
                let mut v: Vec<(u32, f64)> = h
                    .iter()
                    .filter(|x| x.1 > 0.0)
                    .map(|&(b, w)| (b, w / s))
                    .collect();
                v.sort_by_key(|x| x.0);
                Ok(v)
            }
        }
    }

    /// Mean batch of the law.
    pub fn mean(&self) -> Result<f64> {
        Ok(self.pmf()?.iter().map(|&(b, p)| b as f64 * p).sum())
    }

    /// Parse `1:0.5,2:0.3,8:0.2`.
    pub fn parse_histogram(s: &str) -> Result<BatchSpec> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, w) = part.split_once(':').ok_or_else(|| {
                Error::Usage(format!(
                    "batch histogram entry '{part}': expected BATCH:WEIGHT"
                ))
            })?;
            let b: u32 = b
                .trim()
                .parse()
                .map_err(|_| Error::Usage(format!("bad batch '{b}' in '{part}'")))?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| Error::Usage(format!("bad weight '{w}' in '{part}'")))?;
            v.push((b, w));
        }
        let h = BatchSpec::Histogram(v);
        h.pmf()?;
        Ok(h)
    }
}

/// Parse `resnet50` or `resnet50:3` (a weight).
pub fn parse_model_weight(s: &str) -> Result<(String, f64)> {
    match s.rsplit_once(':') {
        Some((m, w)) => {
            let w: f64 = w
                .parse()
                .map_err(|_| Error::Usage(format!("bad model weight in '{s}'")))?;
            if !(w.is_finite() && w > 0.0) || m.is_empty() {
                return Err(Error::Usage(format!(
                    "'{s}': expected MODEL or MODEL:WEIGHT with WEIGHT > 0"
                )));
            }
            Ok((m.to_string(), w))
        }
        None if !s.is_empty() => Ok((s.to_string(), 1.0)),
        None => Err(Error::Usage("empty model name".into())),
    }
}
