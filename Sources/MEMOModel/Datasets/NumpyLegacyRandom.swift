/// numpy's legacy global generator (`np.random.seed(s)` / `np.random.RandomState(s)`), exactly,
/// for the parts the reference uses: `permutation(n)`.
///
/// MT19937 seeded with `init_genrand(seed)` (numpy's `mt19937_seed`), and `shuffle` as numpy's
/// legacy `RandomState.shuffle` does it: for i = n-1 down to 1 swap element i with
/// `random_interval(i)`, a draw by rejection from the smallest all-ones mask covering i. This
/// stream is frozen by numpy's compatibility policy, so the reference's class orders are
/// reproduced bit for bit.
public struct NumpyLegacyRandom: Sendable {
    private var key = [UInt32](repeating: 0, count: 624)
    private var position = 624

    /// `np.random.seed(seed)` with an integer seed.
    public init(seed: UInt32) {
        var s = seed
        for i in 0..<624 {
            key[i] = s
            s = 1_812_433_253 &* (s ^ (s >> 30)) &+ UInt32(i + 1)
        }
        position = 624
    }

    /// The next raw 32-bit output (MT19937 `genrand_int32`).
    public mutating func nextUInt32() -> UInt32 {
        if position >= 624 { regenerate() }
        var y = key[position]
        position += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func regenerate() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7FFF_FFFF, matrix: UInt32 = 0x9908_B0DF
        for i in 0..<624 {
            let y = (key[i] & upper) | (key[(i + 1) % 624] & lower)
            key[i] = key[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? matrix : 0)
        }
        position = 0
    }

    /// numpy's `random_interval(max)`: uniform in `0...max` by masked rejection.
    public mutating func interval(_ max: UInt64) -> UInt64 {
        if max == 0 { return 0 }
        var mask = max
        for shift in [1, 2, 4, 8, 16, 32] as [UInt64] { mask |= mask >> shift }
        if max <= 0xFFFF_FFFF {
            while true {
                let v = UInt64(nextUInt32()) & mask
                if v <= max { return v }
            }
        }
        while true {
            let v = ((UInt64(nextUInt32()) << 32) | UInt64(nextUInt32())) & mask
            if v <= max { return v }
        }
    }

    /// `np.random.permutation(n)` (after the same seed and draws, the same result).
    public mutating func permutation(_ n: Int) -> [Int] {
        precondition(n >= 0, "permutation of a negative count")
        var a = Array(0..<n)
        var i = n - 1
        while i >= 1 {
            a.swapAt(i, Int(interval(UInt64(i))))
            i -= 1
        }
        return a
    }
}
