import Foundation
import Testing
@testable import MEMOModel

/// One training step of memo_resnet14 (three stages: generalized blocks trained, two frozen
/// eval-mode blocks, the newest block trained) at batch 128 with 1 and 2 oneDNN threads. Every
/// criterion here holds whichever CPU path runs (AVX2 `nChw8c`, AVX-512 `nChw16c`):
///
/// - At one thread count a step is bitwise reproducible.
/// - The forward pass is continuous in its rounding errors, so logits and BN running statistics
///   of 1 and 2 threads agree to 1e-4 of their largest magnitude (measured 7e-6 and 1.2e-5 on AVX2).
/// - Gradients are not: a ReLU input within rounding of zero may change sign between two summation
///   orders, and its unit's gradient then jumps from a value to zero. At batch 128 of 32x32 maps,
///   54 of the step's 18.9 million ReLU outputs do so between 1 and 2 threads (all below 4e-5),
///   which moves whole gradients by up to 5e-3 of their largest value (AVX2) or 2e-2 (reported on
///   AVX-512); running the same step at one thread on the same batch in another order (a permutation:
///   the same sums, another order) moves them by 1.1e-2. No rounding bound covers that, so the
///   gradients are compared on the *same* forward pass: forward at one thread, backward at 1 and
///   at 2 (the backward primitives are created, and run, with the count in force at the backward).
///   With the masks fixed, the backward is linear and the two differ by rounding only (measured
///   3.3e-5); each gradient is held to 1e-3 of its largest magnitude, far below what a lost or
///   doubled partial sum (a race, a wrong reduction) causes.
/// - The convolution kernels themselves, at the step's shapes, are held elementwise to a rounding
///   bound derived from each output's own sum (`convolutionKernelsAgreeWithinTheirRoundingBound`).
@Suite(.serialized)
struct ThreadCountTests {
    struct Step: Equatable { var logits: [Float]; var gradients: [String: [Float]]; var running: [String: [Float]] }

    static let batch = 128

    static func network() -> MEMONetwork {
        var rng = MEMORandom(seed: 5)
        let net = MEMONetwork(backbone: .memoResNet14, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.configureTraining(trainBase: true, trainAdaptive: false)
        return net
    }

    /// Image-like input: a smooth pattern per image plus noise, as normalised pixels; 6 classes.
    static let input: (x: [Float], labels: [Int]) = {
        var rng = MEMORandom(seed: 99)
        var x = [Float](repeating: 0, count: batch * 3 * 32 * 32)
        for i in 0..<batch {
            let a = rng.uniform() * 6, b = rng.uniform() * 6
            for y in 0..<32 { for xx in 0..<32 {
                let v = Float(sin(a * Double(y) / 32 + b * Double(xx) / 32) * 1.5 + rng.normal() * 0.3)
                for c in 0..<3 { x[((i * 3 + c) * 32 + y) * 32 + xx] = v }
            } }
        }
        return (x, (0..<batch).map { $0 % 6 })
    }()

    static func forward(_ net: MEMONetwork) {
        input.x.withUnsafeBufferPointer { net.forward($0.baseAddress!, count: batch, training: true) }
    }

    /// Backward of the last forward pass (cross-entropy on fc and auxFC), then what the step produced.
    static func backward(_ net: MEMONetwork) -> Step {
        net.backward(MEMOLoss(network: net, labels: input.labels,
                              auxLabels: MEMOLoss.auxiliaryLabels(input.labels, knownClasses: net.classCount - 2)))
        var grads: [String: [Float]] = [:], running: [String: [Float]] = [:]
        for (name, p) in net.namedParameters() {
            if let g = p.grad { grads[name] = g.data }
            if p.kind == .runningStatistic { running[name] = p.value.data }
        }
        return Step(logits: net.logits, gradients: grads, running: running)
    }

    /// A whole step on a fresh network, forward with `forwardThreads`, backward with `backwardThreads`.
    static func step(forwardThreads: Int, backwardThreads: Int) -> Step {
        EngineThreads.with(forwardThreads) {
            let net = network()
            forward(net)
            return EngineThreads.with(backwardThreads) { backward(net) }
        }
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let scale = max(a.map { abs(Double($0)) }.max() ?? 0, 1e-12)
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max()! / scale
    }

    @Test func aStepIsBitwiseReproducibleAtOneThreadCount() {
        for threads in [1, 2] {
            let a = Self.step(forwardThreads: threads, backwardThreads: threads)
            let b = Self.step(forwardThreads: threads, backwardThreads: threads)
            let sameLogits = a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern)
            #expect(sameLogits, "\(threads) thread(s): logits differ")
            let differing = a.gradients.keys.filter { a.gradients[$0]!.map(\.bitPattern) != b.gradients[$0]?.map(\.bitPattern) }
            #expect(differing.isEmpty, "\(threads) thread(s): gradients differ: \(differing.sorted().prefix(5))")
            let sameRunning = a.running == b.running
            #expect(sameRunning, "\(threads) thread(s): running statistics differ")
        }
    }

    @Test func oneAndTwoThreadsGiveTheSameForwardPass() {
        let one = Self.step(forwardThreads: 1, backwardThreads: 1), two = Self.step(forwardThreads: 2, backwardThreads: 2)
        #expect(Self.relativeError(one.logits, two.logits) <= 1e-4, "logits")
        #expect(Set(one.running.keys) == Set(two.running.keys) && !one.running.isEmpty)
        for (name, r) in one.running.sorted(by: { $0.key < $1.key }) {
            let err = Self.relativeError(r, two.running[name]!)
            #expect(err <= 1e-4, "running statistic \(name): rel err \(err) between 1 and 2 threads")
        }
    }

    @Test func oneAndTwoThreadsGiveTheSameBackwardPassOfOneForwardPass() {
        let one = Self.step(forwardThreads: 1, backwardThreads: 1), two = Self.step(forwardThreads: 1, backwardThreads: 2)
        let sameForward = one.logits.map(\.bitPattern) == two.logits.map(\.bitPattern)
        #expect(sameForward, "the forward passes differ")
        #expect(Set(one.gradients.keys) == Set(two.gradients.keys))
        #expect(one.gradients["generalized.conv.weight"] != nil, "the generalized blocks train")
        #expect(one.gradients.keys.contains { $0.hasPrefix("specialized.2.") } && !one.gradients.keys.contains { $0.hasPrefix("specialized.0.") },
                "the newest block trains, the oldest is frozen")
        for (name, g) in one.gradients.sorted(by: { $0.key < $1.key }) {
            let err = Self.relativeError(g, two.gradients[name]!)
            #expect(err <= 1e-3, "gradient \(name): rel err \(err) between 1 and 2 threads on one forward pass")
        }
    }

    // MARK: Kernels

    /// One convolution of the step: input channels, output channels, stride, input size, plain input.
    struct ConvCase: CustomTestStringConvertible, Sendable {
        let inChannels: Int, outChannels: Int, stride: Int, size: Int, plain: Bool
        var testDescription: String { "\(inChannels)->\(outChannels) stride \(stride) at \(size)x\(size)\(plain ? " plain" : "")" }
    }

    /// What a convolution pass computes for one batch: output, input gradient, weight gradient.
    struct ConvResults { var y: [Float]; var dx: [Float]; var dw: [Float] }

    static func convolve(_ c: ConvCase, x: Tensor, w: Tensor, dy: Tensor, threads: Int) -> ConvResults {
        EngineThreads.with(threads) {
            var rng = MEMORandom(seed: 1)
            let conv = Conv2D(inChannels: c.inChannels, outChannels: c.outChannels, stride: c.stride, rng: &rng)
            conv.weight.value = w
            let xa = Activation(shape: BatchShape(n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3]),
                                layout: c.plain ? .plain : .blocked, precision: .float32)
            xa.load(x)
            let y = conv.forward(xa).toTensor().data
            let dya = Activation(shape: BatchShape(n: dy.shape[0], c: dy.shape[1], h: dy.shape[2], w: dy.shape[3]), layout: .blocked, precision: .float32)
            dya.load(dy)
            let dx = conv.backward(input: xa, gradOutput: dya, inputGradient: !c.plain, weightGradient: true)
            return ConvResults(y: y, dx: dx?.toTensor().data ?? [], dw: conv.weight.grad!.data)
        }
    }

    /// Forward, backward-data and backward-weights of each convolution shape of the step, at batch
    /// 128, with 1 and 2 threads on the same random operands. Each output is a sum of n products;
    /// under the standard probabilistic model of rounding (Higham and Mary, SIAM J. Sci. Comput.
    /// 2019: independent rounding errors of at most u = 2^-24 each) a float32 sum in any order lies
    /// within λ·√n·u·Σ|terms| of the exact value with probability at least 1 − 2n·exp(−λ²/2); with
    /// λ = 10 that is a failure chance below 1e-16 per output. Two orders therefore differ by at
    /// most 2·λ·√n·u·Σ|terms|, and Σ|terms| is the same kernel run on the operands' absolute values.
    /// The bound is checked to be tight enough to see a lost half of the batch in the weight
    /// gradient (what a race between the two threads' partial sums would do).
    @Test(arguments: [
        ConvCase(inChannels: 3, outChannels: 16, stride: 1, size: 32, plain: true),
        ConvCase(inChannels: 16, outChannels: 16, stride: 1, size: 32, plain: false),
        ConvCase(inChannels: 16, outChannels: 32, stride: 2, size: 32, plain: false),
        ConvCase(inChannels: 32, outChannels: 64, stride: 2, size: 16, plain: false),
        ConvCase(inChannels: 64, outChannels: 64, stride: 1, size: 8, plain: false),
    ])
    func convolutionKernelsAgreeWithinTheirRoundingBound(_ c: ConvCase) {
        let n = Self.batch, out = (c.size - 1) / c.stride + 1
        var rng = MEMORandom(seed: UInt64(c.inChannels * 1000 + c.outChannels * 10 + c.stride))
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.normal()) })
        }
        let x = random([n, c.inChannels, c.size, c.size]), w = random([c.outChannels, c.inChannels, 3, 3])
        let dy = random([n, c.outChannels, out, out])
        func magnitude(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, data: t.data.map { abs($0) }) }
        let one = Self.convolve(c, x: x, w: w, dy: dy, threads: 1)
        let two = Self.convolve(c, x: x, w: w, dy: dy, threads: 2)
        let terms = Self.convolve(c, x: magnitude(x), w: magnitude(w), dy: magnitude(dy), threads: 1)
        let u = Double(Float.ulpOfOne) / 2, lambda = 10.0
        func check(_ what: String, _ a: [Float], _ b: [Float], _ s: [Float], length: Int) {
            #expect(a.count == b.count && a.count == s.count && !a.isEmpty, "\(what): sizes")
            let factor = 2 * lambda * Double(length).squareRoot() * u
            var worst = 0.0
            for i in 0..<min(a.count, b.count, s.count) {
                worst = max(worst, abs(Double(a[i]) - Double(b[i])) / (factor * Double(s[i]) + Double.leastNormalMagnitude))
            }
            #expect(worst <= 1, "\(c.testDescription) \(what): 1 vs 2 threads differ by \(worst)x the rounding bound")
        }
        check("forward", one.y, two.y, terms.y, length: c.inChannels * 9)
        if !c.plain { check("backward data", one.dx, two.dx, terms.dx, length: c.outChannels * 9) }
        check("backward weights", one.dw, two.dw, terms.dw, length: n * out * out)

        // The bound sees a lost half batch: the weight gradient of the first 64 images alone
        // lies outside it for most weights.
        let half = n / 2, perImageX = x.data.count / n, perImageDY = dy.data.count / n
        let halfResult = Self.convolve(c, x: Tensor(shape: [half] + x.shape.dropFirst(), data: Array(x.data[..<(half * perImageX)])), w: w,
                                       dy: Tensor(shape: [half] + dy.shape.dropFirst(), data: Array(dy.data[..<(half * perImageDY)])),
                                       threads: 1)
        let factor = 2 * lambda * Double(n * out * out).squareRoot() * u
        let outside = zip(zip(one.dw, halfResult.dw), terms.dw).filter { abs(Double($0.0) - Double($0.1)) > factor * Double($1) }.count
        #expect(outside * 2 > one.dw.count, "\(c.testDescription): only \(outside) of \(one.dw.count) weights see a lost half batch")
    }

    /// A run records its thread count in the configuration (so a resume reuses it); checkpoints
    /// written before it was recorded still decode, with no thread count.
    @Test func threadCountIsRecordedInTheConfiguration() throws {
        var c = MEMOConfig()
        c.threads = 2
        let json = try JSONEncoder().encode(c)
        #expect(String(decoding: json, as: UTF8.self).contains("\"threads\":2"))
        #expect(try JSONDecoder().decode(MEMOConfig.self, from: json) == c)
        var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        object["threads"] = nil
        let old = try JSONDecoder().decode(MEMOConfig.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.threads == nil)
        c.threads = nil
        #expect(old == c)
    }
}
