//! Giving freed memory back to the system.
//!
//! glibc's malloc keeps what a thread frees in that thread's arena, and by default it
//! raises its own limits as the program frees large blocks: after a cold sync of 10,000
//! posts freed a 20 MB buffer, an arena had to hold about 40 MB of free space at its top
//! before it would shrink. So an idle `serve` stayed at 72 MiB, of which 32 MiB was free.
//! Fixed limits keep every arena trimmed as it frees, and after a sync that parsed many
//! posts `serve` also returns the free pages in the middle of arenas, once the work that
//! follows a large sync (the scheduler's pass, marking missed posts, alerts) is done too.

/// Syncs that parsed fewer posts than this free too little to be worth a trim.
pub const RELEASE_AFTER_PARSED: usize = 200;

/// Free space an arena may keep at its top; blocks from this size up get pages of their own.
const TRIM_THRESHOLD: i32 = 1 << 20;
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Fixes malloc's limits (glibc); elsewhere nothing to do.
///
/// # Safety
/// Call before any other thread starts: `mallopt` is not safe against concurrent use.
pub unsafe fn fix_allocator_limits() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: the caller guarantees no other thread runs; the values are in range.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// How long after a large sync the free pages are returned: the work it starts in other
/// tasks takes well under this, and nothing waits for the trim.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Returns the free pages a little later, off the async runtime (call within one).
pub fn release_after_settling() {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async {
            tokio::time::sleep(SETTLE).await;
            // A trim walks every arena: a few milliseconds that must not hold a worker.
            let _ = tokio::task::spawn_blocking(release_freed).await;
        });
    }
}

/// Returns the allocator's free pages to the system (glibc); elsewhere nothing to do.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it takes each arena's own lock while it
    // walks it, so other threads may allocate meanwhile.
    unsafe {
        libc::malloc_trim(0);
    }
}
