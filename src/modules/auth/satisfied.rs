//! The issuers a request has satisfied so far, while the factors run.
//!
//! The list of issuer names (`iss` of tokens, the factors a sign-in or the
//! management API builds on) is only needed when a token is issued or a
//! later phase reads it. Without a token carrying issuers, the factors that
//! passed are a bit set over the chain, and the names are built from it on
//! demand: a Basic request then allocates nothing to remember that its one
//! factor passed. The names come out exactly as the list would have been
//! built: in factor order, each name once.

use super::factor::Factor;

/// Issuers satisfied, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Satisfied {
    /// The issuers of these factors (bit `i` = factor `i`), in factor
    /// order; factors were added in increasing order.
    Factors(u64),
    /// Any list: a token carried issuers, or the chain is longer than 64.
    Names(Vec<String>),
}

impl Default for Satisfied {
    fn default() -> Self {
        Satisfied::Factors(0)
    }
}

impl Satisfied {
    /// Whether `issuer` is satisfied.
    pub fn contains(&self, factors: &[Factor], issuer: &str) -> bool {
        match self {
            Satisfied::Factors(bits) => factors
                .iter()
                .enumerate()
                .any(|(i, f)| has(*bits, i) && f.issuer == issuer),
            Satisfied::Names(names) => names.iter().any(|n| n == issuer),
        }
    }

    /// Add the issuers a token carried, then factor `i`'s own (each name
    /// once). Factors must be added in increasing order.
    pub fn add(&mut self, factors: &[Factor], i: usize, carried: Vec<String>) {
        if let Satisfied::Factors(bits) = self
            && carried.is_empty()
            && i < 64
        {
            *bits |= 1 << i;
            return;
        }
        let names = self.to_mut(factors);
        for name in carried.into_iter().chain([factors[i].issuer.clone()]) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }

    /// The names, in order.
    pub fn names(&self, factors: &[Factor]) -> Vec<String> {
        match self {
            Satisfied::Factors(bits) => {
                let mut names: Vec<String> = Vec::new();
                let set = factors.iter().enumerate().filter(|(i, _)| has(*bits, *i));
                for (_, f) in set {
                    if !names.contains(&f.issuer) {
                        names.push(f.issuer.clone());
                    }
                }
                names
            }
            Satisfied::Names(names) => names.clone(),
        }
    }

    fn to_mut(&mut self, factors: &[Factor]) -> &mut Vec<String> {
        if let Satisfied::Factors(_) = self {
            *self = Satisfied::Names(self.names(factors));
        }
        match self {
            Satisfied::Names(names) => names,
            Satisfied::Factors(_) => unreachable!("converted above"),
        }
    }
}

/// Whether bit `i` is set.
fn has(bits: u64, i: usize) -> bool {
    i < 64 && (bits >> i) & 1 == 1
}
