import CDNNL
import Foundation
import Testing
@testable import MEMOModel

/// The bf16 mode (`--precision bf16`): the float/bf16 conversions against oneDNN's own, the
/// engine's Swift loops on bf16 activations against their float32 versions (exactly, on values
/// bf16 holds), a training step and an evaluation pass against float32 within a bound derived
/// for bf16, and the refusal on a CPU path without bf16 units (run by `DNNL_MAX_CPU_ISA=AVX2`).
@Suite(.serialized)
struct BFloat16Tests {
    typealias G = GradientCheckTests

    static func activation(_ t: Tensor, _ precision: Precision, layout: Activation.Layout = .blocked) -> Activation {
        let a = Activation(shape: BatchShape(n: t.shape[0], c: t.shape[1], h: t.shape[2], w: t.shape[3]), layout: layout,
                           precision: precision)
        a.load(t)
        return a
    }

    /// Multiples of 1/8 in [-4, 4): exact in bf16 (at most 6 significant bits), and their sums
    /// of a few terms too.
    static func dyadicTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = MEMORandom(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(Int(rng.uniform() * 64) - 32) / 8 })
    }

    /// ‖a − b‖ / ‖b‖.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var d = 0.0, n = 0.0
        for i in a.indices { d += Double(a[i] - b[i]) * Double(a[i] - b[i]); n += Double(b[i]) * Double(b[i]) }
        return (d / max(n, 1e-30)).squareRoot()
    }

    @Test func conversionRoundsToNearestEven() {
        #expect(floatToBFloat16(1) == 0x3F80 && bfloat16ToFloat(0x3F80) == 1)
        #expect(floatToBFloat16(-2.5) == 0xC020)
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1.
        #expect(floatToBFloat16(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
        #expect(floatToBFloat16(1 + 3 * 0x1p-8) == 0x3F82)
        #expect(floatToBFloat16(1 + 0x1p-8 + 0x1p-20) == 0x3F81, "above halfway rounds up")
        #expect(bfloat16ToFloat(floatToBFloat16(.infinity)) == .infinity)
        #expect(bfloat16ToFloat(floatToBFloat16(.nan)).isNaN)
        #expect(bfloat16ToFloat(floatToBFloat16(-0.0)).sign == .minus)
    }

    /// The Swift conversion is bit for bit what oneDNN's reorder does (the engine mixes both).
    @Test func conversionMatchesOneDNN() {
        var rng = MEMORandom(seed: 5)
        var values = (0..<4096).map { _ in Float(rng.normal() * pow(10, rng.uniform() * 8 - 4)) }
        values += [0, -0.0, 1 + 0x1p-8, 1 + 3 * 0x1p-8, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity, -.infinity]
        let n = values.count
        let reorder = Primitive(reorderFrom: memoryDesc([n], dnnl_a), to: memoryDesc([n], dnnl_a, dnnl_bf16))
        var out = [UInt16](repeating: 0, count: n)
        values.withUnsafeMutableBytes { src in
            out.withUnsafeMutableBytes { dst in
                reorder.execute([(DNNL_ARG_FROM, memoryDesc([n], dnnl_a), src.baseAddress!),
                                 (DNNL_ARG_TO, memoryDesc([n], dnnl_a, dnnl_bf16), dst.baseAddress!)])
            }
        }
        // oneDNN's reorder without bf16 units (the AVX2 path) writes -0 as +0; the engine never
        // converts there (bf16 is refused), and the two zeros compare equal.
        let mismatches = (0..<n).filter {
            floatToBFloat16(values[$0]) != out[$0] && !(values[$0] == 0 && out[$0] & 0x7FFF == 0)
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5).map { (values[$0], floatToBFloat16(values[$0]), out[$0]) })")
    }

    /// load / toTensor, DownsampleA forward and backward, global average pooling and its backward,
    /// and ReLU masks give on bf16 activations exactly what they give on float32 ones, for values
    /// bf16 holds exactly.
    @Test func swiftLoopsMatchFloat32() {
        let t = Self.dyadicTensor([2, 16, 6, 6], seed: 11)
        for layout in [Activation.Layout.plain, .blocked] {
            #expect(Self.activation(t, .bfloat16, layout: layout).toTensor() == t)
        }
        let x32 = Self.activation(t, .float32), x16 = Self.activation(t, .bfloat16)
        let shape = BatchShape(n: 2, c: 32, h: 3, w: 3)
        let d32 = Activation(shape: shape, layout: .blocked, precision: .float32)
        let d16 = Activation(shape: shape, layout: .blocked, precision: .bfloat16)
        downsampleA(x32, into: d32)
        downsampleA(x16, into: d16)
        #expect(d16.toTensor() == d32.toTensor())
        let g = Self.dyadicTensor([2, 32, 3, 3], seed: 12)
        let b32 = Self.activation(t, .float32), b16 = Self.activation(t, .bfloat16)
        downsampleABackwardAdd(Self.activation(g, .float32), into: b32)
        downsampleABackwardAdd(Self.activation(g, .bfloat16), into: b16)
        #expect(b16.toTensor() == b32.toTensor())
        // Pooling: 36 values that are multiples of 1/8 below 4 in size sum exactly in float32.
        var f32 = [Float](repeating: 0, count: 2 * 40), f16 = f32
        globalAveragePool(x32, into: &f32, width: 40, offset: 8)
        globalAveragePool(x16, into: &f16, width: 40, offset: 8)
        #expect(f16 == f32)
        let df = (0..<80).map { Float($0 % 7) * 9 / 8 }   // / 36 = multiples of 1/32: exact in bf16
        globalAveragePoolBackward(df, width: 40, offset: 8, into: x32)
        globalAveragePoolBackward(df, width: 40, offset: 8, into: x16)
        #expect(x16.toTensor() == x32.toTensor())
        // The masks (bytes, whatever the activation's precision) applied to float32 ones; a bf16
        // gradient through oneDNN's bf16 kernel only where the CPU runs bf16 (elsewhere oneDNN
        // 2.6 has no such kernel, and bf16 is refused before it would be needed).
        let m32 = ReLUMask(Self.activation(t, .float32)), m16 = ReLUMask(Self.activation(t, .bfloat16))
        let ones = Tensor(repeating: 1, shape: t.shape)
        let through32 = Self.activation(ones, .float32), through16 = Self.activation(ones, .float32)
        m32.apply(through32, into: through32)
        m16.apply(through16, into: through16)
        #expect(through32.toTensor().data == t.data.map { $0 > 0 ? 1 : 0 })
        #expect(through16.toTensor() == through32.toTensor())
        if Precision.bfloat16Supported {
            let o16 = Self.activation(ones, .bfloat16)
            m16.apply(o16, into: o16)
            #expect(o16.toTensor() == through32.toTensor())
        }
    }

    /// Two identical memo_resnet14 networks in MEMO's stage-1 state (generalized blocks training
    /// with batch statistics, block 0 frozen, block 1 training): one float32, one bf16.
    static func networkPair() -> (MEMONetwork, MEMONetwork) {
        func make() -> MEMONetwork {
            var rng = MEMORandom(seed: 31)
            let net = MEMONetwork(backbone: .memoResNet14, rng: &rng)
            net.addStage(newClasses: 4, rng: &rng)
            net.addStage(newClasses: 3, rng: &rng)
            net.configureTraining(trainBase: true, trainAdaptive: false)
            G.setFrozenBlockStatistics(net)
            return net
        }
        let a = make(), b = make()
        b.precision = .bfloat16
        return (a, b)
    }

    /// The forward bound: bf16 keeps 8 significant bits, so each rounding of an activation or
    /// weight is off by at most u = 2^-9 (rms u/√3 ≈ 1.1e-3) relative. memo_resnet14's deepest
    /// path rounds about 2·14 operands; independent errors add in quadrature, so logits and
    /// features should be within about √28·1.1e-3 ≈ 0.6 % (rms, relative). The test allows 4x:
    /// 2.5 % (a wrong layout, type or kernel is off by 100 %). PyTorch's autocast on the parity
    /// network: 0.8 % (logits), 0.5 % (features).
    static let forwardBound = 0.025

    @Test func forwardPassesAgreeWithFloat32() throws {
        guard Precision.bfloat16Supported else {
            #expect(throws: ConfigError.self) { try Precision.bfloat16.checkSupported() }
            return
        }
        let (f32, bf16) = Self.networkPair()
        let x = G.randomTensor([16, 3, 32, 32], seed: 32)
        let labels = (0..<16).map { $0 % 7 }
        var losses: [Double] = []
        for net in [f32, bf16] {
            net.forward(x, training: true)
            let loss = MEMOLoss(network: net, labels: labels, auxLabels: MEMOLoss.auxiliaryLabels(labels, knownClasses: 4))
            net.backward(loss)
            losses.append(loss.total)
        }
        #expect(Self.relativeError(bf16.features, f32.features) < Self.forwardBound)
        #expect(Self.relativeError(bf16.logits, f32.logits) < Self.forwardBound)
        #expect(abs(losses[1] - losses[0]) < Self.forwardBound * losses[0])
        // Running statistics are updated in float32 from bf16 batches.
        let ra = f32.namedParameters().filter { $0.0.hasPrefix("generalized") && $0.1.kind == .runningStatistic }
        let rb = bf16.namedParameters().filter { $0.0.hasPrefix("generalized") && $0.1.kind == .runningStatistic }
        #expect(ra.count == 18 && ra.map(\.0) == rb.map(\.0))
        for ((name, p), (_, q)) in zip(ra, rb) {
            #expect(Self.relativeError(q.value.data, p.value.data) < Self.forwardBound, "\(name)")
        }
        // Evaluation (folded batch norm, forward_inference kernels).
        f32.forward(x, training: false)
        bf16.forward(x, training: false)
        #expect(Self.relativeError(bf16.logits, f32.logits) < Self.forwardBound)
    }

    struct AutocastFixture: Decodable {
        let torch: String; let logits: Double; let features: Double; let gradients: [String: Double]
    }

    /// Gradients have no such a-priori bound: training-mode batch norm's backward subtracts the
    /// batch means of dy and dy·x̂, a cancellation that magnifies rounding (and ReLUs near zero
    /// flip), so bf16 gradients of the same step differ from float32 by tens of percent in
    /// PyTorch too. The yardstick is PyTorch's autocast on the same network and batch
    /// (`scripts/make_bf16_fixture.py`, the parity fixture's memo_resnet14 in MEMO's stage-1
    /// state, batch 4): memo-swift's bf16 gradients must be as close to its float32 ones as
    /// autocast's are to PyTorch's float32 ones: the rms over parameters of the relative L2
    /// errors within 1.5x autocast's (the two round at slightly different points: memo-swift
    /// keeps batch-norm outputs and gradients in bf16 and folds the frozen block's batch norms),
    /// and the errors of the same parameters correlated (the same tensors suffer).
    @Test func gradientsAsCloseAsPyTorchAutocast() throws {
        guard Precision.bfloat16Supported else {
            #expect(throws: ConfigError.self) { try Precision.bfloat16.checkSupported() }
            return
        }
        let url = try #require(Bundle.module.url(forResource: "bf16_autocast", withExtension: "json", subdirectory: "Fixtures"))
        let reference = try JSONDecoder().decode(AutocastFixture.self, from: Data(contentsOf: url))
        let parity = try PyTorchParityTests.fixture()
        let x = Tensor(shape: parity.input.shape,
                       data: (0..<parity.input.shape.reduce(1, *)).map { PyTorchParityTests.inputValue($0, key: parity.input.patternKey) })
        var grads: [[String: [Float]]] = []
        for precision in [Precision.float32, .bfloat16] {
            let net = PyTorchParityTests.makeNetwork()
            net.configureTraining(trainBase: true, trainAdaptive: false)
            net.precision = precision
            net.forward(x, training: true)
            net.backward(MEMOLoss(network: net, labels: parity.input.labels, auxLabels: parity.input.auxLabels))
            grads.append(Dictionary(uniqueKeysWithValues: net.trainableParameters().map { ($0.0, $0.1.grad!.data) }))
        }
        #expect(Set(grads[0].keys) == Set(reference.gradients.keys))
        let names = reference.gradients.keys.sorted()
        let ours = names.map { Self.relativeError(grads[1][$0]!, grads[0][$0]!) }
        let theirs = names.map { reference.gradients[$0]! }
        func rms(_ v: [Double]) -> Double { (v.reduce(0) { $0 + $1 * $1 } / Double(v.count)).squareRoot() }
        if ProcessInfo.processInfo.environment["BF16_PRINT"] != nil {
            for (i, n) in names.enumerated() { print("bf16 gradient error", n, ours[i], theirs[i]) }
            print("bf16 rms", rms(ours), rms(theirs))
        }
        #expect(rms(ours) <= 1.5 * rms(theirs), "rms relative gradient error \(rms(ours)) vs PyTorch autocast's \(rms(theirs))")
        // Pearson correlation over the parameters (measured here: 0.97).
        let mo = ours.reduce(0, +) / Double(ours.count), mt = theirs.reduce(0, +) / Double(theirs.count)
        let cov = zip(ours, theirs).reduce(0) { $0 + ($1.0 - mo) * ($1.1 - mt) }
        let correlation = cov / (rms(ours.map { $0 - mo }) * rms(theirs.map { $0 - mt }) * Double(ours.count))
        #expect(correlation > 0.8, "per-parameter errors correlate with autocast's by \(correlation) only")
    }

    @Test func configurationRecordsAndResumeKeepsPrecision() throws {
        var c = MEMOConfig()
        c.precision = .bfloat16
        let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        #expect(json.contains("\"precision\":\"bf16\""))
        #expect(try JSONDecoder().decode(MEMOConfig.self, from: Data(json.utf8)).precision == .bfloat16)
        #expect(c.differences(from: MEMOConfig()) == ["precision"])
        #expect(!MEMOConfig.resumableFields.contains("precision"))
        // Absent (every run recorded before the flag) reads as the default, so `--resume DIR
        // --precision fp32` changes nothing there.
        #expect(MEMOConfig().fieldText("precision") == "fp32" && c.fieldText("precision") == "bf16")
        #expect(Precision(name: "bfloat16") == .bfloat16 && Precision(name: "FP32") == .float32 && Precision(name: "fp16") == nil)
    }

    /// A CPU path without bf16 units refuses the mode before anything is written.
    @Test func refusedWithoutBFloat16Units() throws {
        let out = TinyRun.temporaryDirectory("bf16-refused") + "/run"
        let r = try Executables.execute("memo-train", ["--precision", "bf16", "--dataset", "fashion-mnist", "--out", out],
                                        environment: ["DNNL_MAX_CPU_ISA": "AVX2"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--precision bf16: needs a CPU with bf16 units"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let bad = try Executables.execute("memo-train", ["--precision", "fp16", "--out", out])
        #expect(bad.status != 0 && bad.stderr.contains("fp16"))
    }

    /// A bf16 run trains and writes stages that load and re-evaluate identically.
    @Test func tinyRunTrains() throws {
        var c = TinyRun.config()
        c.precision = .bfloat16
        guard Precision.bfloat16Supported else {
            #expect(throws: ConfigError.self) { try TinyRun.trainer(config: c) }
            return
        }
        let dir = TinyRun.temporaryDirectory("bf16-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TinyRun.run(into: dir, config: c)
        #expect(t.network.precision == .bfloat16)
        let last = try Checkpoint.read(dir + "/" + Checkpoint.fileName(stage: 1))
        #expect(last.config.precision == .bfloat16)
        // Rebuilt in the run's precision, its evaluation reproduces the stored one exactly.
        #expect(try last.makeNetwork().precision == .bfloat16)
        #expect(try CheckpointModel.read(dir + "/" + Checkpoint.fileName(stage: 1), classMeans: false).network.precision == .bfloat16)
        let again = try EvaluateReport.run(checkpoint: last, path: "stage-01.h5", dataset: TinyRun.dataset())
        #expect(again.cnnDiffering == 0 && again.nmeDiffering == 0 && again.evaluation == last.evaluation)
        // A resume continues in bf16 (the rebuilt network takes the run's precision).
        let resumed = try TinyRun.trainer(config: c)
        try resumed.restore(from: [try Checkpoint.read(dir + "/" + Checkpoint.fileName(stage: 0)), last])
        #expect(resumed.network.precision == .bfloat16)
        #expect(t.results.count == 2 && t.results.allSatisfy { $0.evaluation.cnn.top1.isFinite && $0.evaluation.cnn.top1 > 0 })
    }
}
