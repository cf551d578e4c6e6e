import CDNNL

/// 3x3 convolution, padding 1, stride 1 or 2, no bias: forward, backward-data and
/// backward-weights through oneDNN.
///
/// Weights are kept plain (OIHW) in `weight`; each pass reorders them into the layout oneDNN's
/// kernel asked for (a few KB, negligible) and the weight gradient back to OIHW. Activations are
/// `nChw16c`, except the input of the first convolution (plain NCHW with 3 channels).
///
/// Shapes: input [N, inChannels, H, W] -> output [N, outChannels, H/stride, W/stride].
public final class Conv2D: ParameterContainer {
    public let inChannels: Int
    public let outChannels: Int
    public let stride: Int
    public let weight: Parameter

    private struct Key: Hashable { let shape: BatchShape; let layout: Activation.Layout }
    private final class Plan {
        let forward: Primitive
        let outShape: BatchShape
        let output: Activation
        let plainWeightsMD: dnnl_memory_desc_t
        let fwdWeightsMD: dnnl_memory_desc_t
        let fwdWeights: FloatBuffer
        let fwdReorder: Primitive
        var backwardData: Primitive?
        var bwdWeightsMD = dnnl_memory_desc_t()
        var bwdWeights: FloatBuffer?
        var bwdReorder: Primitive?
        var gradInput: Activation?
        var backwardWeights: Primitive?
        var diffWeightsMD = dnnl_memory_desc_t()
        var diffWeights: FloatBuffer?
        var diffReorder: Primitive?

        init(forward: Primitive, outShape: BatchShape, plainWeightsMD: dnnl_memory_desc_t) {
            self.forward = forward
            self.outShape = outShape
            self.output = Activation(shape: outShape, layout: .blocked)
            self.plainWeightsMD = plainWeightsMD
            self.fwdWeightsMD = forward.md(dnnl_query_weights_md)
            self.fwdWeights = FloatBuffer(count: memoryDescSize(fwdWeightsMD) / 4)
            self.fwdReorder = Primitive(reorderFrom: plainWeightsMD, to: fwdWeightsMD)
        }
    }
    private var plans = PlanCache<Key, Plan>()

    /// Creates the layer with MEMO's initialisation: normal(0, sqrt(2 / (3·3·outChannels))).
    public init(inChannels: Int, outChannels: Int, stride: Int, rng: inout MEMORandom) {
        precondition(stride == 1 || stride == 2, "stride must be 1 or 2")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.stride = stride
        let std = (2.0 / Double(9 * outChannels)).squareRoot()
        let count = outChannels * inChannels * 9
        var w = [Float](repeating: 0, count: count)
        for i in 0..<count { w[i] = Float(rng.normal() * std) }
        weight = Parameter(Tensor(shape: [outChannels, inChannels, 3, 3], data: w))
    }

    public func namedParameters() -> [(String, Parameter)] { [("weight", weight)] }

    private var strides: [Int64] { [Int64(stride), Int64(stride)] }
    private let padding: [Int64] = [1, 1]

    private func plan(for x: Activation) -> Plan {
        precondition(x.shape.c == inChannels, "Conv2D expects \(inChannels) channels, got \(x.shape)")
        return plans.get(Key(shape: x.shape, layout: x.layout)) {
            let s = x.shape
            let out = BatchShape(n: s.n, c: outChannels, h: (s.h - 1) / stride + 1, w: (s.w - 1) / stride + 1)
            var src = x.md
            var wAny = memoryDesc([outChannels, inChannels, 3, 3], dnnl_format_tag_any)
            var dst = memoryDesc([out.n, out.c, out.h, out.w], blockedTag)
            var desc = dnnl_convolution_desc_t()
            dnnlCheck(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_convolution_direct,
                                                         &src, &wAny, nil, &dst, strides, padding, padding),
                      "conv fwd desc \(s)")
            let fwd = Primitive(&desc, what: "conv fwd \(s) -> \(out)")
            return Plan(forward: fwd, outShape: out,
                        plainWeightsMD: memoryDesc([outChannels, inChannels, 3, 3], dnnl_oihw))
        }
    }

    /// Forward pass; the returned activation is owned by the layer and overwritten by the next
    /// forward pass with the same input shape.
    func forward(_ x: Activation) -> Activation {
        let p = plan(for: x)
        weight.value.data.withUnsafeMutableBytes { w in
            p.fwdReorder.execute([(DNNL_ARG_FROM, p.plainWeightsMD, w.baseAddress!),
                                  (DNNL_ARG_TO, p.fwdWeightsMD, p.fwdWeights.raw)])
        }
        p.forward.execute([(DNNL_ARG_SRC, x.md, x.raw),
                           (DNNL_ARG_WEIGHTS, p.fwdWeightsMD, p.fwdWeights.raw),
                           (DNNL_ARG_DST, p.output.md, p.output.raw)])
        return p.output
    }

    /// Backward pass for the forward call on `x`. Writes `weight.grad` (OIHW) when
    /// `weightGradient`; returns the input gradient when `inputGradient`.
    func backward(input x: Activation, gradOutput dy: Activation, inputGradient: Bool,
                  weightGradient: Bool) -> Activation? {
        let p = plan(for: x)
        precondition(dy.shape == p.outShape)
        if weightGradient {
            if p.backwardWeights == nil {
                var src = x.md
                var dw = memoryDesc([outChannels, inChannels, 3, 3], dnnl_format_tag_any)
                var ddst = dy.md
                var desc = dnnl_convolution_desc_t()
                dnnlCheck(dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &dw, nil,
                                                                      &ddst, strides, padding, padding),
                          "conv bwd weights desc")
                let prim = Primitive(&desc, hint: p.forward, what: "conv bwd weights \(x.shape)")
                p.backwardWeights = prim
                p.diffWeightsMD = prim.md(dnnl_query_diff_weights_md)
                p.diffWeights = FloatBuffer(count: memoryDescSize(p.diffWeightsMD) / 4)
                p.diffReorder = Primitive(reorderFrom: p.diffWeightsMD, to: p.plainWeightsMD)
            }
            p.backwardWeights!.execute([(DNNL_ARG_SRC, x.md, x.raw),
                                        (DNNL_ARG_DIFF_DST, dy.md, dy.raw),
                                        (DNNL_ARG_DIFF_WEIGHTS, p.diffWeightsMD, p.diffWeights!.raw)])
            var g = weight.gradStorage()
            g.data.withUnsafeMutableBytes { gp in
                p.diffReorder!.execute([(DNNL_ARG_FROM, p.diffWeightsMD, p.diffWeights!.raw),
                                        (DNNL_ARG_TO, p.plainWeightsMD, gp.baseAddress!)])
            }
            weight.grad = g
        }
        guard inputGradient else { return nil }
        if p.backwardData == nil {
            var dsrc = x.md
            var wAny = memoryDesc([outChannels, inChannels, 3, 3], dnnl_format_tag_any)
            var ddst = dy.md
            var desc = dnnl_convolution_desc_t()
            dnnlCheck(dnnl_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &dsrc, &wAny, &ddst,
                                                               strides, padding, padding),
                      "conv bwd data desc")
            let prim = Primitive(&desc, hint: p.forward, what: "conv bwd data \(x.shape)")
            p.backwardData = prim
            p.bwdWeightsMD = prim.md(dnnl_query_weights_md)
            p.bwdWeights = FloatBuffer(count: memoryDescSize(p.bwdWeightsMD) / 4)
            p.bwdReorder = Primitive(reorderFrom: p.plainWeightsMD, to: p.bwdWeightsMD)
            p.gradInput = Activation(shape: x.shape, layout: x.layout)
        }
        weight.value.data.withUnsafeMutableBytes { w in
            p.bwdReorder!.execute([(DNNL_ARG_FROM, p.plainWeightsMD, w.baseAddress!),
                                   (DNNL_ARG_TO, p.bwdWeightsMD, p.bwdWeights!.raw)])
        }
        let dx = p.gradInput!
        p.backwardData!.execute([(DNNL_ARG_DIFF_DST, dy.md, dy.raw),
                                 (DNNL_ARG_WEIGHTS, p.bwdWeightsMD, p.bwdWeights!.raw),
                                 (DNNL_ARG_DIFF_SRC, dx.md, dx.raw)])
        return dx
    }

    /// Drops cached primitives and buffers (after training, to free memory).
    func releaseCaches() { plans.removeAll() }

    /// The thread count the forward primitive for `x` was created with (and runs with).
    func forwardPrimitiveThreads(for x: Activation) -> Int { plan(for: x).forward.threads }

    /// oneDNN's kernel names for a given input, for the benchmark report.
    func implementations(for x: Activation) -> String { plan(for: x).forward.implementation }
}
