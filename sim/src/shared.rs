//! The state every request handler shares: the world behind its mutex, the clock, the journal,
//! fault and throttle tables, the token signing key and where things are kept on disk.

use crate::clock::Clock;
use crate::faults::Faults;
use crate::journal::Journal;
use crate::signing::TokenSigner;
use crate::throttle::Throttle;
use crate::world::World;
use parking_lot::Mutex;
use std::path::PathBuf;

pub struct Shared {
    pub clock: Clock,
    pub world: Mutex<World>,
    pub journal: Journal,
    pub faults: Mutex<Faults>,
    pub throttle: Mutex<Throttle>,
    /// Signs every token issued; published by the JWKS endpoints.
    pub signer: TokenSigner,
    /// `http://…` or, with TLS, `https://…`; every URL the sim emits starts with it.
    pub base_url: String,
    pub state_file: Option<PathBuf>,
    /// Held while the state file is written, so saves land in the order they were taken.
    pub save_lock: Mutex<()>,
    /// The CA certificate file a client should trust (`FAILBACK_CA_FILE`), once one is written.
    pub ca_file: Mutex<Option<PathBuf>>,
}
