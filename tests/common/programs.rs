//! Finding the programs a tier drives (Chromium, node), shared by the tests and benchmarks.

use std::path::PathBuf;

/// `name` as a path, or the first file of that name on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name)).filter(|p| p.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
