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

/// A law of token counts (a generated LLM trace's prompt or output lengths), in
/// `1..=`[`super::MAX_TOKENS`].
#[derive(Debug, Clone, PartialEq)]
pub enum TokenLaw {
    /// `round(exp(mu + sigma * Z))` for a standard normal Z, clamped to `[1, max]`.
    LogNormal { mu: f64, sigma: f64, max: u32 },
    /// Explicit `(tokens, weight)` pairs; weights need not sum to 1.
    Histogram(Vec<(u32, f64)>),
}

/// A token law for every model of a generated trace: a default and per-model overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLaws {
    pub default: TokenLaw,
    /// `(model, law)`, the last one given for a model winning.
    pub per_model: Vec<(String, TokenLaw)>,
}

impl TokenLaws {
    /// The law of `model`.
    pub fn of(&self, model: &str) -> &TokenLaw {
        self.per_model
            .iter()
            .rev()
            .find(|(m, _)| m == model)
            .map_or(&self.default, |(_, l)| l)
    }

    /// Start from `default`, then apply `specs` (`LAW` replaces the default, `MODEL=LAW` sets
    /// one model's), as `--prompt-law`/`--output-law` give them (`flag` names the option).
    pub fn parse(default: TokenLaw, specs: &[String], flag: &str) -> Result<TokenLaws> {
        let mut laws = TokenLaws {
            default,
            per_model: Vec::new(),
        };
        for s in specs {
            match TokenLaw::split_model(s) {
                (Some(m), law) => laws
                    .per_model
                    .push((m.to_string(), TokenLaw::parse(law, flag)?)),
                (None, law) => laws.default = TokenLaw::parse(law, flag)?,
            }
        }
        Ok(laws)
    }
}

impl TokenLaw {
    /// `MODEL=LAW` -> (Some(MODEL), LAW); `LAW` -> (None, LAW). A law's own `=` come after its
    /// `kind:`, so a `=` before the first `:` separates a model.
    fn split_model(s: &str) -> (Option<&str>, &str) {
        match (s.find('='), s.find(':')) {
            (Some(e), c) if c.is_none_or(|c| e < c) => (Some(s[..e].trim()), s[e + 1..].trim()),
            _ => (None, s.trim()),
        }
    }

    /// Parse `lognormal:mu=6.9,sigma=1.0[,max=8192]` (max defaults to 2^20) or
    /// `hist:128:0.5,1024:0.5` (`histogram:` too).
    pub fn parse(s: &str, flag: &str) -> Result<TokenLaw> {
        let bad = |m: String| Error::Usage(format!("{flag} '{s}': {m}"));
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            bad("expected lognormal:mu=M,sigma=S[,max=N] or hist:TOKENS:WEIGHT,...".into())
        })?;
        let law = match kind.trim() {
            "lognormal" => {
                let (mut mu, mut sigma, mut max) = (None, None, super::MAX_TOKENS as f64);
                for kv in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| bad(format!("'{kv}': expected KEY=VALUE")))?;
                    let v: f64 = v
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("'{kv}': {v} is not a number")))?;
                    match k.trim() {
                        "mu" => mu = Some(v),
                        "sigma" => sigma = Some(v),
                        "max" => max = v,
                        other => {
                            return Err(bad(format!(
                                "unknown key '{other}'; expected mu, sigma, max"
                            )));
                        }
                    }
                }
                let (Some(mu), Some(sigma)) = (mu, sigma) else {
                    return Err(bad("a log-normal law needs mu and sigma".into()));
                };
                if !(max.fract() == 0.0 && (1.0..=super::MAX_TOKENS as f64).contains(&max)) {
                    return Err(bad(format!(
                        "max must be an integer in 1..={}, got {}",
                        super::MAX_TOKENS,
                        crate::error::num(max)
                    )));
                }
                TokenLaw::LogNormal {
                    mu,
                    sigma,
                    max: max as u32,
                }
            }
            "hist" | "histogram" => {
                let mut v = Vec::new();
                for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (t, w) = part
                        .split_once(':')
                        .ok_or_else(|| bad(format!("'{part}': expected TOKENS:WEIGHT")))?;
                    let t: u32 = t
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("'{part}': bad token count '{t}'")))?;
                    let w: f64 = w
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("'{part}': bad weight '{w}'")))?;
                    v.push((t, w));
                }
                TokenLaw::Histogram(v)
            }
            other => {
                return Err(bad(format!(
                    "unknown law '{other}'; expected lognormal or hist"
                )));
            }
        };
        law.check().map_err(|e| bad(e.to_string()))?;
        Ok(law)
    }

    /// Refuse a law that cannot be sampled or that leaves `1..=MAX_TOKENS`.
    pub fn check(&self) -> Result<()> {
        let max_tokens = super::MAX_TOKENS;
        match self {
            TokenLaw::LogNormal { mu, sigma, max } => {
                if !(mu.is_finite() && sigma.is_finite() && *sigma >= 0.0) {
                    return Err(Error::Usage(format!(
                        "a log-normal law needs a finite mu and sigma >= 0 (got {}, {})",
                        crate::error::num(*mu),
                        crate::error::num(*sigma)
                    )));
                }
                if !(1..=max_tokens).contains(max) {
                    return Err(Error::Usage(format!(
                        "max must be in 1..={max_tokens}, got {max}"
                    )));
                }
            }
            TokenLaw::Histogram(h) => {
                if h.is_empty() {
                    return Err(Error::Usage("a token histogram needs an entry".into()));
                }
                if let Some((t, w)) = h
                    .iter()
                    .find(|&&(t, w)| !((1..=max_tokens).contains(&t) && w.is_finite() && w >= 0.0))
                {
                    return Err(Error::Usage(format!(
                        "a token histogram needs counts in 1..={max_tokens} and weights >= 0; got {t}:{}",
                        crate::error::num(*w)
                    )));
                }
                if h.iter().map(|x| x.1).sum::<f64>() <= 0.0 {
                    return Err(Error::Usage("token histogram weights sum to 0".into()));
                }
            }
        }
        Ok(())
    }
}
