import Foundation
import Testing
@testable import MEMOModel

/// The suite runs with OMP_NUM_THREADS=1, while users train with every core: oneDNN then picks
/// other partitions and reductions. One training step of memo_resnet14 (three stages: generalized
/// blocks trained, two frozen eval-mode blocks, the newest block trained) at batch 128 must give
/// the same logits, gradients and BN running statistics with 1 and 2 threads, up to float32
/// noise. That noise is not tiny for gradients: batch 128 of 32x32 maps holds ReLU inputs within
/// rounding of zero, and a different summation order flips some (measured: 1e-3 to 6e-3 of a
/// tensor's largest gradient, the same as perturbing every 7th input value by 1e-6 at one
/// thread). So each gradient is held to twice the largest difference such a 1e-6 perturbation
/// causes; a race or a wrong reduction would differ by orders of magnitude more.
@Suite(.serialized)
struct ThreadCountTests {
    struct Step { var logits: [Float]; var gradients: [String: [Float]]; var running: [String: [Float]] }

    static func step(threads: Int, perturbation: Float = 0) -> Step {
        setEngineThreads(threads)
        defer { setEngineThreads(1) }
        var rng = MEMORandom(seed: 5)
        let net = MEMONetwork(backbone: .memoResNet14, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.addStage(newClasses: 2, rng: &rng)
        net.configureTraining(trainBase: true, trainAdaptive: false)
        let n = 128
        // Image-like input: a smooth pattern per image plus noise, as normalised pixels.
        var x = [Float](repeating: 0, count: n * 3 * 32 * 32)
        for i in 0..<n {
            let a = rng.uniform() * 6, b = rng.uniform() * 6
            for y in 0..<32 { for xx in 0..<32 {
                let v = Float(sin(a * Double(y) / 32 + b * Double(xx) / 32) * 1.5 + rng.normal() * 0.3)
                for c in 0..<3 { x[((i * 3 + c) * 32 + y) * 32 + xx] = v }
            } }
        }
        if perturbation != 0 { for i in stride(from: 0, to: x.count, by: 7) { x[i] *= 1 + perturbation } }
        let labels = (0..<n).map { $0 % 6 }
        let aux = labels.map { $0 >= 4 ? $0 - 3 : 0 }
        x.withUnsafeBufferPointer { net.forward($0.baseAddress!, count: n, training: true) }
        var dl = [Float](repeating: 0, count: net.logits.count), da = [Float](repeating: 0, count: net.auxLogits.count)
        _ = net.logits.withUnsafeBufferPointer { lp in dl.withUnsafeMutableBufferPointer {
            softmaxCrossEntropy(logits: lp.baseAddress!, rows: n, classes: net.classCount, labels: labels, gradient: $0.baseAddress!) } }
        _ = net.auxLogits.withUnsafeBufferPointer { lp in da.withUnsafeMutableBufferPointer {
            softmaxCrossEntropy(logits: lp.baseAddress!, rows: n, classes: net.auxClassCount, labels: aux, gradient: $0.baseAddress!) } }
        net.backward(dLogits: dl, dAuxLogits: da)
        var grads: [String: [Float]] = [:], running: [String: [Float]] = [:]
        for (name, p) in net.namedParameters() {
            if let g = p.grad { grads[name] = g.data }
            if p.kind == .runningStatistic { running[name] = p.value.data }
        }
        return Step(logits: net.logits, gradients: grads, running: running)
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let scale = max(a.map { abs(Double($0)) }.max() ?? 0, 1e-12)
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max()! / scale
    }

    @Test func oneAndTwoThreadsGiveTheSameStep() {
        let one = Self.step(threads: 1), two = Self.step(threads: 2)
        let perturbed = Self.step(threads: 1, perturbation: 1e-6)
        let floor = one.gradients.map { Self.relativeError($0.value, perturbed.gradients[$0.key]!) }.max()!
        #expect(floor < 2e-2, "the 1e-6 perturbation moved a gradient by \(floor)")
        #expect(Self.relativeError(one.logits, two.logits) <= 1e-4, "logits")
        #expect(Set(one.gradients.keys) == Set(two.gradients.keys))
        #expect(one.gradients["generalized.conv.weight"] != nil, "the generalized blocks train")
        for (name, g) in one.gradients.sorted(by: { $0.key < $1.key }) {
            guard let h = two.gradients[name] else { continue }
            let err = Self.relativeError(g, h)
            #expect(err <= max(2 * floor, 1e-4), "gradient \(name): rel err \(err) between 1 and 2 threads (noise floor \(floor))")
        }
        for (name, r) in one.running {
            let err = Self.relativeError(r, two.running[name]!)
            #expect(err <= 1e-4, "running statistic \(name): rel err \(err) between 1 and 2 threads")
        }
    }

    /// A run records its thread count in the configuration (so a resume reuses it); checkpoints
    /// written before it was recorded still decode, with no thread count.
    @Test func threadCountIsRecordedInTheConfiguration() throws {
        setEngineThreads(2)
        #expect(engineThreads() == 2)
        setEngineThreads(1)
        #expect(engineThreads() == 1)
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
