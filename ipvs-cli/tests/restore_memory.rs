//! issue 13 item 3, on any host: checking `-R` input allocates a bounded amount
//! whatever the input's size. A counting allocator records the peak of live
//! heap bytes while 200 MB of comments, a 9 MB line and 100,000 good lines
//! are checked. (This file holds one test so nothing else allocates meanwhile.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use ipvs_cli::restore::{check, MAX_LINE_BYTES};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        // SAFETY: forwards the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `pattern` repeated until `total` bytes were read, generated as read.
struct Repeat {
    pattern: Vec<u8>,
    /// Where the next read starts in `pattern`.
    offset: usize,
    left: usize,
}

impl Repeat {
    fn new(pattern: &str, total: usize) -> Self {
        Repeat {
            pattern: pattern.as_bytes().to_vec(),
            offset: 0,
            left: total,
        }
    }
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(self.left)
            .min(self.pattern.len() - self.offset);
        buf[..n].copy_from_slice(&self.pattern[self.offset..self.offset + n]);
        self.offset = (self.offset + n) % self.pattern.len();
        self.left -= n;
        Ok(n)
    }
}

/// Peak live heap bytes above the level before `f` ran.
fn peak_during(f: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - before
}

#[test]
fn checking_restore_input_does_not_hold_it() {
    // 200 MB of comments: nothing of it is kept.
    let comments = Repeat::new("# a comment line of a long restore file\n", 200_000_000);
    let peak = peak_during(|| {
        let result =
            check("ipvsadm", &mut BufReader::new(comments), &mut io::sink()).expect("check");
        assert_eq!(result.map(|c| c.len()), Ok(0));
    });
    assert!(peak < 64 * 1024, "200 MB of comments: peak {peak} bytes");

    // A 9 MB line of 3 million words: rejected by number, never held whole.
    let line = Repeat::new("xx ", 9_000_000);
    let input = io::Cursor::new("-A -t 192.0.2.1:80\n-a ")
        .chain(line)
        .chain(io::Cursor::new("\n"));
    let mut err = Vec::new();
    let peak = peak_during(|| {
        let result = check("ipvsadm", &mut BufReader::new(input), &mut err).expect("check");
        assert_eq!(result.map(|c| c.len()), Err(2));
    });
    assert_eq!(
        String::from_utf8_lossy(&err),
        format!("line 2: line too long (more than {MAX_LINE_BYTES} bytes)\n")
    );
    // The first line's block (1 MiB), the line buffer, the reader's buffer.
    let bound = (1 << 20) + 2 * MAX_LINE_BYTES + 64 * 1024;
    assert!(peak < bound, "a 9 MB line: peak {peak} bytes");

    // 100,000 good lines are kept as their words: about the input's size.
    let good = "-a -t 192.0.2.1:80 -r 198.51.100.10:8080 -m -w 1\n";
    let input = io::Cursor::new("-A -t 192.0.2.1:80 -s rr\n")
        .chain(Repeat::new(good, good.len() * 100_000));
    let mut kept = None;
    let peak = peak_during(|| {
        let result = check("ipvsadm", &mut BufReader::new(input), &mut io::sink()).expect("check");
        kept = result.ok();
    });
    assert_eq!(kept.as_ref().map(|c| c.len()), Some(100_001));
    drop(kept);
    assert!(
        peak < good.len() * 100_000 * 3 / 2,
        "100,000 lines of {} bytes: peak {peak} bytes",
        good.len()
    );
}
