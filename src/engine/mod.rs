//! Runs the effects the commands and the wizard ask for. Writes are atomic: an interrupted
//! run leaves the previous files, never half of the new ones.

pub mod output;
pub mod seed;

/// The async runtime of the commands and the wizard (two workers: the machine's budget).
/// On failure the reason is printed and None returned.
pub fn start_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
}
