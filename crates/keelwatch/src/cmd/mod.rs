//! Command groups of the `keelwatch` binary, one module each.

pub mod admission;
pub mod agent;
pub mod db;
pub mod detect;
pub mod policy;
pub mod query;
pub mod scan;
pub mod tls_args;
pub mod workspace;
// NEW COMMAND GROUPS: add `pub mod <group>;` above this line.

/// Installs the tracing subscriber shared by every command (stderr, text or JSON).
pub fn init_logging(filter: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
