//! A small deterministic random number generator (xorshift64*, seeded
//! through splitmix64), std only.
//!
//! Every fuzz input is a pure function of `(seed, target, index)`: its
//! generator is seeded with [`Rng::for_input`], so the supervisor can
//! rebuild the exact input a crashed or hung worker was running (to write
//! its reproducer) without the worker having to say more than its number.

/// xorshift64* state; never zero.
#[derive(Clone, Debug)]
pub struct Rng(u64);

/// splitmix64's finaliser: spreads nearby seeds over the whole state space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed).max(1))
    }

    /// The generator of input `index` of `target` in the run seeded `seed`.
    pub fn for_input(seed: u64, target: &str, index: u64) -> Rng {
        let name = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        Rng::new(mix(seed ^ name) ^ mix(index))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `pick` for string tables, where `&str` is wanted rather than `&&str`.
    pub fn word<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Small numbers more often than large ones: `0..n`, roughly halving
    /// the probability at each doubling.
    pub fn small(&mut self, n: usize) -> usize {
        let bits = self.below(usize::BITS as usize - n.max(1).leading_zeros() as usize + 1);
        self.below((1usize << bits).min(n))
    }
}
