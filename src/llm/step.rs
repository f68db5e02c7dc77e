//! TEMPORARY stand-in until the profile branch's step.rs is merged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StepContent {
    pub np: u64,
    pub p: u64,
    pub q: u64,
    pub d: u64,
    pub k: u64,
    pub s: u64,
    pub t: u64,
}
impl StepContent {
    #[inline(always)]
    pub fn add_prefill(&mut self, n: u32, c: u32) {
        let (n, c) = (u64::from(n), u64::from(c));
        self.np += 1;
        self.p += n;
        self.q += n * (2 * c + n);
        self.s += 1;
        self.t += n;
    }
    #[inline(always)]
    pub fn add_decode(&mut self, c: u32) {
        self.d += 1;
        self.k += u64::from(c) + 1;
        self.s += 1;
        self.t += 1;
    }
}
#[derive(Debug, Clone, Default)]
pub struct StepModel {
    pub c0: f64,
    pub p1: f64,
    pub d1: f64,
}
impl StepModel {
    pub fn step_ns(&self, c: &StepContent) -> u64 {
        let mut us = self.c0;
        us += self.p1 * c.p as f64;
        us += self.d1 * c.d as f64;
        ((us * 1000.0 + 0.5).floor() as u64).max(1)
    }
}
