import Testing
@testable import MEMOModel

/// Finite-difference checks of every backward kernel and of a whole small network.
///
/// Each check defines a scalar loss L = Σ y·r (r fixed random) on the kernel's output, computes
/// dL/dθ with the engine's backward pass, and compares it with central differences
/// (L(θ+ε) − L(θ−ε)) / 2ε evaluated in Double from float32 forward passes. Tolerance: the
/// difference must be within 2 % of the largest gradient magnitude of the tensor plus 1e-3
/// absolute: float32 forward noise divided by 2ε (ε = 1e-2 or 1e-3) is of that order.
@Suite(.serialized)
struct GradientCheckTests {
    static func randomTensor(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
        var rng = MEMORandom(seed: seed)
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, data: (0..<n).map { _ in Float(rng.normal() * scale) })
    }

    /// Non-trivial running statistics for specialized block 0's batch norms (the frozen block's
    /// eval-mode BN): means and variance offsets of scale 0.2, seeded by name.
    static func setFrozenBlockStatistics(_ net: MEMONetwork) {
        for (name, p) in net.namedParameters() where name.hasPrefix("specialized.0") && p.kind == .runningStatistic {
            let t = randomTensor(p.shape, seed: UInt64(name.count), scale: 0.2)
            p.value.data = name.hasSuffix("runningVar") ? t.data.map { 1 + $0 } : t.data
        }
    }

    static func dot(_ a: Tensor, _ b: Tensor) -> Double {
        zip(a.data, b.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Compares analytic gradients with central differences at `samples` indices of `values`.
    static func check(_ what: String, values: inout [Float], analytic: [Float], samples: Int = 12,
                      epsilon: Float = 1e-2, seed: UInt64 = 7, loss: ([Float]) -> Double) {
        var rng = MEMORandom(seed: seed)
        let scale = analytic.map { abs($0) }.max() ?? 0
        var worst = 0.0
        for _ in 0..<samples {
            let i = rng.below(values.count)
            let saved = values[i]
            values[i] = saved + epsilon
            let plus = loss(values)
            values[i] = saved - epsilon
            let minus = loss(values)
            values[i] = saved
            let numeric = (plus - minus) / (2 * Double(epsilon))
            let err = abs(numeric - Double(analytic[i]))
            worst = max(worst, err / (Double(scale) + 1e-12))
            #expect(err <= 0.02 * Double(scale) + 1e-3,
                    "\(what)[\(i)]: numeric \(numeric) vs analytic \(analytic[i]) (max |grad| \(scale))")
        }
        _ = worst
    }

    func activation(_ t: Tensor, layout: Activation.Layout) -> Activation {
        let a = Activation(shape: BatchShape(n: t.shape[0], c: t.shape[1], h: t.shape[2], w: t.shape[3]), layout: layout, precision: .float32)
        a.load(t)
        return a
    }

    /// (in, out, stride, batch, side). The last case is a training step's shape, where oneDNN
    /// picks Winograd kernels on AVX-512 (training passes let it choose the algorithm).
    @Test(arguments: [(16, 16, 1, 2, 8), (16, 32, 2, 2, 8), (3, 16, 1, 2, 8), (16, 16, 1, 16, 32)])
    func conv2D(inC: Int, outC: Int, stride: Int, batch: Int, side: Int) {
        var rng = MEMORandom(seed: 1)
        let conv = Conv2D(inChannels: inC, outChannels: outC, stride: stride, rng: &rng)
        let layout: Activation.Layout = inC == 3 ? .plain : .blocked
        var xT = Self.randomTensor([batch, inC, side, side], seed: 2)
        let outShape = [batch, outC, side / stride, side / stride]
        let r = Self.randomTensor(outShape, seed: 3)
        let x = activation(xT, layout: layout)
        let y = conv.forward(x).toTensor()
        if side == 32 {
            // The training kernel against the direct inference kernel on the same input.
            let direct = conv.forward(x, inference: true).toTensor()
            let scale = direct.data.map(abs).max()!
            let difference = zip(y.data, direct.data).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-5 * scale, "\(conv.implementations(for: x)) vs direct: \(difference) of \(scale)")
            print("conv 16->16 at [\(batch), 16, 32, 32]: training kernel \(conv.implementations(for: x))")
        }
        let dy = activation(r, layout: .blocked)
        let dx = conv.backward(input: x, gradOutput: dy, inputGradient: inC != 3, weightGradient: true)
        var w = conv.weight.value.data
        Self.check("conv\(inC)->\(outC)/s\(stride).weight", values: &w, analytic: conv.weight.grad!.data) { v in
            conv.weight.value.data = v
            return Self.dot(conv.forward(activation(xT, layout: layout)).toTensor(), r)
        }
        conv.weight.value.data = w
        if let dx {
            let g = dx.toTensor().data
            Self.check("conv\(inC)->\(outC)/s\(stride).input", values: &xT.data, analytic: g) { v in
                Self.dot(conv.forward(activation(Tensor(shape: xT.shape, data: v), layout: layout)).toTensor(), r)
            }
        }
    }

    @Test(arguments: [(true, true), (true, false), (false, true), (false, false)])
    func batchNorm(training: Bool, fused: Bool) {
        let bn = BatchNorm(channels: 16, fusedReLU: fused)
        bn.weight.value = Self.randomTensor([16], seed: 4, scale: 0.5)
        bn.weight.value.data = bn.weight.value.data.map { 1 + $0 }
        bn.bias.value = Self.randomTensor([16], seed: 5, scale: 0.3)
        bn.runningMean.value = Self.randomTensor([16], seed: 6, scale: 0.2)
        bn.runningVar.value.data = Self.randomTensor([16], seed: 7).data.map { 0.5 + $0 * $0 }
        let savedMean = bn.runningMean.value, savedVar = bn.runningVar.value
        var xT = Self.randomTensor([3, 16, 4, 4], seed: 8)
        let r = Self.randomTensor([3, 16, 4, 4], seed: 9)
        func loss(_ x: Tensor) -> Double {
            let y = bn.forward(activation(x, layout: .blocked), training: training).toTensor()
            bn.runningMean.value = savedMean; bn.runningVar.value = savedVar
            return Self.dot(y, r)
        }
        let x = activation(xT, layout: .blocked)
        _ = bn.forward(x, training: training)
        bn.runningMean.value = savedMean; bn.runningVar.value = savedVar
        let dx = bn.backward(input: x, gradOutput: activation(r, layout: .blocked), training: training,
                             parameterGradient: true).toTensor()
        let gw = bn.weight.grad!.data, gb = bn.bias.grad!.data
        Self.check("bn.input", values: &xT.data, analytic: dx.data, epsilon: 1e-3) { loss(Tensor(shape: xT.shape, data: $0)) }
        var w = bn.weight.value.data
        Self.check("bn.weight", values: &w, analytic: gw, epsilon: 1e-3) { v in
            bn.weight.value.data = v; return loss(xT)
        }
        bn.weight.value.data = w
        var b = bn.bias.value.data
        Self.check("bn.bias", values: &b, analytic: gb, epsilon: 1e-3) { v in
            bn.bias.value.data = v; return loss(xT)
        }
    }

    @Test func batchNormRunningStatistics() {
        let bn = BatchNorm(channels: 16, fusedReLU: false)
        let xT = Self.randomTensor([2, 16, 3, 3], seed: 10, scale: 2)
        _ = bn.forward(activation(xT, layout: .blocked), training: true)
        // PyTorch: running = 0.9·running + 0.1·batch statistic, variance unbiased (n = 18).
        for c in [0, 5, 15] {
            var values: [Double] = []
            for n in 0..<2 { for i in 0..<9 { values.append(Double(xT.data[(n * 16 + c) * 9 + i])) } }
            let mean = values.reduce(0, +) / 18
            let unbiased = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 17
            #expect(abs(Double(bn.runningMean.value.data[c]) - 0.1 * mean) < 1e-5)
            #expect(abs(Double(bn.runningVar.value.data[c]) - (0.9 + 0.1 * unbiased)) < 1e-4)
        }
    }

    @Test func residualJoinAndDownsample() {
        // y = relu(main + downsampleA(x)); check d/dx and d/dmain.
        var xT = Self.randomTensor([2, 16, 4, 4], seed: 11)
        var mT = Self.randomTensor([2, 32, 2, 2], seed: 12)
        let r = Self.randomTensor([2, 32, 2, 2], seed: 13)
        func forward(_ x: Tensor, _ m: Tensor) -> Tensor {
            let s = Activation(shape: BatchShape(n: 2, c: 32, h: 2, w: 2), layout: .blocked, precision: .float32)
            downsampleA(activation(x, layout: .blocked), into: s)
            let y = Activation(shape: s.shape, layout: .blocked, precision: .float32)
            addReLU(activation(m, layout: .blocked), s, into: y)
            return y.toTensor()
        }
        let y = activation(forward(xT, mT), layout: .blocked)
        let g = Activation(shape: y.shape, layout: .blocked, precision: .float32)
        reluBackward(output: y, gradOutput: activation(r, layout: .blocked), into: g)
        let dx = Activation(shape: BatchShape(n: 2, c: 16, h: 4, w: 4), layout: .blocked, precision: .float32)
        dx.buffer.zero()   // a new activation's contents are undefined; the backward accumulates
        downsampleABackwardAdd(g, into: dx)
        Self.check("join.main", values: &mT.data, analytic: g.toTensor().data, epsilon: 1e-3) {
            Self.dot(forward(xT, Tensor(shape: mT.shape, data: $0)), r)
        }
        Self.check("downsampleA.input", values: &xT.data, analytic: dx.toTensor().data, epsilon: 1e-3) {
            Self.dot(forward(Tensor(shape: xT.shape, data: $0), mT), r)
        }
        // The appended channels are zero.
        let s = Activation(shape: BatchShape(n: 2, c: 32, h: 2, w: 2), layout: .blocked, precision: .float32)
        downsampleA(activation(xT, layout: .blocked), into: s)
        let st = s.toTensor()
        #expect(st.data[20 * 4 + 1] == 0)
        let outIndex = 35 * 4 + 3                 // [n 1, c 3, h 1, w 1]
        let inIndex: Int = 19 * 16 + 10          // [n 1, c 3, h 2, w 2]
        #expect(st.data[outIndex] == xT.data[inIndex])
    }

    @Test func poolingLinearAndCrossEntropy() {
        var xT = Self.randomTensor([3, 16, 2, 2], seed: 14)
        var rng = MEMORandom(seed: 15)
        let fc = Linear(inFeatures: 16, outFeatures: 5, rng: &rng)
        fc.bias.value = Self.randomTensor([5], seed: 16, scale: 0.1)
        let labels = [1, 4, 0]
        func loss(_ x: Tensor, grad: Bool = false) -> (Double, [Float], [Float]) {
            var f = [Float](repeating: 0, count: 3 * 16)
            f.withUnsafeMutableBufferPointer { globalAveragePool(activation(x, layout: .blocked), into: $0.baseAddress!, width: 16, offset: 0) }
            var logits = [Float](repeating: 0, count: 15)
            var dl = [Float](repeating: 0, count: 15)
            f.withUnsafeBufferPointer { fp in logits.withUnsafeMutableBufferPointer { fc.forward(fp.baseAddress!, rows: 3, into: $0.baseAddress!) } }
            let l = logits.withUnsafeBufferPointer { lp in
                dl.withUnsafeMutableBufferPointer { softmaxCrossEntropy(logits: lp.baseAddress!, rows: 3, classes: 5, labels: labels, gradient: $0.baseAddress!) }
            }
            var dx = [Float]()
            if grad {
                var df = [Float](repeating: 0, count: 3 * 16)
                f.withUnsafeBufferPointer { fp in dl.withUnsafeBufferPointer { d in df.withUnsafeMutableBufferPointer {
                    fc.backward(input: fp.baseAddress!, rows: 3, gradOutput: d.baseAddress!, parameterGradient: true, gradInput: $0.baseAddress!)
                }}}
                let a = Activation(shape: BatchShape(n: 3, c: 16, h: 2, w: 2), layout: .blocked, precision: .float32)
                df.withUnsafeBufferPointer { globalAveragePoolBackward($0.baseAddress!, width: 16, offset: 0, into: a) }
                dx = a.toTensor().data
            }
            return (l, dx, f)
        }
        let (_, dx, _) = loss(xT, grad: true)
        let gw = fc.weight.grad!.data, gb = fc.bias.grad!.data
        Self.check("pool+linear+CE.input", values: &xT.data, analytic: dx, epsilon: 1e-3) { loss(Tensor(shape: xT.shape, data: $0)).0 }
        var w = fc.weight.value.data
        Self.check("linear.weight", values: &w, analytic: gw, epsilon: 1e-3) { v in fc.weight.value.data = v; return loss(xT).0 }
        fc.weight.value.data = w
        var b = fc.bias.value.data
        Self.check("linear.bias", values: &b, analytic: gb, epsilon: 1e-3) { v in fc.bias.value.data = v; return loss(xT).0 }
        // Cross-entropy of uniform logits is log(C).
        let zeros = [Float](repeating: 0, count: 10)
        let l = zeros.withUnsafeBufferPointer { softmaxCrossEntropy(logits: $0.baseAddress!, rows: 2, classes: 5, labels: [0, 3], gradient: nil) }
        #expect(abs(l - 1.6094379124341003) < 1e-12)
    }

    /// The whole network: memo_resnet14 with two specialized blocks in MEMO's stage-1 state
    /// (generalized training, block 0 frozen in eval mode, block 1 training), loss = CE + aux CE.
    @Test(arguments: [(false, false, 2), (true, false, 2), (true, true, 2), (true, true, 1)])
    func wholeNetwork(trainBase: Bool, trainAdaptive: Bool, stages: Int) {
        var rng = MEMORandom(seed: 21)
        let net = MEMONetwork(backbone: .memoResNet14, rng: &rng)
        net.addStage(newClasses: 3, rng: &rng)
        if stages == 2 { net.addStage(newClasses: 2, rng: &rng) }
        net.configureTraining(trainBase: trainBase, trainAdaptive: trainAdaptive)
        Self.setFrozenBlockStatistics(net)
        let x = Self.randomTensor([4, 3, 32, 32], seed: 22)
        let labels = stages == 2 ? [0, 4, 2, 3] : [0, 1, 2, 1], aux = stages == 2 ? [0, 2, 0, 1] : [1, 2, 3, 2]
        let stats = net.namedParameters().filter { $0.1.kind == .runningStatistic }.map { ($0.1, $0.1.value) }
        func loss(withGradients: Bool) -> Double {
            net.forward(x, training: true)
            for (p, v) in stats { p.value = v }
            let l = MEMOLoss(network: net, labels: labels, auxLabels: aux)
            if withGradients { net.backward(l) }
            return l.total
        }
        _ = loss(withGradients: true)
        let trainable = Set(net.trainableParameters().map { $0.0 })
        #expect(trainable.contains("generalized.conv.weight") == (trainBase || stages == 1))
        #expect(trainable.contains("specialized.0.stage3.0.convA.weight") == (trainAdaptive || stages == 1))
        let names = ["generalized.conv.weight", "generalized.stage1.0.bnA.weight", "generalized.stage2.0.convA.weight",
                     "specialized.\(stages - 1).stage3.0.convA.weight", "specialized.\(stages - 1).stage3.1.bnB.bias", "specialized.0.stage3.1.convA.weight", "fc.weight", "auxFC.bias"]
        let byName = Dictionary(uniqueKeysWithValues: net.namedParameters())
        for name in names where trainable.contains(name) {
            let p = byName[name]!
            let analytic = p.grad!.data
            var v = p.value.data
            Self.check(name, values: &v, analytic: analytic, samples: 4, epsilon: 1e-3) { vals in
                p.value.data = vals
                return loss(withGradients: false)
            }
            p.value.data = v
        }
        if !trainAdaptive { #expect(byName["specialized.0.stage3.0.convA.weight"]!.grad == nil) }
    }
}
