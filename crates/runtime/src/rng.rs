//! A small deterministic random number generator (SplitMix64) whose whole state is one `u64`.
//!
//! Sampling, curation and training's data order must be reproducible from a seed and resumable
//! from a checkpoint, on every platform and across dependency upgrades, so the generator is part
//! of the project rather than a library's choice that could change. Independent streams (one per item, one per epoch)
//! are derived with [`Rng::derive`], so results do not depend on the order work is done in.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for stream `keys` of this seed, independent of how far `self` has advanced.
    pub fn derive(seed: u64, keys: &[u64]) -> Rng {
        let mut state = seed;
        for &k in keys {
            state = mix(state ^ mix(k.wrapping_add(0x9E37_79B9_7F4A_7C15)));
        }
        Rng(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // First outputs of SplitMix64 seeded with 1234567 (Vigna's reference implementation).
        let mut r = Rng::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn shuffles_are_permutations_and_streams_differ() {
        let mut v: Vec<usize> = (0..50).collect();
        Rng::derive(7, &[1]).shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(v, (0..50).collect::<Vec<_>>());
        assert_ne!(Rng::derive(7, &[1]).next_u64(), Rng::derive(7, &[2]).next_u64());
        assert_eq!(Rng::derive(7, &[1, 2]).next_u64(), Rng::derive(7, &[1, 2]).next_u64());
        let mut r = Rng::new(3);
        assert!((0..1000).all(|_| r.below(3) < 3) && (0..1000).all(|_| (0.0..1.0).contains(&r.unit())));
    }
}
