//! The console's access control: one-time login tokens (minted for whoever can reach the
//! owner-only socket, or holds the bearer token), the session cookies they are exchanged for,
//! and each session's CSRF token. All kept in memory: a daemon restart logs everyone out.

use rand::RngCore as _;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "failback_session";
/// How long a login link can be used (once).
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a session lasts after its login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Most login links outstanding at once; minting more drops the oldest.
const MAX_PENDING: usize = 64;
/// Most sessions at once; a new login drops the oldest.
const MAX_SESSIONS: usize = 256;

/// 256 random bits, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal-time comparison, so response timing does not reveal how much of a token matched.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    /// One-time login token → when it stops working.
    pending: Mutex<HashMap<String, Instant>>,
    /// Session id (the cookie's value) → the session.
    live: Mutex<HashMap<String, Session>>,
}

fn drop_oldest<V>(map: &mut HashMap<String, V>, max: usize, expiry: impl Fn(&V) -> Instant) {
    let now = Instant::now();
    map.retain(|_, v| expiry(v) > now);
    while map.len() >= max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| expiry(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
}

impl Sessions {
    /// A new one-time login token.
    pub fn mint_login(&self) -> String {
        let token = random_token();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        drop_oldest(&mut pending, MAX_PENDING, |at| *at);
        pending.insert(token.clone(), Instant::now() + LOGIN_TTL);
        token
    }

    /// Spend a login token: a new session's id, or `None` if the token is unknown, used or
    /// expired.
    pub fn login(&self, token: &str) -> Option<String> {
        let found = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            // Compared to each in equal time; the map lookup would hash the guess instead.
            let key = pending
                .keys()
                .find(|k| same(k.as_bytes(), token.as_bytes()))
                .cloned();
            key.and_then(|k| pending.remove(&k))
        };
        if found.is_none_or(|expires| expires <= Instant::now()) {
            return None;
        }
        let id = random_token();
        let session = Session {
            csrf: random_token(),
            expires: Instant::now() + SESSION_TTL,
        };
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        drop_oldest(&mut live, MAX_SESSIONS, |s| s.expires);
        live.insert(id.clone(), session);
        Some(id)
    }

    /// The live session with this id.
    pub fn session(&self, id: &str) -> Option<Session> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.iter()
            .find(|(k, _)| same(k.as_bytes(), id.as_bytes()))
            .map(|(_, s)| s.clone())
            .filter(|s| s.expires > Instant::now())
    }

    /// End a session (log out).
    pub fn end(&self, id: &str) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|k, _| !same(k.as_bytes(), id.as_bytes()));
    }
}

/// The session cookie's value among a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The `Set-Cookie` of a new session: not readable by scripts, never sent cross-site.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_token_works_once_and_gives_a_session_with_its_own_csrf() {
        let s = Sessions::default();
        let t = s.mint_login();
        assert_eq!(t.len(), 64);
        let id = s.login(&t).expect("first use");
        assert!(s.login(&t).is_none(), "spent");
        assert!(s.login("nope").is_none());
        let session = s.session(&id).expect("live");
        assert_ne!(session.csrf, id);
        assert!(s.session(&format!("{id}x")).is_none());
        s.end(&id);
        assert!(s.session(&id).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.append(
            axum::http::header::COOKIE,
            "a=1; failback_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("abc"));
        assert!(set_cookie("abc").contains("HttpOnly; SameSite=Strict; Path=/"));
    }
}
