//! Package and unpackage throughput on incompressible data, 1 MB and 100 MB.
//! Run: `cargo bench -p efm-benches` (numbers in benches/README.md).

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use efm_benches::{Keys, keys, package, unpackage};
use std::sync::OnceLock;

/// Counts allocations per iteration: they must not grow with the input size (the
/// streaming paths allocate per entry, never per chunk).
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

const SIZES: [usize; 2] = [1_000_000, 100_000_000];

fn the_keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(keys)
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn package_incompressible(b: Bencher, len: usize) {
    let k = the_keys();
    let data = noise(len);
    b.counter(BytesCount::new(len)).bench(|| {
        let mut n = 0usize;
        package(k, black_box(&data), |out| n += out.len());
        n
    });
}

#[divan::bench(args = SIZES, sample_count = 10, sample_size = 1)]
fn unpackage_incompressible(b: Bencher, len: usize) {
    let k = the_keys();
    let data = noise(len);
    let mut cms = Vec::with_capacity(len + (1 << 16));
    package(k, &data, |out| cms.extend_from_slice(out));
    b.counter(BytesCount::new(len)).bench(|| unpackage(k, black_box(&cms)));
}
