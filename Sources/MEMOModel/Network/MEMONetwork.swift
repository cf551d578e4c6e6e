/// MEMO's expandable network (the reference's `AdaptiveNet`): generalized blocks shared by all
/// stages, one specialized block per stage, a classifier `fc` over the concatenated features of
/// all specialized blocks, and an auxiliary classifier `auxFC` over the newest block's feature
/// (its output 0 means "an old class").
///
/// Paper: Zhou et al., "A Model or 603 Exemplars: Towards Memory-Efficient Class-Incremental
/// Learning", ICLR 2023, <https://arxiv.org/abs/2205.13218>.
public final class MEMONetwork: ParameterContainer {
    /// Train/eval and trainable/frozen state of one part of the network.
    public struct PartState: Equatable, Sendable {
        /// BN uses batch statistics (PyTorch train mode) during training steps.
        public var batchStatistics: Bool
        /// Parameters receive gradients and are updated.
        public var trainable: Bool
        public init(batchStatistics: Bool, trainable: Bool) {
            self.batchStatistics = batchStatistics; self.trainable = trainable
        }
        public static let training = PartState(batchStatistics: true, trainable: true)
        public static let frozen = PartState(batchStatistics: false, trainable: false)
    }

    public let backbone: Backbone
    public let generalized: GeneralizedBlocks
    public private(set) var specialized: [SpecializedBlock] = []
    public private(set) var fc: Linear?
    public private(set) var auxFC: Linear?
    /// Classes introduced at each stage so far.
    public private(set) var taskSizes: [Int] = []
    public var generalizedState = PartState.training
    public var specializedStates: [PartState] = []

    /// Outputs of the last forward pass (row-major).
    public private(set) var logits: [Float] = []
    public private(set) var auxLogits: [Float] = []
    public private(set) var features: [Float] = []
    public private(set) var batchSize = 0
    private var input: [Int: Activation] = [:]
    /// The number format of activations and convolutions in every pass (see `Precision`);
    /// parameters are float32 either way. Not stored in checkpoints: a property of how a run
    /// trains and evaluates, not of the network. Check `Precision.checkSupported()` before
    /// setting bf16.
    public var precision: Precision = .float32
    private var lastTraining = false

    /// Side of the square input images the pointer `forward` reads: the data pipeline's
    /// (`NetworkInput.side`, 32) unless set (tests run ResNet-18 at 64x64).
    public var inputSize: Int

    public init(backbone: Backbone, rng: inout MEMORandom) {
        self.backbone = backbone
        inputSize = NetworkInput.side
        generalized = GeneralizedBlocks(backbone: backbone, rng: &rng)
    }

    public var classCount: Int { taskSizes.reduce(0, +) }
    public var featureWidth: Int { backbone.featureWidth * specialized.count }
    public var auxClassCount: Int { auxFC?.outFeatures ?? 0 }

    public func namedParameters() -> [(String, Parameter)] {
        var all = generalized.prefixed("generalized")
        for (k, b) in specialized.enumerated() { all += b.prefixed("specialized.\(k)") }
        if let fc { all += fc.prefixed("fc") }
        if let auxFC { all += auxFC.prefixed("auxFC") }
        return all
    }

    /// Parameters the optimizer updates in the current state.
    public func trainableParameters() -> [(String, Parameter)] {
        var all: [(String, Parameter)] = []
        if generalizedState.trainable { all += generalized.prefixed("generalized") }
        for (k, b) in specialized.enumerated() where specializedStates[k].trainable {
            all += b.prefixed("specialized.\(k)")
        }
        if let fc { all += fc.prefixed("fc") }
        if let auxFC { all += auxFC.prefixed("auxFC") }
        return all.filter { $0.1.kind == .weight }
    }

    /// FNV-1a over the bit patterns of every tensor (weights and running statistics), in
    /// `namedParameters()` order: equal digests mean bitwise-equal networks.
    public func parameterDigest() -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for (_, p) in namedParameters() {
            for v in p.value.data {
                h = (h ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01b3
            }
        }
        return h
    }

    /// Running statistics that a training step updates: those of the parts in batch-statistics
    /// mode.
    public func batchStatisticParameters() -> [Parameter] {
        var all: [(String, Parameter)] = []
        if generalizedState.batchStatistics { all += generalized.namedParameters() }
        for (k, b) in specialized.enumerated() where specializedStates[k].batchStatistics { all += b.namedParameters() }
        return all.map(\.1).filter { $0.kind == .runningStatistic }
    }

    /// Starts a new stage with `newClasses` classes (the reference's `update_fc`): a specialized
    /// block (a copy of the newest one after stage 0), `fc` grown to all classes with the old
    /// weights and biases kept in place, and a fresh `auxFC` (64 -> newClasses + 1).
    public func addStage(newClasses: Int, rng: inout MEMORandom) {
        precondition(newClasses > 0)
        let block = specialized.last?.copy(backbone: backbone) ?? SpecializedBlock(backbone: backbone, rng: &rng)
        specialized.append(block)
        specializedStates.append(.training)
        let total = classCount + newClasses
        let grown = Linear(inFeatures: featureWidth, outFeatures: total, rng: &rng)
        if let old = fc {
            for r in 0..<old.outFeatures {
                for c in 0..<old.inFeatures {
                    grown.weight.value.data[r * grown.inFeatures + c] = old.weight.value.data[r * old.inFeatures + c]
                }
                grown.bias.value.data[r] = old.bias.value.data[r]
            }
        }
        fc = grown
        taskSizes.append(newClasses)
        auxFC = Linear(inFeatures: backbone.featureWidth, outFeatures: newClasses + 1, rng: &rng)
    }

    /// Sets the parts' states for training the newest stage, as the reference does: at stage 0
    /// everything trains; later the generalized blocks train only with `trainBase`, the old
    /// specialized blocks only with `trainAdaptive`, the newest one always.
    public func configureTraining(trainBase: Bool, trainAdaptive: Bool) {
        let stage = specialized.count - 1
        if stage == 0 {
            generalizedState = .training
            specializedStates = [.training]
            return
        }
        generalizedState = trainBase ? .training : .frozen
        specializedStates = (0...stage).map { k in
            k == stage || trainAdaptive ? .training : .frozen
        }
    }

    /// Forward pass on a plain NCHW batch [n, 3, inputSize, inputSize]. `training` uses each part's state;
    /// otherwise every BN uses running statistics (evaluation). Fills `logits`, `auxLogits` and
    /// `features`.
    public func forward(_ batch: UnsafePointer<Float>, count n: Int, training: Bool) {
        precondition(!specialized.isEmpty && fc != nil, "forward before the first stage was added")
        let x: Activation
        if let a = input[n], a.shape.h == inputSize, a.precision == precision { x = a } else {
            if input.count > 3 { input.removeAll() }
            x = Activation(shape: BatchShape(n: n, c: 3, h: inputSize, w: inputSize), layout: .plain, precision: precision)
            input[n] = x
        }
        x.load(batch)
        // A part keeps activations for backward only when it trains or a gradient passes
        // through it to the generalized blocks.
        func mode(_ state: PartState, gradientPasses: Bool) -> ForwardMode {
            guard training else { return .inference }
            if state.batchStatistics { return .train }
            if state.trainable { return .trainRunningStatistics }
            return gradientPasses ? .frozen : .inference
        }
        let base = generalized.forward(x, mode: mode(generalizedState, gradientPasses: false))
        let width = featureWidth
        if features.count != n * width { features = [Float](repeating: 0, count: n * width) }
        features.withUnsafeMutableBufferPointer { f in
            for (k, b) in specialized.enumerated() {
                b.forward(base, mode: mode(specializedStates[k], gradientPasses: generalizedState.trainable),
                          features: f.baseAddress!, width: width, offset: k * backbone.featureWidth)
            }
        }
        let fcl = fc!
        if logits.count != n * fcl.outFeatures { logits = [Float](repeating: 0, count: n * fcl.outFeatures) }
        features.withUnsafeBufferPointer { f in
            logits.withUnsafeMutableBufferPointer { fcl.forward(f.baseAddress!, rows: n, into: $0.baseAddress!) }
        }
        if let aux = auxFC {
            if auxLogits.count != n * aux.outFeatures { auxLogits = [Float](repeating: 0, count: n * aux.outFeatures) }
            features.withUnsafeBufferPointer { f in
                auxLogits.withUnsafeMutableBufferPointer {
                    aux.forward(f.baseAddress! + (width - backbone.featureWidth), rows: n, ldx: width, into: $0.baseAddress!)
                }
            }
        }
        batchSize = n
        lastTraining = training
    }

    /// Convenience: forward on a tensor [n, 3, s, s]; sets `inputSize` to s.
    public func forward(_ batch: Tensor, training: Bool) {
        precondition(batch.shape.count == 4 && batch.shape[1] == 3 && batch.shape[2] == batch.shape[3],
                     "input must be [N, 3, S, S]")
        inputSize = batch.shape[2]
        batch.data.withUnsafeBufferPointer { forward($0.baseAddress!, count: batch.shape[0], training: training) }
    }

    /// Backward pass of the last training forward: dLoss/dLogits [n, classes] and optionally
    /// dLoss/dAuxLogits [n, auxClasses]. Writes `grad` of every trainable parameter (frozen
    /// blocks pass gradients through to the generalized blocks when those train).
    public func backward(dLogits: [Float], dAuxLogits: [Float]?) {
        precondition(lastTraining, "backward needs a training forward pass")
        let n = batchSize, width = featureWidth
        var dFeatures = [Float](repeating: 0, count: n * width)
        features.withUnsafeBufferPointer { f in
        dFeatures.withUnsafeMutableBufferPointer { df in
            dLogits.withUnsafeBufferPointer { dl in
                fc!.backward(input: f.baseAddress!, rows: n, gradOutput: dl.baseAddress!, parameterGradient: true,
                             gradInput: df.baseAddress!)
            }
            if let dAuxLogits, let aux = auxFC {
                dAuxLogits.withUnsafeBufferPointer { da in
                    aux.backward(input: f.baseAddress! + (width - backbone.featureWidth), rows: n, ldx: width,
                                 gradOutput: da.baseAddress!, parameterGradient: true,
                                 gradInput: df.baseAddress! + (width - backbone.featureWidth))
                }
            }
        }}
        let needBase = generalizedState.trainable
        var dBase: Activation?
        dFeatures.withUnsafeBufferPointer { df in
            for (k, b) in specialized.enumerated() {
                let trainable = specializedStates[k].trainable
                guard trainable || needBase else { continue }
                let g = b.backward(dFeatures: df.baseAddress!, width: width, offset: k * backbone.featureWidth,
                                   parameterGradient: trainable, inputGradient: needBase)
                if let g {
                    // g is a new activation: the first one becomes the sum.
                    if let acc = dBase { addInPlace(acc, g) } else { dBase = g }
                }
            }
        }
        if needBase, let dBase { generalized.backward(dBase) }
    }

    /// The reference's weight alignment after a stage: new classes' rows of `fc.weight` are
    /// scaled by gamma = mean L2 norm of the old rows / mean L2 norm of the new rows.
    /// Returns gamma.
    @discardableResult
    public func weightAlign(increment: Int) -> Float {
        guard let fc else { return 1 }
        let rows = fc.outFeatures, cols = fc.inFeatures
        precondition(increment > 0 && increment < rows)
        func norm(_ r: Int) -> Double {
            var s = 0.0
            for c in 0..<cols { let v = Double(fc.weight.value.data[r * cols + c]); s += v * v }
            return s.squareRoot()
        }
        let old = (0..<(rows - increment)).map(norm).reduce(0, +) / Double(rows - increment)
        let new = ((rows - increment)..<rows).map(norm).reduce(0, +) / Double(increment)
        let gamma = Float(old / new)
        for r in (rows - increment)..<rows {
            for c in 0..<cols { fc.weight.value.data[r * cols + c] *= gamma }
        }
        return gamma
    }

    /// Frees cached primitives and activation buffers (they are rebuilt on demand).
    public func releaseCaches() {
        generalized.releaseCaches()
        specialized.forEach { $0.releaseCaches() }
        input.removeAll()
        ActivationPool.shared.trim()
    }
}
