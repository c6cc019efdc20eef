//! failback-engine
