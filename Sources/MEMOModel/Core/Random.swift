/// Deterministic random numbers for initialisation, data order and augmentation.
///
/// xoshiro256** seeded through SplitMix64: fast, 256-bit state, identical on every machine, so a
/// run is reproducible from `--seed` alone. The generator state is four `UInt64`s and can be saved
/// into a checkpoint (`state`) to resume a run exactly.
public struct MEMORandom: RandomNumberGenerator, Sendable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)
    /// Whether `uniform()` and `normal()` return 0 without drawing (see `withoutInitialDraws`).
    private var skipsDraws = false

    /// Set inside `withoutInitialDraws`.
    @TaskLocal private static var initialDrawsSkipped = false

    /// Runs `body` with every generator that `init(seed:)` creates inside it skipping its
    /// `uniform()` and `normal()` draws: they return 0 at once and leave the state as it is
    /// (`next()`, `below()` and `permutation()` still draw).
    ///
    /// For building a network whose every value is loaded right afterwards (a checkpoint's): the
    /// layers' random initialisation, a Box-Muller draw per weight that the load overwrites and
    /// most of the time a checkpoint took to load, is skipped. The network built is not a valid
    /// fresh one (all weights of a layer start equal); use it only when every parameter is
    /// assigned next.
    public static func withoutInitialDraws<R>(_ body: () throws -> R) rethrows -> R {
        try $initialDrawsSkipped.withValue(true, operation: body)
    }

    public init(seed: UInt64) {
        skipsDraws = MEMORandom.initialDrawsSkipped
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(&sm), splitMix(&sm), splitMix(&sm), splitMix(&sm))
    }

    /// Restores a generator from a saved `state`.
    public init(state: [UInt64]) {
        precondition(state.count == 4, "MEMORandom state has 4 words")
        self.state = (state[0], state[1], state[2], state[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double {
        if skipsDraws { return 0 }
        return Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform integer in 0..<bound (unbiased).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next(upperBound: UInt64(bound)))
    }

    /// Standard normal (Box-Muller, one value per call).
    public mutating func normal() -> Double {
        if skipsDraws { return 0 }
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// A uniformly random permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                p.swapAt(i, below(i + 1))
            }
        }
        return p
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
