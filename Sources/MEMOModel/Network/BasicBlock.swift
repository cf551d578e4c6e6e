/// The ResNet BasicBlock: conv3x3(stride s) - BN - ReLU - conv3x3 - BN, plus the shortcut, then
/// ReLU. The shortcut is the identity, or where the shape changes either MEMO's CIFAR
/// "DownsampleA" (no parameters) or, in the ImageNet ResNets, a projection: conv1x1(stride s) - BN
/// (`shortcutConv`, `shortcutBN`; the reference's `downsample.0`, `downsample.1`). Forward keeps
/// what backward needs (the sub-layers own their outputs); backward must follow the forward of
/// the same shape.
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

    private final class Plan {
        let shortcut: Activation?
        let output: Activation
        let gradJoin: Activation
        let gradInput: Activation
        init(input: BatchShape, output: BatchShape, downsamples: Bool) {
            shortcut = downsamples ? Activation(shape: output, layout: .blocked) : nil
            self.output = Activation(shape: output, layout: .blocked)
            gradJoin = Activation(shape: output, layout: .blocked)
            gradInput = Activation(shape: input, layout: .blocked)
        }
    }
    private struct Key: Hashable { let shape: BatchShape; let training: Bool }
    private var plans = PlanCache<Key, Plan>()
    private var last: (x: Activation, a1: Activation, h1: Activation, a2: Activation, h2: Activation,
                       s1: Activation?, plan: Plan, training: Bool)?

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

    /// - Parameter training: batch statistics in BN (train mode) or running statistics (eval mode).
    func forward(_ x: Activation, training: Bool) -> Activation {
        let a1 = convA.forward(x)
        let h1 = bnA.forward(a1, training: training)
        let a2 = convB.forward(h1)
        let h2 = bnB.forward(a2, training: training)
        let p = plans.get(Key(shape: x.shape, training: training)) {
            Plan(input: x.shape, output: h2.shape, downsamples: downsamples && shortcutConv == nil)
        }
        var s1: Activation?
        if let shortcutConv, let shortcutBN {
            let s = shortcutConv.forward(x)
            s1 = s
            addReLU(h2, shortcutBN.forward(s, training: training), into: p.output)
        } else if let s = p.shortcut {
            downsampleA(x, into: s)
            addReLU(h2, s, into: p.output)
        } else {
            addReLU(h2, x, into: p.output)
        }
        last = (x, a1, h1, a2, h2, s1, p, training)
        return p.output
    }

    /// Backward through the block. Writes parameter gradients when `parameterGradient`; returns
    /// the input gradient when `inputGradient` (nil otherwise).
    func backward(_ dy: Activation, parameterGradient: Bool, inputGradient: Bool) -> Activation? {
        guard let l = last else { preconditionFailure("BasicBlock.backward before forward") }
        let p = l.plan
        reluBackward(output: p.output, gradOutput: dy, into: p.gradJoin)
        let da2 = bnB.backward(input: l.a2, gradOutput: p.gradJoin, training: l.training, parameterGradient: parameterGradient)
        let dh1 = convB.backward(input: l.h1, gradOutput: da2, inputGradient: true, weightGradient: parameterGradient)!
        let da1 = bnA.backward(input: l.a1, gradOutput: dh1, training: l.training, parameterGradient: parameterGradient)
        let dxMain = convA.backward(input: l.x, gradOutput: da1, inputGradient: inputGradient, weightGradient: parameterGradient)
        var dxShortcut: Activation?
        if let shortcutConv, let shortcutBN, let s1 = l.s1 {
            let ds = shortcutBN.backward(input: s1, gradOutput: p.gradJoin, training: l.training, parameterGradient: parameterGradient)
            dxShortcut = shortcutConv.backward(input: l.x, gradOutput: ds, inputGradient: inputGradient,
                                               weightGradient: parameterGradient)
        }
        guard inputGradient, let dxMain else { return nil }
        if let dxShortcut {
            addActivations(dxMain, dxShortcut, into: p.gradInput)
        } else if downsamples {
            copyActivation(dxMain, into: p.gradInput)
            downsampleABackwardAdd(p.gradJoin, into: p.gradInput)
        } else {
            addActivations(dxMain, p.gradJoin, into: p.gradInput)
        }
        return p.gradInput
    }

    func releaseCaches() {
        plans.removeAll(); last = nil
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

    func forward(_ x: Activation, training: Bool) -> Activation {
        var h = x
        for b in blocks { h = b.forward(h, training: training) }
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
