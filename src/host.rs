//! Who and where the tool runs: the OS user (libpq's default user, the audit trail), the host
//! name (history rows) and the actor recorded in the audit log. Facts about this process's
//! machine only; the database role is the server's to record.

/// The OS user running the tool (for libpq's default user and the audit trail).
pub fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_string())
}

/// This host's name (for the history table and the audit trail).
pub fn host_name() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown".to_string())
}

/// Who acts: the OS user and host (the database role is recorded by the server).
pub fn actor() -> String {
    format!("{}@{}", os_user(), host_name())
}
