/// The ResNet BasicBlock: conv3x3(stride s) - BN - ReLU - conv3x3 - BN, plus the shortcut, then
/// ReLU. The shortcut is the identity, or where the shape changes either MEMO's CIFAR
/// "DownsampleA" (no parameters) or, in the ImageNet ResNets, a projection: conv1x1(stride s) - BN
/// (`shortcutConv`, `shortcutBN`; the reference's `downsample.0`, `downsample.1`). Forward keeps
/// what backward needs; backward must follow the forward pass it differentiates.
public final class BasicBlock: ParameterContainer {
    /// How a block whose shape changes joins its input to its output.
    public enum ShortcutKind: Sendable { case downsampleA, projection }

    public let convA: Conv2D
    public let bnA: BatchNorm
    public let convB: Conv2D
    public let bnB: BatchNorm
    public let downsamples: Bool
    /// The projection shortcut's layers, when the block has one.
    public let shortcutConv: Conv2D?
    public let shortcutBN: BatchNorm?

    /// What the backward pass needs from the last forward pass (nil after an inference pass or
    /// once the backward pass ran): a trained block's activations, or a frozen block's ReLU masks.
    private enum Saved {
        case trained(x: Activation, a1: Activation, h1: Activation, a2: Activation, s1: Activation?, output: Activation,
                     batchStatistics: Bool)
        case frozen(h1: ReLUMask, output: ReLUMask)
    }
    private var last: Saved?

    public init(inChannels: Int, outChannels: Int, stride: Int, shortcut: ShortcutKind = .downsampleA,
                rng: inout MEMORandom) {
        convA = Conv2D(inChannels: inChannels, outChannels: outChannels, stride: stride, rng: &rng)
        bnA = BatchNorm(channels: outChannels, fusedReLU: true)
        convB = Conv2D(inChannels: outChannels, outChannels: outChannels, stride: 1, rng: &rng)
        bnB = BatchNorm(channels: outChannels, fusedReLU: false)
        downsamples = stride != 1 || inChannels != outChannels
        if downsamples && shortcut == .projection {
            shortcutConv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride, padding: 0,
                                  bias: false, initialization: .kaimingNormalFanOut, rng: &rng)
            shortcutBN = BatchNorm(channels: outChannels, fusedReLU: false)
        } else {
            shortcutConv = nil
            shortcutBN = nil
        }
    }

    public func namedParameters() -> [(String, Parameter)] {
        var all = convA.prefixed("convA") + bnA.prefixed("bnA") + convB.prefixed("convB") + bnB.prefixed("bnB")
        if let shortcutConv, let shortcutBN { all += shortcutConv.prefixed("shortcutConv") + shortcutBN.prefixed("shortcutBN") }
        return all
    }

    /// Forward into a new activation; keeps what `backward` needs unless `mode` is `.inference`.
    /// Frozen and inference passes fold each evaluation-mode batch norm into the convolution
    /// before it, with the ReLU and the residual join as post-ops of oneDNN's kernels.
    func forward(_ x: Activation, mode: ForwardMode) -> Activation {
        last = nil
        if mode == .frozen || mode == .inference { return forwardFolded(x, inference: mode.inference) }
        let stats = mode.batchStatistics
        let a1 = convA.forward(x)
        let h1 = bnA.forward(a1, training: stats)
        let a2 = convB.forward(h1)
        // The join is written over bnB's output, which backward does not need.
        let output = bnB.forward(a2, training: stats)
        var s1: Activation?
        if let shortcutConv, let shortcutBN {
            let s = shortcutConv.forward(x)
            s1 = s
            addReLU(output, shortcutBN.forward(s, training: stats), into: output)
        } else if downsamples {
            let s = Activation(shape: output.shape, layout: .blocked, precision: x.precision)
            downsampleA(x, into: s)
            addReLU(output, s, into: output)
        } else {
            addReLU(output, x, into: output)
        }
        last = .trained(x: x, a1: a1, h1: h1, a2: a2, s1: s1, output: output, batchStatistics: stats)
        return output
    }

    /// relu(bnB(convB(h1)) + shortcut(x)) with h1 = relu(bnA(convA(x))), the batch norms in
    /// evaluation mode and folded: the shortcut is written to the output first, convB adds to it.
    private func forwardFolded(_ x: Activation, inference: Bool) -> Activation {
        let h1 = convA.forwardFolded(x, bn: bnA, postOps: [.relu], inference: inference)
        let output = Activation(shape: h1.shape, layout: .blocked, precision: x.precision)
        if let shortcutConv, let shortcutBN {
            _ = shortcutConv.forwardFolded(x, bn: shortcutBN, postOps: [], into: output, inference: inference)
        } else if downsamples {
            downsampleA(x, into: output)
        } else {
            copyActivation(x, into: output)
        }
        _ = convB.forwardFolded(h1, bn: bnB, postOps: [.sum, .relu], into: output, inference: inference)
        if !inference { last = .frozen(h1: ReLUMask(h1), output: ReLUMask(output)) }
        return output
    }

    /// Forward for training with batch statistics or with running ones; what the tests call.
    func forward(_ x: Activation, training: Bool) -> Activation {
        forward(x, mode: training ? .train : .trainRunningStatistics)
    }

    /// Backward through the block after a forward pass that kept what it needs (and releases
    /// it). Writes parameter gradients when `parameterGradient` (a trained block only); returns
    /// the input gradient when `inputGradient` (nil otherwise).
    func backward(_ dy: Activation, parameterGradient: Bool, inputGradient: Bool) -> Activation? {
        guard let saved = last else { preconditionFailure("BasicBlock.backward without a recording forward pass") }
        last = nil
        let gradJoin = Activation(shape: dy.shape, layout: .blocked, precision: dy.precision)
        let dxMain: Activation?
        var dxShortcut: Activation?
        switch saved {
        case let .trained(x, a1, h1, a2, s1, output, stats):
            reluBackward(output: output, gradOutput: dy, into: gradJoin)
            let da2 = bnB.backward(input: a2, gradOutput: gradJoin, training: stats, parameterGradient: parameterGradient)
            let dh1 = convB.backward(input: h1, gradOutput: da2, inputGradient: true, weightGradient: parameterGradient)!
            let da1 = bnA.backward(input: a1, gradOutput: dh1, training: stats, parameterGradient: parameterGradient)
            dxMain = convA.backward(input: x, gradOutput: da1, inputGradient: inputGradient, weightGradient: parameterGradient)
            if let shortcutConv, let shortcutBN, let s1 {
                let ds = shortcutBN.backward(input: s1, gradOutput: gradJoin, training: stats, parameterGradient: parameterGradient)
                dxShortcut = shortcutConv.backward(input: x, gradOutput: ds, inputGradient: inputGradient,
                                                   weightGradient: parameterGradient)
            }
        case let .frozen(h1, output):
            precondition(!parameterGradient, "BasicBlock: a frozen block has no parameter gradients")
            guard inputGradient else { return nil }
            output.apply(dy, into: gradJoin)
            let dh1 = convB.backwardDataFolded(gradOutput: gradJoin)
            h1.apply(dh1, into: dh1)
            dxMain = convA.backwardDataFolded(gradOutput: dh1)
            if shortcutConv != nil { dxShortcut = shortcutConv!.backwardDataFolded(gradOutput: gradJoin) }
        }
        guard inputGradient, let dxMain else { return nil }
        if let dxShortcut {
            addActivations(dxMain, dxShortcut, into: dxMain)
        } else if downsamples {
            downsampleABackwardAdd(gradJoin, into: dxMain)
        } else {
            addActivations(dxMain, gradJoin, into: dxMain)
        }
        return dxMain
    }

    func releaseCaches() {
        last = nil
        convA.releaseCaches(); bnA.releaseCaches(); convB.releaseCaches(); bnB.releaseCaches()
        shortcutConv?.releaseCaches(); shortcutBN?.releaseCaches()
    }
}

/// A sequence of BasicBlocks of one width; the first may change stride and width.
public final class ResidualStage: ParameterContainer {
    public let blocks: [BasicBlock]

    public init(inChannels: Int, outChannels: Int, stride: Int, count: Int,
                shortcut: BasicBlock.ShortcutKind = .downsampleA, rng: inout MEMORandom) {
        var b: [BasicBlock] = []
        for i in 0..<count {
            b.append(BasicBlock(inChannels: i == 0 ? inChannels : outChannels, outChannels: outChannels,
                                stride: i == 0 ? stride : 1, shortcut: shortcut, rng: &rng))
        }
        blocks = b
    }

    public func namedParameters() -> [(String, Parameter)] {
        blocks.enumerated().flatMap { $0.element.prefixed("\($0.offset)") }
    }

    func forward(_ x: Activation, mode: ForwardMode) -> Activation {
        var h = x
        for b in blocks { h = b.forward(h, mode: mode) }
        return h
    }

    func backward(_ dy: Activation, parameterGradient: Bool, inputGradient: Bool) -> Activation? {
        var g: Activation? = dy
        for (i, b) in blocks.enumerated().reversed() {
            g = b.backward(g!, parameterGradient: parameterGradient, inputGradient: inputGradient || i > 0)
        }
        return g
    }

    func releaseCaches() { blocks.forEach { $0.releaseCaches() } }
}
