//! Bearer-token authentication shared by the servers.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// Whether `headers` carry `Authorization: Bearer <expected>` (scheme case-insensitive).
///
/// The comparison takes the same time whatever the first differing byte, so response timing
/// does not reveal how much of a guessed token was right.
pub fn bearer_token_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let (a, b) = (given.trim().as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accepts_only_the_exact_token() {
        assert!(bearer_token_matches(&headers("Bearer s3cret"), "s3cret"));
        assert!(bearer_token_matches(&headers("bearer s3cret"), "s3cret"));
        assert!(!bearer_token_matches(&headers("Bearer s3cre"), "s3cret"));
        assert!(!bearer_token_matches(&headers("Bearer s3cretX"), "s3cret"));
        assert!(!bearer_token_matches(&headers("Basic s3cret"), "s3cret"));
        assert!(!bearer_token_matches(&headers("s3cret"), "s3cret"));
        assert!(!bearer_token_matches(&HeaderMap::new(), "s3cret"));
    }
}
