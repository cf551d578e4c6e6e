/// MEMO's generalized (shared, shallow) blocks: a stem (conv - BN - ReLU, with a max pool in
/// ConvNet2 and ResNet-18) followed by residual stages.
///
/// - CIFAR ResNets: conv3x3 3->16, `stage1` (n blocks of 16 channels), `stage2` (n blocks of 32,
///   the first with stride 2). [N, 3, 32, 32] plain -> [N, 32, 16, 16] blocked.
/// - ConvNet2: `conv_block(3, 64)` = conv3x3 3->64 with bias, BN, ReLU, MaxPool2d(2); no stages.
///   [N, 3, 32, 32] -> [N, 64, 16, 16].
/// - ResNet-18: conv7x7 3->64 stride 2 padding 3, BN, ReLU, MaxPool2d(3, 2, 1), `stage1..3`
///   (layer1..3: 2 blocks of 64, 128, 256 channels, 1x1-conv + BN projection shortcuts).
///   [N, 3, 224, 224] -> [N, 256, 14, 14].
///
/// Parameter names: `conv.*`, `bn.*`, `stage<i>.<block>.*`.
public final class GeneralizedBlocks: ParameterContainer {
    public let stem: ConvStem
    public let stages: [ResidualStage]

    public var conv: Conv2D { stem.conv }
    public var bn: BatchNorm { stem.bn }

    public init(backbone: Backbone, rng: inout MEMORandom) {
        let n = backbone.blocksPerStage
        switch backbone.family {
        case .cifarResNet:
            stem = ConvStem(conv: Conv2D(inChannels: 3, outChannels: 16, stride: 1, rng: &rng), pool: nil)
            stages = [ResidualStage(inChannels: 16, outChannels: 16, stride: 1, count: n, rng: &rng),
                      ResidualStage(inChannels: 16, outChannels: 32, stride: 2, count: n, rng: &rng)]
        case .convNet2:
            stem = ConvStem(conv: Conv2D(inChannels: 3, outChannels: 64, kernel: 3, stride: 1, padding: 1, bias: true,
                                         initialization: .pytorchDefault, rng: &rng),
                            pool: Pool2D(.max, window: 2))
            stages = []
        case .imageNetResNet:
            stem = ConvStem(conv: Conv2D(inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3, bias: false,
                                         initialization: .kaimingNormalFanOut, rng: &rng),
                            pool: Pool2D(.max, window: 3, stride: 2, padding: 1))
            stages = [ResidualStage(inChannels: 64, outChannels: 64, stride: 1, count: n, shortcut: .projection, rng: &rng),
                      ResidualStage(inChannels: 64, outChannels: 128, stride: 2, count: n, shortcut: .projection, rng: &rng),
                      ResidualStage(inChannels: 128, outChannels: 256, stride: 2, count: n, shortcut: .projection, rng: &rng)]
        }
    }

    public func namedParameters() -> [(String, Parameter)] {
        stem.namedParameters() + stages.enumerated().flatMap { $0.element.prefixed("stage\($0.offset + 1)") }
    }

    func forward(_ x: Activation, mode: ForwardMode) -> Activation {
        var h = stem.forward(x, mode: mode)
        for s in stages { h = s.forward(h, mode: mode) }
        return h
    }

    /// Backward from the gradient of the output; writes every parameter gradient.
    func backward(_ dy: Activation) {
        var g = dy
        for s in stages.reversed() {
            guard let next = s.backward(g, parameterGradient: true, inputGradient: true) else {
                preconditionFailure("GeneralizedBlocks: a stage returned no input gradient")
            }
            g = next
        }
        _ = stem.backward(g, parameterGradient: true, inputGradient: false)
    }

    func releaseCaches() {
        stem.releaseCaches()
        stages.forEach { $0.releaseCaches() }
    }
}

/// One specialized (deep, per-stage) block and its pooling to a feature vector.
///
/// - CIFAR ResNets: `stage3` (n blocks of 64 channels, the first with stride 2), global average
///   pool: [N, 32, 16, 16] -> 64-d feature.
/// - ConvNet2: `conv_block(64, 64)` (`conv.*`, `bn.*`: conv3x3 with bias, BN, ReLU, MaxPool2d(2)),
///   then AvgPool2d(8): [N, 64, 16, 16] -> [N, 64, 1, 1] -> 64-d feature.
/// - ResNet-18: `stage4` (layer4: 2 blocks of 512 channels, the first with stride 2 and a
///   projection shortcut), adaptive average pool to 1x1: [N, 256, 14, 14] -> 512-d feature.
///
/// The feature is written into a wider feature matrix (all blocks' features side by side).
public final class SpecializedBlock: ParameterContainer {
    public let stem: ConvStem?
    public let stage: ResidualStage?
    /// The parameter-name prefix of `stage` (`stage3`, `stage4`).
    let stageName: String
    /// ConvNet2's fixed-window average pool; nil means global average pooling.
    let averagePool: Pool2D?
    /// The pooled map and the map before ConvNet2's average pool, kept by a recording forward pass.
    private var lastOutput: Activation?
    private var lastPoolInput: Activation?

    public var stage3: ResidualStage? { stage }

    public init(backbone: Backbone, rng: inout MEMORandom) {
        switch backbone.family {
        case .cifarResNet:
            stem = nil
            stage = ResidualStage(inChannels: 32, outChannels: backbone.featureWidth, stride: 2,
                                  count: backbone.blocksPerStage, rng: &rng)
            stageName = "stage3"
            averagePool = nil
        case .convNet2:
            stem = ConvStem(conv: Conv2D(inChannels: 64, outChannels: 64, kernel: 3, stride: 1, padding: 1, bias: true,
                                         initialization: .pytorchDefault, rng: &rng),
                            pool: Pool2D(.max, window: 2))
            stage = nil
            stageName = ""
            averagePool = Pool2D(.average, window: 8)
        case .imageNetResNet:
            stem = nil
            stage = ResidualStage(inChannels: 256, outChannels: backbone.featureWidth, stride: 2,
                                  count: backbone.blocksPerStage, shortcut: .projection, rng: &rng)
            stageName = "stage4"
            averagePool = nil
        }
    }

    public func namedParameters() -> [(String, Parameter)] {
        (stem?.namedParameters() ?? []) + (stage.map { $0.prefixed(stageName) } ?? [])
    }

    func forward(_ x: Activation, mode: ForwardMode, features: UnsafeMutablePointer<Float>, width: Int, offset: Int) {
        lastOutput = nil; lastPoolInput = nil
        var y = x
        if let stem { y = stem.forward(y, mode: mode) }
        if let stage { y = stage.forward(y, mode: mode) }
        let poolInput = y
        if let averagePool {
            y = averagePool.forward(y, inference: mode.inference)
            // The reference flattens the pooled map into the feature; it is 1x1 at the input size
            // ConvNet2 is built for (32x32), anything else would not fit `fc`.
            precondition(y.shape.h == 1 && y.shape.w == 1, "ConvNet2 needs 32x32 inputs (pooled map \(y.shape))")
        }
        if !mode.inference { lastOutput = y; lastPoolInput = poolInput }
        globalAveragePool(y, into: features, width: width, offset: offset)
    }

    func backward(dFeatures: UnsafePointer<Float>, width: Int, offset: Int, parameterGradient: Bool,
                  inputGradient: Bool) -> Activation? {
        guard let y = lastOutput, let poolInput = lastPoolInput else {
            preconditionFailure("SpecializedBlock.backward without a recording forward pass")
        }
        lastOutput = nil; lastPoolInput = nil
        let dy = Activation(shape: y.shape, layout: .blocked, precision: y.precision)
        globalAveragePoolBackward(dFeatures, width: width, offset: offset, into: dy)
        var g: Activation? = averagePool?.backward(input: poolInput, gradOutput: dy) ?? dy
        if let stage, let gs = g {
            g = stage.backward(gs, parameterGradient: parameterGradient, inputGradient: inputGradient || stem != nil)
        }
        if let stem, let gs = g {
            g = stem.backward(gs, parameterGradient: parameterGradient, inputGradient: inputGradient)
        }
        return inputGradient ? g : nil
    }

    /// A new block with the same values (MEMO initialises a stage's new block as a copy of the
    /// previous newest one).
    public func copy(backbone: Backbone) -> SpecializedBlock {
        var rng = MEMORandom(seed: 0)
        let b = SpecializedBlock(backbone: backbone, rng: &rng)
        for ((_, dst), (_, src)) in zip(b.namedParameters(), namedParameters()) { dst.value = src.value }
        return b
    }

    func releaseCaches() {
        lastOutput = nil; lastPoolInput = nil
        stem?.releaseCaches(); stage?.releaseCaches(); averagePool?.releaseCaches()
    }
}
