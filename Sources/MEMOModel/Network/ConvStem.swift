/// conv - BN - ReLU - optional max pool: the CIFAR ResNets' first layer (3x3, no pool), ConvNet2's
/// `conv_block` (3x3 with bias, `MaxPool2d(2)`) and ResNet-18's stem (7x7 stride 2, `MaxPool2d(3,
/// stride 2, padding 1)`). Parameters are named `conv.*` and `bn.*`.
public final class ConvStem: ParameterContainer {
    public let conv: Conv2D
    public let bn: BatchNorm
    let pool: Pool2D?
    /// What the backward pass needs from the last recording forward pass.
    private var last: (x: Activation, a: Activation, h: Activation, batchStatistics: Bool)?

    init(conv: Conv2D, pool: Pool2D?) {
        self.conv = conv
        bn = BatchNorm(channels: conv.outChannels, fusedReLU: true)
        self.pool = pool
    }

    public func namedParameters() -> [(String, Parameter)] { conv.prefixed("conv") + bn.prefixed("bn") }

    func forward(_ x: Activation, mode: ForwardMode) -> Activation {
        last = nil
        if mode.inference {
            // Nothing to keep: the batch norm folded into the convolution, the ReLU a post-op.
            let h = conv.forwardFolded(x, bn: bn, postOps: [.relu], inference: true)
            return pool?.forward(h, inference: true) ?? h
        }
        let a = conv.forward(x, inference: mode.inference)
        let h = bn.forward(a, training: mode.batchStatistics, inference: mode.inference)
        if !mode.inference { last = (x, a, h, mode.batchStatistics) }
        return pool?.forward(h, inference: mode.inference) ?? h
    }

    /// Backward from the output gradient: writes the parameter gradients when
    /// `parameterGradient`, returns the input gradient when `inputGradient`.
    func backward(_ dy: Activation, parameterGradient: Bool, inputGradient: Bool) -> Activation? {
        guard let l = last else { preconditionFailure("ConvStem.backward without a recording forward pass") }
        last = nil
        let dh = pool?.backward(input: l.h, gradOutput: dy) ?? dy
        let da = bn.backward(input: l.a, gradOutput: dh, training: l.batchStatistics, parameterGradient: parameterGradient)
        return conv.backward(input: l.x, gradOutput: da, inputGradient: inputGradient, weightGradient: parameterGradient)
    }

    func releaseCaches() {
        last = nil
        conv.releaseCaches(); bn.releaseCaches(); pool?.releaseCaches()
    }
}
