//! A global allocator that counts allocations, for "allocations per call",
//! and the bytes in use, for the soak's server: only while counting is
//! on ([`start`]). Counting makes every allocation of every thread update
//! the same shared counters, a cost no real server pays: the servers
//! measured for throughput run without it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting each allocation and the bytes in use.
pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Turns counting on; returns the allocations counted so far.
pub fn start() -> u64 {
    COUNTING.store(true, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Turns counting off; returns the allocations counted so far.
pub fn stop() -> u64 {
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Bytes allocated and not yet freed, process-wide, since counting began
/// (turn it on before anything is allocated for a true figure).
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}
