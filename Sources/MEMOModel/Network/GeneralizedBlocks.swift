/// MEMO's generalized (shared, shallow) blocks: conv3x3 3->16, BN, ReLU, `stage1` (n blocks of
/// 16 channels) and `stage2` (n blocks of 32 channels, the first with stride 2).
///
/// Shapes: input [N, 3, 32, 32] plain NCHW -> output [N, 32, 16, 16] blocked.
public final class GeneralizedBlocks: ParameterContainer {
    public let conv: Conv2D
    public let bn: BatchNorm
    public let stage1: ResidualStage
    public let stage2: ResidualStage
    private var last: (x: Activation, a: Activation, training: Bool)?

    public init(backbone: Backbone, rng: inout MEMORandom) {
        let n = backbone.blocksPerStage
        conv = Conv2D(inChannels: 3, outChannels: 16, stride: 1, rng: &rng)
        bn = BatchNorm(channels: 16, fusedReLU: true)
        stage1 = ResidualStage(inChannels: 16, outChannels: 16, stride: 1, count: n, rng: &rng)
        stage2 = ResidualStage(inChannels: 16, outChannels: 32, stride: 2, count: n, rng: &rng)
    }

    public func namedParameters() -> [(String, Parameter)] {
        conv.prefixed("conv") + bn.prefixed("bn") + stage1.prefixed("stage1") + stage2.prefixed("stage2")
    }

    func forward(_ x: Activation, training: Bool) -> Activation {
        let a = conv.forward(x)
        let h = bn.forward(a, training: training)
        last = (x, a, training)
        return stage2.forward(stage1.forward(h, training: training), training: training)
    }

    /// Backward from the gradient of the output; writes every parameter gradient.
    func backward(_ dy: Activation) {
        guard let l = last else { preconditionFailure("GeneralizedBlocks.backward before forward") }
        let d1 = stage2.backward(dy, parameterGradient: true, inputGradient: true)!
        let d0 = stage1.backward(d1, parameterGradient: true, inputGradient: true)!
        let da = bn.backward(input: l.a, gradOutput: d0, training: l.training, parameterGradient: true)
        _ = conv.backward(input: l.x, gradOutput: da, inputGradient: false, weightGradient: true)
    }

    func releaseCaches() {
        last = nil
        conv.releaseCaches(); bn.releaseCaches(); stage1.releaseCaches(); stage2.releaseCaches()
    }
}

/// One specialized (deep, per-stage) block: `stage3` (n blocks of 64 channels, the first with
/// stride 2) and global average pooling to a 64-d feature.
///
/// Shapes: input [N, 32, 16, 16] -> feature [N, 64] written into a wider feature matrix.
public final class SpecializedBlock: ParameterContainer {
    public let stage3: ResidualStage
    private var gradOutput: [BatchShape: Activation] = [:]
    private var lastOutput: Activation?

    public init(backbone: Backbone, rng: inout MEMORandom) {
        stage3 = ResidualStage(inChannels: 32, outChannels: Backbone.featureWidth, stride: 2,
                               count: backbone.blocksPerStage, rng: &rng)
    }

    public func namedParameters() -> [(String, Parameter)] { stage3.prefixed("stage3") }

    func forward(_ x: Activation, training: Bool, features: UnsafeMutablePointer<Float>, width: Int, offset: Int) {
        let y = stage3.forward(x, training: training)
        lastOutput = y
        globalAveragePool(y, into: features, width: width, offset: offset)
    }

    func backward(dFeatures: UnsafePointer<Float>, width: Int, offset: Int, parameterGradient: Bool,
                  inputGradient: Bool) -> Activation? {
        guard let y = lastOutput else { preconditionFailure("SpecializedBlock.backward before forward") }
        let dy: Activation
        if let g = gradOutput[y.shape] { dy = g } else {
            dy = Activation(shape: y.shape, layout: .blocked)
            gradOutput[y.shape] = dy
        }
        globalAveragePoolBackward(dFeatures, width: width, offset: offset, into: dy)
        return stage3.backward(dy, parameterGradient: parameterGradient, inputGradient: inputGradient)
    }

    /// A new block with the same values (MEMO initialises a stage's new block as a copy of the
    /// previous newest one).
    public func copy(backbone: Backbone) -> SpecializedBlock {
        var rng = MEMORandom(seed: 0)
        let b = SpecializedBlock(backbone: backbone, rng: &rng)
        for ((_, dst), (_, src)) in zip(b.namedParameters(), namedParameters()) { dst.value = src.value }
        return b
    }

    func releaseCaches() { gradOutput.removeAll(); lastOutput = nil; stage3.releaseCaches() }
}
