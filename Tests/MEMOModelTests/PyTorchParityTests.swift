import Foundation
import Testing
@testable import MEMOModel

/// Parity with PyTorch: `scripts/make_fixtures.py` builds memo_resnet14 with two specialized
/// blocks in PyTorch with deterministic values (no weights stored: both sides compute them from
/// the same formula), runs two SGD steps in three configurations and writes
/// `Fixtures/parity_memo_resnet14.json`. The engine must match logits, features and the step-1
/// loss within 1e-4 relative and every step-1 gradient within 1e-3 relative (to the tensor's
/// largest magnitude). The step-2 loss is checked within 1e-4 and every value after the second
/// step within 1e-3: the second forward pass runs on updated weights, where the fixture's own
/// float32-vs-float64 noise is `noiseFloor` in the JSON. The input (patternKey 888) keeps every
/// ReLU input at least 3.6x its float32 noise away from zero, so no unit flips sign between the
/// two implementations (measured here: at most 2.6e-6 after two steps).
@Suite(.serialized)
struct PyTorchParityTests {
    struct Sample: Decodable { let indices: [Int]; let values: [Double]; let norm: Double; let sum: Double }
    struct Case: Decodable {
        let logits: [[Double]]
        let auxLogits: [[Double]]
        let features: [[Double]]
        let loss: [Double]
        let gradients: [String: Sample]
        let afterStep2: [String: Sample]
    }
    struct Input: Decodable { let shape: [Int]; let labels: [Int]; let auxLabels: [Int]; let knownClasses: Int; let patternKey: Int }
    struct SGDConfig: Decodable { let lr: Double; let momentum: Double; let weight_decay: Double }
    struct Fixture: Decodable { let input: Input; let sgd: SGDConfig; let cases: [String: Case] }

    static func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "parity_memo_resnet14", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// The fixture's value formula: p = Float(sin(0.618·i + 1.234·k)) (libm sin in Double, rounded
    /// once), k = (sum of the name's UTF-8 bytes) % 1000; then float32 arithmetic as in the script.
    static func pattern(_ i: Int, _ k: Int) -> Float { Float(sin(0.618 * Double(i) + 1.234 * Double(k))) }
    static func key(_ name: String) -> Int { name.utf8.reduce(0) { $0 + Int($1) } % 1000 }

    static func deterministicValue(name: String, shape: [Int], i: Int) -> Float {
        let p = pattern(i, key(name))
        if name.hasSuffix("runningMean") { return 0.1 * p }
        if name.hasSuffix("runningVar") { return 1 + 0.5 * (p * p) }
        if name.hasPrefix("fc.") || name.hasPrefix("auxFC.") {
            return name.hasSuffix("weight") ? p / Float(Double(shape[1]).squareRoot()) : 0.05 * p
        }
        if name.contains(".bn") { return name.hasSuffix("weight") ? 1 + 0.2 * p : 0.1 * p }
        return Float((2.0 / Double(9 * shape[0])).squareRoot()) * p
    }

    /// The fixture's input: 1.5 · Float(sin(0.618 · ((i·i) mod 10007) + 1.234 · K)), K = input.patternKey.
    static func inputValue(_ i: Int, key: Int) -> Float {
        1.5 * Float(sin(0.618 * Double((i * i) % 10007) + 1.234 * Double(key)))
    }

    static func makeNetwork() -> MEMONetwork {
        var rng = MEMORandom(seed: 0)
        let net = MEMONetwork(backbone: .memoResNet14, rng: &rng)
        net.addStage(newClasses: 3, rng: &rng)
        net.addStage(newClasses: 3, rng: &rng)
        for (name, p) in net.namedParameters() {
            p.value = Tensor(shape: p.shape, data: (0..<p.value.count).map { deterministicValue(name: name, shape: p.shape, i: $0) })
        }
        return net
    }

    static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        let scale = max(b.map { abs($0) }.max() ?? 0, 1e-12)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test(arguments: ["train", "eval", "memo"])
    func parity(caseName: String) throws {
        let fx = try Self.fixture()
        let c = try #require(fx.cases[caseName])
        let net = Self.makeNetwork()
        switch caseName {
        case "train":
            net.generalizedState = .training; net.specializedStates = [.training, .training]
        case "eval":
            net.generalizedState = .init(batchStatistics: false, trainable: true)
            net.specializedStates = [.init(batchStatistics: false, trainable: true), .init(batchStatistics: false, trainable: true)]
        default:
            net.configureTraining(trainBase: true, trainAdaptive: false)
        }
        let x = Tensor(shape: fx.input.shape, data: (0..<fx.input.shape.reduce(1, *)).map { Self.inputValue($0, key: fx.input.patternKey) })
        let sgd = SGD(learningRate: Float(fx.sgd.lr), momentum: Float(fx.sgd.momentum), weightDecay: Float(fx.sgd.weight_decay))
        let byName = Dictionary(uniqueKeysWithValues: net.namedParameters())
        var losses: [Double] = []
        for step in 0..<2 {
            net.forward(x, training: true)
            if step == 0 {
                let logitsErr = Self.relativeError(net.logits.map(Double.init), c.logits.flatMap { $0 })
                let auxErr = Self.relativeError(net.auxLogits.map(Double.init), c.auxLogits.flatMap { $0 })
                let featErr = Self.relativeError(net.features.map(Double.init), c.features.flatMap { $0 })
                #expect(logitsErr <= 1e-4, "\(caseName): logits rel err \(logitsErr)")
                #expect(auxErr <= 1e-4, "\(caseName): aux logits rel err \(auxErr)")
                #expect(featErr <= 1e-4, "\(caseName): features rel err \(featErr)")
            }
            let loss = MEMOLoss(network: net, labels: fx.input.labels, auxLabels: fx.input.auxLabels)
            losses.append(loss.total)
            net.backward(loss)
            if step == 0 {
                for (name, sample) in c.gradients {
                    let p = try #require(byName[name], "no parameter \(name)")
                    let g = try #require(p.grad, "\(caseName): no gradient for \(name)")
                    let err = Self.relativeError(sample.indices.map { Double(g.data[$0]) }, sample.values)
                    #expect(err <= 1e-3, "\(caseName): gradient \(name) rel err \(err)")
                    let norm = g.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    #expect(abs(norm - sample.norm) <= 1e-3 * max(sample.norm, 1e-6), "\(caseName): gradient norm \(name) \(norm) vs \(sample.norm)")
                }
                let frozen = net.namedParameters().filter { $0.1.kind == .weight && c.gradients[$0.0] == nil }
                for (name, p) in frozen { #expect(p.grad == nil, "\(caseName): \(name) is frozen but has a gradient") }
            }
            sgd.step(net.trainableParameters().map { $0.1 })
        }
        for (i, l) in losses.enumerated() {
            #expect(abs(l - c.loss[i]) <= 1e-4 * abs(c.loss[i]), "\(caseName): loss of step \(i + 1) \(l) vs \(c.loss[i])")
        }
        for (name, sample) in c.afterStep2 {
            let p = try #require(byName[name], "no parameter \(name)")
            let err = Self.relativeError(sample.indices.map { Double(p.value.data[$0]) }, sample.values)
            #expect(err <= 1e-3, "\(caseName): \(name) after two steps rel err \(err)")
        }
    }
}
