import Foundation
import Testing
@testable import MEMOModel

/// Parity with PyTorch for memo_conv2 and memo_resnet18: `scripts/make_network_fixtures.py`
/// builds each network with two specialized blocks (K = 2) from deterministic values (the
/// formulas of `PyTorchParityTests` on a scrambled index, extended to any kernel size and to conv
/// biases; ResNet-18 at 64x64 inputs), runs one
/// forward and backward pass in three configurations and writes `Fixtures/parity_<net>.json`.
/// The engine must match logits, auxiliary logits, features and the loss within 1e-4 relative
/// and every step-1 gradient within 1e-3 relative to the tensor's largest magnitude; the
/// fixture's own float32-vs-float64 noise is ~1e-6 (its `noiseFloor`). Gradients that are zero
/// in exact arithmetic (a conv bias before train-mode BN) are float32 noise on both sides and
/// must only stay below 1e-4.
@Suite(.serialized)
struct NetworkParityTests {
    typealias Sample = PyTorchParityTests.Sample
    struct Case: Decodable {
        let logits: [[Double]]
        let auxLogits: [[Double]]
        let features: [[Double]]
        let loss: Double
        let gradients: [String: Sample]
    }
    struct Noise: Decodable { let zeroGradients: [String] }
    struct Input: Decodable { let shape: [Int]; let labels: [Int]; let auxLabels: [Int]; let patternKey: Int }
    struct Fixture: Decodable { let input: Input; let cases: [String: Case]; let noiseFloor: [String: Noise] }

    static func fixture(_ backbone: Backbone) throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "parity_\(backbone.rawValue)", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// The script's `pattern`: Float(sin(0.618 · ((i·i) mod 10007) + 1.234 · k)) (a scrambled index).
    static func pattern(_ i: Int, _ k: Int) -> Float { Float(sin(0.618 * Double((i * i) % 10007) + 1.234 * Double(k))) }

    /// The script's `initial_value` for a whole tensor.
    static func deterministicValues(name: String, shape: [Int]) -> [Float] {
        let k = PyTorchParityTests.key(name)
        let parts = name.split(separator: ".")
        let leaf = parts.last!, owner = parts[parts.count - 2]
        let count = shape.reduce(1, *)
        let f: (Float) -> Float
        if leaf == "runningMean" { f = { 0.1 * $0 } }
        else if leaf == "runningVar" { f = { 1 + 0.5 * ($0 * $0) } }
        else if name.hasPrefix("fc.") || name.hasPrefix("auxFC.") {
            let c = shape.count == 2 ? Float(Double(shape[1]).squareRoot()) : 1
            f = leaf == "weight" ? { $0 / c } : { 0.05 * $0 }
        } else if owner.lowercased().hasPrefix("bn") || owner.hasSuffix("BN") {
            f = leaf == "weight" ? { 1 + 0.2 * $0 } : { 0.1 * $0 }
        } else if leaf == "bias" { f = { 0.1 * $0 } }
        else {
            let c = Float((2.0 / Double(shape[2] * shape[3] * shape[0])).squareRoot())
            f = { c * $0 }
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<count { o[i] = f(pattern(i, k)) }
        }
        return out
    }

    /// The fixture's network at its initial values, built once per backbone (ResNet-18's 20M
    /// values take seconds in a debug build) and reset for every case.
    nonisolated(unsafe) static var networks: [Backbone: (MEMONetwork, [String: Tensor])] = [:]
    static let lock = NSLock()

    static func network(_ backbone: Backbone) -> MEMONetwork {
        lock.lock()
        defer { lock.unlock() }
        if let (net, initial) = networks[backbone] {
            for (name, p) in net.namedParameters() { p.value = initial[name]!; p.grad = nil }
            return net
        }
        var rng = MEMORandom(seed: 0)
        let net = MEMONetwork(backbone: backbone, rng: &rng)
        net.addStage(newClasses: 3, rng: &rng)
        net.addStage(newClasses: 3, rng: &rng)
        var initial: [String: Tensor] = [:]
        for (name, p) in net.namedParameters() {
            p.value = Tensor(shape: p.shape, data: deterministicValues(name: name, shape: p.shape))
            initial[name] = p.value
        }
        networks[backbone] = (net, initial)
        return net
    }

    @Test(arguments: [(Backbone.memoConv2, "train"), (.memoConv2, "eval"), (.memoConv2, "memo"),
                      (.memoResNet18, "train"), (.memoResNet18, "eval"), (.memoResNet18, "memo")])
    func parity(backbone: Backbone, caseName: String) throws {
        let fx = try Self.fixture(backbone)
        let c = try #require(fx.cases[caseName])
        let zero = Set(try #require(fx.noiseFloor[caseName]).zeroGradients)
        let net = Self.network(backbone)
        switch caseName {
        case "train":
            net.generalizedState = .training; net.specializedStates = [.training, .training]
        case "eval":
            let evalMode = MEMONetwork.PartState(batchStatistics: false, trainable: true)
            net.generalizedState = evalMode; net.specializedStates = [evalMode, evalMode]
        default:
            net.configureTraining(trainBase: true, trainAdaptive: false)
        }
        let n = fx.input.shape.reduce(1, *)
        let x = Tensor(shape: fx.input.shape, data: (0..<n).map { PyTorchParityTests.inputValue($0, key: fx.input.patternKey) })
        net.forward(x, training: true)
        let rel = PyTorchParityTests.relativeError
        let errors = [("logits", rel(net.logits.map(Double.init), c.logits.flatMap { $0 })),
                      ("auxLogits", rel(net.auxLogits.map(Double.init), c.auxLogits.flatMap { $0 })),
                      ("features", rel(net.features.map(Double.init), c.features.flatMap { $0 }))]
        for (what, err) in errors { #expect(err <= 1e-4, "\(backbone.rawValue) \(caseName): \(what) rel err \(err)") }
        let loss = MEMOLoss(network: net, labels: fx.input.labels, auxLabels: fx.input.auxLabels)
        #expect(abs(loss.total - c.loss) <= 1e-4 * abs(c.loss), "\(backbone.rawValue) \(caseName): loss \(loss.total) vs \(c.loss)")
        net.backward(loss)
        let byName = Dictionary(uniqueKeysWithValues: net.namedParameters())
        var worst = 0.0
        for (name, sample) in c.gradients {
            let p = try #require(byName[name], "no parameter \(name)")
            let g = try #require(p.grad, "\(caseName): no gradient for \(name)")
            if zero.contains(name) {
                let largest = g.data.map { abs(Double($0)) }.max() ?? 0
                #expect(largest <= 1e-4, "\(backbone.rawValue) \(caseName): \(name) should be ~0, max |g| \(largest)")
                continue
            }
            let err = rel(sample.indices.map { Double(g.data[$0]) }, sample.values)
            worst = max(worst, err)
            #expect(err <= 1e-3, "\(backbone.rawValue) \(caseName): gradient \(name) rel err \(err)")
            let norm = g.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - sample.norm) <= 1e-3 * max(sample.norm, 1e-6), "\(backbone.rawValue) \(caseName): norm \(name) \(norm) vs \(sample.norm)")
        }
        let trainable = Set(net.trainableParameters().map(\.0))
        #expect(trainable == Set(c.gradients.keys), "\(caseName): trainable parameters differ from the fixture's")
        print("parity \(backbone.rawValue) \(caseName): logits \(errors[0].1), aux \(errors[1].1), features \(errors[2].1), "
              + "loss \(abs(loss.total - c.loss) / abs(c.loss)), worst gradient \(worst) (\(c.gradients.count) tensors)")
    }
}
