import CDNNL

/// 2-D convolution (square kernel, any stride and padding, optional bias): forward, backward-data
/// and backward-weights (and bias) through oneDNN. MEMO's CIFAR ResNets use 3x3 / padding 1
/// without bias; ConvNet2 adds a bias; the ImageNet ResNet-18 has a 7x7 stride-2 stem (padding 3)
/// and 1x1 stride-2 shortcut projections.
///
/// Weights are kept plain (OIHW, float32) in `weight`; each pass reorders them into a pooled
/// buffer in the layout (and, for bf16 activations, the type) oneDNN's kernel asked for, and the
/// weight gradient, float32 in either precision, back to OIHW. Activations are
/// `nChw16c`, except the input of the first convolution (plain NCHW with 3 channels).
///
/// Shapes: input [N, inChannels, H, W] -> output [N, outChannels, H', W'] with
/// H' = (H + 2·padding − kernel) / stride + 1 (floor, as PyTorch).
public final class Conv2D: ParameterContainer {
    /// How the weights (and bias) start.
    public enum Initialization: Sendable {
        /// normal(0, sqrt(2 / (k·k·outChannels))): PyTorch's `kaiming_normal_(mode='fan_out',
        /// nonlinearity='relu')`, what MEMO's ResNets apply to every convolution.
        case kaimingNormalFanOut
        /// PyTorch's default for `nn.Conv2d` (used by ConvNet2, which sets no initialisation):
        /// weight and bias uniform in ±1/sqrt(inChannels·k·k) (kaiming_uniform with a = sqrt(5)).
        case pytorchDefault
    }

    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter
    /// The per-output-channel bias, when the layer has one.
    public let bias: Parameter?

    private struct Key: Hashable {
        let shape: BatchShape; let layout: Activation.Layout; let precision: Precision; let inference: Bool
        /// An evaluation-mode batch norm folded in (the kernel then has a bias) and post-ops.
        var folded = false
        var postOps: [PostOp] = []
    }
    private final class Plan {
        let forward: Primitive
        /// The forward primitive's algorithm, which its backward primitives must share.
        let algorithm: dnnl_alg_kind_t
        let outShape: BatchShape
        let plainWeightsMD: dnnl_memory_desc_t
        let fwdWeightsMD: dnnl_memory_desc_t
        let fwdReorder: Primitive
        var backwardData: Primitive?
        var bwdWeightsMD = dnnl_memory_desc_t()
        var bwdReorder: Primitive?
        var backwardWeights: Primitive?
        var diffWeightsMD = dnnl_memory_desc_t()
        var diffWeights: FloatBuffer?
        var diffReorder: Primitive?

        init(forward: Primitive, algorithm: dnnl_alg_kind_t, outShape: BatchShape, plainWeightsMD: dnnl_memory_desc_t) {
            self.forward = forward
            self.algorithm = algorithm
            self.outShape = outShape
            self.plainWeightsMD = plainWeightsMD
            self.fwdWeightsMD = forward.md(dnnl_query_weights_md)
            self.fwdReorder = Primitive(reorderFrom: plainWeightsMD, to: fwdWeightsMD)
        }
    }
    private var plans = PlanCache<Key, Plan>()
    /// Weights (OIHW) and bias with the batch norm folded in, from the last `forwardFolded`, and
    /// that call's plan and input shape (what `backwardDataFolded` differentiates).
    private var foldedWeights: FloatBuffer?
    private var foldedBias: FloatBuffer?
    private var lastFolded: (plan: Plan, input: BatchShape, layout: Activation.Layout)?

    /// A 3x3 convolution, padding 1, no bias, MEMO's ResNet initialisation (the CIFAR ResNets' layer).
    public convenience init(inChannels: Int, outChannels: Int, stride: Int, rng: inout MEMORandom) {
        self.init(inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: stride, padding: 1,
                  bias: false, initialization: .kaimingNormalFanOut, rng: &rng)
    }

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool,
                initialization: Initialization, rng: inout MEMORandom) {
        precondition(kernel >= 1 && stride >= 1 && padding >= 0, "invalid convolution geometry")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        let count = outChannels * inChannels * kernel * kernel
        var w = [Float](repeating: 0, count: count)
        var b: [Float]?
        switch initialization {
        case .kaimingNormalFanOut:
            let std = (2.0 / Double(kernel * kernel * outChannels)).squareRoot()
            for i in 0..<count { w[i] = Float(rng.normal() * std) }
            if bias { b = [Float](repeating: 0, count: outChannels) }
        case .pytorchDefault:
            let bound = 1 / Double(inChannels * kernel * kernel).squareRoot()
            for i in 0..<count { w[i] = Float((2 * rng.uniform() - 1) * bound) }
            if bias { b = (0..<outChannels).map { _ in Float((2 * rng.uniform() - 1) * bound) } }
        }
        weight = Parameter(Tensor(shape: [outChannels, inChannels, kernel, kernel], data: w))
        self.bias = b.map { Parameter(Tensor(shape: [outChannels], data: $0)) }
    }

    public func namedParameters() -> [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    private var strides: [Int64] { [Int64(stride), Int64(stride)] }
    private var paddings: [Int64] { [Int64(padding), Int64(padding)] }
    private var weightDims: [Int] { [outChannels, inChannels, kernel, kernel] }
    private var biasMD: dnnl_memory_desc_t { memoryDesc([outChannels], dnnl_a) }

    /// Output height or width for an input extent.
    func outputExtent(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }

    /// oneDNN's right/bottom padding: what makes its output size equal PyTorch's floor formula
    /// (it may be smaller than `padding` when the stride skips the last rows).
    private func rightPadding(_ s: BatchShape) -> [Int64] {
        [Int64((outputExtent(s.h) - 1) * stride + kernel - s.h - padding),
         Int64((outputExtent(s.w) - 1) * stride + kernel - s.w - padding)]
    }

    /// `inference`: a `forward_inference` primitive, for passes no backward pass follows.
    private func plan(for x: Activation, inference: Bool = false) -> Plan {
        plan(Key(shape: x.shape, layout: x.layout, precision: x.precision, inference: inference), md: x.md)
    }

    private func plan(_ key: Key, md: dnnl_memory_desc_t) -> Plan {
        let x = (shape: key.shape, md: md)
        let hasBias = bias != nil || key.folded
        precondition(x.shape.c == inChannels, "Conv2D expects \(inChannels) channels, got \(x.shape)")
        return plans.get(key) {
            let inference = key.inference
            let s = x.shape
            precondition(s.h + 2 * padding >= kernel && s.w + 2 * padding >= kernel, "Conv2D: input \(s) smaller than kernel \(kernel)")
            let out = BatchShape(n: s.n, c: outChannels, h: outputExtent(s.h), w: outputExtent(s.w))
            var src = x.md
            var wAny = memoryDesc(weightDims, dnnl_format_tag_any, key.precision.dnnlType)
            var bmd = biasMD
            var dst = memoryDesc([out.n, out.c, out.h, out.w], blockedTag, key.precision.dnnlType)
            var desc = dnnl_convolution_desc_t()
            let kind = inference ? dnnl_forward_inference : dnnl_forward_training
            // Training passes let oneDNN choose (Winograd F(4x4, 3x3) for the 3x3 stride-1
            // float32 convolutions on AVX-512, where it is faster for a forward-and-backward
            // step); inference passes stay direct, which is faster there.
            let algorithm = inference ? dnnl_convolution_direct : dnnl_convolution_auto
            let status = !hasBias
                ? dnnl_convolution_forward_desc_init(&desc, kind, algorithm,
                                                     &src, &wAny, nil, &dst, strides, paddings, rightPadding(s))
                : dnnl_convolution_forward_desc_init(&desc, kind, algorithm,
                                                     &src, &wAny, &bmd, &dst, strides, paddings, rightPadding(s))
            dnnlCheck(status, "conv fwd desc \(s)")
            let fwd = Primitive(&desc, postOps: key.postOps, what: "conv fwd \(s) -> \(out)")
            return Plan(forward: fwd, algorithm: algorithm, outShape: out, plainWeightsMD: memoryDesc(weightDims, dnnl_oihw))
        }
    }

    /// Forward pass into a new activation. `inference`: no backward pass will follow (oneDNN's
    /// `forward_inference` kernels).
    func forward(_ x: Activation, inference: Bool = false) -> Activation {
        let p = plan(for: x, inference: inference)
        let output = Activation(shape: p.outShape, layout: .blocked, precision: x.precision)
        let kernelWeights = Self.buffer(for: p.fwdWeightsMD)
        weight.value.data.withUnsafeMutableBytes { w in
            p.fwdReorder.execute([(DNNL_ARG_FROM, p.plainWeightsMD, w.baseAddress!),
                                  (DNNL_ARG_TO, p.fwdWeightsMD, kernelWeights.raw)])
        }
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_WEIGHTS, p.fwdWeightsMD, kernelWeights.raw),
            (DNNL_ARG_DST, output.md, output.raw)]
        if let bias {
            bias.value.data.withUnsafeMutableBytes { b in
                args.append((DNNL_ARG_BIAS, biasMD, b.baseAddress!))
                p.forward.execute(args)
            }
        } else {
            p.forward.execute(args)
        }
        return output
    }

    /// Backward pass for the forward call on `x`. Writes `weight.grad` (OIHW) and `bias.grad`
    /// when `weightGradient`; returns the input gradient when `inputGradient`.
    func backward(input x: Activation, gradOutput dy: Activation, inputGradient: Bool,
                  weightGradient: Bool) -> Activation? {
        let p = plan(for: x)
        precondition(dy.shape == p.outShape && dy.precision == x.precision)
        if weightGradient {
            if p.backwardWeights == nil {
                var src = x.md
                var dw = memoryDesc(weightDims, dnnl_format_tag_any)
                var db = biasMD
                var ddst = dy.md
                var desc = dnnl_convolution_desc_t()
                let status = bias == nil
                    ? dnnl_convolution_backward_weights_desc_init(&desc, p.algorithm, &src, &dw, nil,
                                                                  &ddst, strides, paddings, rightPadding(x.shape))
                    : dnnl_convolution_backward_weights_desc_init(&desc, p.algorithm, &src, &dw, &db,
                                                                  &ddst, strides, paddings, rightPadding(x.shape))
                dnnlCheck(status, "conv bwd weights desc")
                let prim = Primitive(&desc, hint: p.forward, what: "conv bwd weights \(x.shape)")
                p.backwardWeights = prim
                p.diffWeightsMD = prim.md(dnnl_query_diff_weights_md)
                p.diffWeights = FloatBuffer(count: memoryDescSize(p.diffWeightsMD) / 4)
                p.diffReorder = Primitive(reorderFrom: p.diffWeightsMD, to: p.plainWeightsMD)
            }
            var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_DIFF_DST, dy.md, dy.raw),
                (DNNL_ARG_DIFF_WEIGHTS, p.diffWeightsMD, p.diffWeights!.raw)]
            if let bias {
                var gb = bias.gradStorage()
                gb.data.withUnsafeMutableBytes { b in
                    args.append((DNNL_ARG_DIFF_BIAS, biasMD, b.baseAddress!))
                    p.backwardWeights!.execute(args)
                }
                bias.grad = gb
            } else {
                p.backwardWeights!.execute(args)
            }
            var g = weight.gradStorage()
            g.data.withUnsafeMutableBytes { gp in
                p.diffReorder!.execute([(DNNL_ARG_FROM, p.diffWeightsMD, p.diffWeights!.raw),
                                        (DNNL_ARG_TO, p.plainWeightsMD, gp.baseAddress!)])
            }
            weight.grad = g
        }
        guard inputGradient else { return nil }
        return weight.value.data.withUnsafeMutableBytes { w in
            backwardData(p, input: x.shape, layout: x.layout, gradOutput: dy, weights: w.baseAddress!)
        }
    }

    /// The input gradient for `dy` through plan `p`'s convolution with plain (OIHW) `weights`.
    private func backwardData(_ p: Plan, input: BatchShape, layout: Activation.Layout, gradOutput dy: Activation,
                              weights: UnsafeMutableRawPointer) -> Activation {
        let dx = Activation(shape: input, layout: layout, precision: dy.precision)
        if p.backwardData == nil {
            var dsrc = dx.md
            var wAny = memoryDesc(weightDims, dnnl_format_tag_any, dy.precision.dnnlType)
            var ddst = dy.md
            var desc = dnnl_convolution_desc_t()
            dnnlCheck(dnnl_convolution_backward_data_desc_init(&desc, p.algorithm, &dsrc, &wAny, &ddst,
                                                               strides, paddings, rightPadding(input)),
                      "conv bwd data desc")
            let prim = Primitive(&desc, hint: p.forward, what: "conv bwd data \(input)")
            p.backwardData = prim
            p.bwdWeightsMD = prim.md(dnnl_query_weights_md)
            p.bwdReorder = Primitive(reorderFrom: p.plainWeightsMD, to: p.bwdWeightsMD)
        }
        let kernelWeights = Self.buffer(for: p.bwdWeightsMD)
        p.bwdReorder!.execute([(DNNL_ARG_FROM, p.plainWeightsMD, weights),
                               (DNNL_ARG_TO, p.bwdWeightsMD, kernelWeights.raw)])
        p.backwardData!.execute([(DNNL_ARG_DIFF_DST, dy.md, dy.raw),
                                 (DNNL_ARG_WEIGHTS, p.bwdWeightsMD, kernelWeights.raw),
                                 (DNNL_ARG_DIFF_SRC, dx.md, dx.raw)])
        return dx
    }

    /// Forward with an evaluation-mode batch norm `bn` folded into the weights and bias
    /// (w·scale, b·scale + shift per output channel; see `BatchNorm.evaluationAffine`), then
    /// `postOps` in oneDNN's kernel, into `output` if given (with `.sum` added to what it holds:
    /// the residual join), else into a new activation. Used by frozen and
    /// evaluation passes, where the batch norm is a fixed affine map: one pass over memory
    /// instead of three. Differs from conv-then-BN by float rounding only.
    func forwardFolded(_ x: Activation, bn: BatchNorm, postOps: [PostOp], into output: Activation? = nil,
                       inference: Bool) -> Activation {
        precondition(bn.channels == outChannels)
        precondition(!postOps.contains(.sum) || output != nil, "Conv2D.forwardFolded: .sum needs the output to add to")
        let key = Key(shape: x.shape, layout: x.layout, precision: x.precision, inference: inference, folded: true,
                      postOps: postOps)
        let p = plan(key, md: x.md)
        let y = output ?? Activation(shape: p.outShape, layout: .blocked, precision: x.precision)
        precondition(y.shape == p.outShape && y.precision == x.precision)
        let count = weight.value.count
        // An inference pass needs the folded weights only for this call; a frozen training pass
        // keeps them for `backwardDataFolded`.
        let folded: (weights: FloatBuffer, bias: FloatBuffer)
        if inference {
            folded = (FloatBuffer(count: count, pooled: true), FloatBuffer(count: outChannels, pooled: true))
        } else {
            if foldedWeights == nil {
                foldedWeights = FloatBuffer(count: count)
                foldedBias = FloatBuffer(count: outChannels)
            }
            folded = (foldedWeights!, foldedBias!)
        }
        let (scale, shift) = bn.evaluationAffine()
        let perOutput = count / outChannels
        let fw = folded.weights.pointer, fb = folded.bias.pointer
        weight.value.data.withUnsafeBufferPointer { w in
            for o in 0..<outChannels {
                for i in 0..<perOutput { fw[o * perOutput + i] = w[o * perOutput + i] * scale[o] }
                fb[o] = (bias?.value.data[o] ?? 0) * scale[o] + shift[o]
            }
        }
        let kernelWeights = Self.buffer(for: p.fwdWeightsMD)
        p.fwdReorder.execute([(DNNL_ARG_FROM, p.plainWeightsMD, folded.weights.raw),
                              (DNNL_ARG_TO, p.fwdWeightsMD, kernelWeights.raw)])
        p.forward.execute([(DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_WEIGHTS, p.fwdWeightsMD, kernelWeights.raw),
                           (DNNL_ARG_BIAS, biasMD, folded.bias.raw), (DNNL_ARG_DST, y.md, y.raw)])
        lastFolded = inference ? nil : (p, x.shape, x.layout)
        return y
    }

    /// The input gradient of the last non-inference `forwardFolded`, before its post-ops (the
    /// caller applies the ReLU's mask): dy through the folded weights.
    func backwardDataFolded(gradOutput dy: Activation) -> Activation {
        guard let (p, input, layout) = lastFolded else { preconditionFailure("Conv2D.backwardDataFolded without forwardFolded") }
        precondition(dy.shape == p.outShape)
        return backwardData(p, input: input, layout: layout, gradOutput: dy, weights: foldedWeights!.raw)
    }

    /// A buffer for weights in a kernel's layout, for one pass: taken from the activation pool and
    /// given back when the pass drops it, so the network's convolutions share a few such buffers
    /// instead of each keeping its own.
    private static func buffer(for md: dnnl_memory_desc_t) -> FloatBuffer {
        FloatBuffer(count: (memoryDescSize(md) + 3) / 4, pooled: true)
    }

    /// Drops cached primitives and buffers (after training, to free memory).
    func releaseCaches() { plans.removeAll(); lastFolded = nil; foldedWeights = nil; foldedBias = nil }

    /// The thread count the forward primitive for `x` was created with (and runs with).
    func forwardPrimitiveThreads(for x: Activation) -> Int { plan(for: x).forward.threads }

    /// oneDNN's kernel names for a given input, for the benchmark report.
    func implementations(for x: Activation) -> String { plan(for: x).forward.implementation }
}
