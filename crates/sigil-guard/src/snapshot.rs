//! A verifier and the cache of the tokens it accepted, replaced together when keys change.

use sigil_token::{Claims, VerifiedCache, Verifier, VerifyError};
use std::sync::Arc;

/// Default number of verified tokens remembered per key set.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// A verifier plus the cache of tokens it has accepted. Replaced as a whole when keys change,
/// so a cached token never outlives its key.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) verifier: Verifier,
    pub(crate) cache: Option<Arc<VerifiedCache>>,
}

impl Snapshot {
    pub(crate) fn new(verifier: Verifier, cache_capacity: Option<usize>) -> Snapshot {
        let cache = cache_capacity.map(|c| Arc::new(VerifiedCache::new(c)));
        Snapshot { verifier, cache }
    }

    pub(crate) fn verify(&self, token: &str, now: u64) -> Result<Arc<Claims>, VerifyError> {
        let validation = self.verifier.validation();
        if let Some(cache) = &self.cache
            && let Some(claims) = cache.get(token, now)
        {
            metrics::counter!("sigil_token_cache_lookups_total", "result" => "hit").increment(1);
            validation.check_time(&claims, now)?;
            return Ok(claims);
        }
        if self.cache.is_some() {
            metrics::counter!("sigil_token_cache_lookups_total", "result" => "miss").increment(1);
        }
        let claims = Arc::new(self.verifier.verify_untimed(token)?);
        validation.check_time(&claims, now)?;
        if let Some(cache) = &self.cache {
            cache.insert(token, claims.clone(), now);
        }
        Ok(claims)
    }
}
