import CDNNL

/// 2-D batch normalization (PyTorch `BatchNorm2d` semantics), optionally fused with the ReLU
/// that follows it, through oneDNN on `nChw16c` activations of either precision (statistics,
/// scale and shift are float32 in both).
///
/// - Training mode: normalises with the batch mean and biased variance, then updates the running
///   statistics with momentum 0.1 and the *unbiased* variance, as PyTorch does.
/// - Evaluation mode: normalises with the running statistics. The backward pass still works in
///   this mode (dx = dy·γ/√(running var + ε)): MEMO's frozen old blocks pass gradients through to
///   the generalized blocks when those train.
///
/// Shapes: input and output [N, C, H, W]; weight, bias, running statistics [C].
public final class BatchNorm: ParameterContainer {
    public let channels: Int
    public let fusedReLU: Bool
    public let epsilon: Float = 1e-5
    public let momentum: Float = 0.1
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVar: Parameter

    private struct Key: Hashable { let shape: BatchShape; let precision: Precision; let training: Bool; let inference: Bool }
    private final class Plan {
        let forward: Primitive
        let shape: BatchShape
        let mean: FloatBuffer
        let variance: FloatBuffer
        let workspace: FloatBuffer?
        let workspaceMD: dnnl_memory_desc_t
        var backward: Primitive?
        let diffScale: FloatBuffer
        let diffShift: FloatBuffer
        init(forward: Primitive, shape: BatchShape, fused: Bool) {
            self.forward = forward
            self.shape = shape
            mean = FloatBuffer(count: shape.c)
            variance = FloatBuffer(count: shape.c)
            workspaceMD = fused ? forward.md(dnnl_query_workspace_md) : dnnl_memory_desc_t()
            workspace = fused ? FloatBuffer(count: (memoryDescSize(workspaceMD) + 3) / 4) : nil
            diffScale = FloatBuffer(count: shape.c)
            diffShift = FloatBuffer(count: shape.c)
        }
    }
    private var plans = PlanCache<Key, Plan>()

    public init(channels: Int, fusedReLU: Bool) {
        self.channels = channels
        self.fusedReLU = fusedReLU
        weight = Parameter(Tensor(repeating: 1, shape: [channels]))
        bias = Parameter(Tensor(zeros: [channels]))
        runningMean = Parameter(Tensor(zeros: [channels]), kind: .runningStatistic)
        runningVar = Parameter(Tensor(repeating: 1, shape: [channels]), kind: .runningStatistic)
    }

    public func namedParameters() -> [(String, Parameter)] {
        [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)]
    }

    private var flags: UInt32 {
        dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | (fusedReLU ? dnnl_fuse_norm_relu.rawValue : 0)
    }
    private var statsMD: dnnl_memory_desc_t { memoryDesc([channels], dnnl_a) }

    private func plan(_ x: Activation, training: Bool, inference: Bool = false) -> Plan {
        precondition(x.layout == .blocked && x.shape.c == channels, "BatchNorm(\(channels)) got \(x.shape)")
        precondition(!(training && inference), "BatchNorm: batch statistics are a training pass")
        return plans.get(Key(shape: x.shape, precision: x.precision, training: training, inference: inference)) {
            var md = x.md
            var desc = dnnl_batch_normalization_desc_t()
            // forward_training in both modes when a backward pass follows: it also yields the
            // ReLU workspace the backward pass needs; with use_global_stats it normalises with
            // the given statistics. forward_inference when nothing follows.
            let f = flags | (training ? 0 : dnnl_use_global_stats.rawValue)
            dnnlCheck(dnnl_batch_normalization_forward_desc_init(&desc, inference ? dnnl_forward_inference : dnnl_forward_training,
                                                                 &md, epsilon, f),
                      "bnorm fwd desc")
            let prim = Primitive(&desc, what: "bnorm fwd \(x.shape) training=\(training)")
            return Plan(forward: prim, shape: x.shape, fused: fusedReLU && !inference)
        }
    }

    /// Forward pass into a new activation. `training` selects batch statistics (and updates the
    /// running ones); `inference` (running statistics only): no backward pass will follow.
    func forward(_ x: Activation, training: Bool, inference: Bool = false) -> Activation {
        let p = plan(x, training: training, inference: inference)
        let output = Activation(shape: p.shape, layout: .blocked, precision: x.precision)
        let smd = statsMD
        weight.value.data.withUnsafeMutableBytes { w in
        bias.value.data.withUnsafeMutableBytes { b in
            if training {
                var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                    (DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_DST, output.md, output.raw),
                    (DNNL_ARG_SCALE, smd, w.baseAddress!), (DNNL_ARG_SHIFT, smd, b.baseAddress!),
                    (DNNL_ARG_MEAN, smd, p.mean.raw), (DNNL_ARG_VARIANCE, smd, p.variance.raw)]
                if let ws = p.workspace { args.append((DNNL_ARG_WORKSPACE, p.workspaceMD, ws.raw)) }
                p.forward.execute(args)
            } else {
                runningMean.value.data.withUnsafeMutableBytes { m in
                runningVar.value.data.withUnsafeMutableBytes { v in
                    var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                        (DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_DST, output.md, output.raw),
                        (DNNL_ARG_SCALE, smd, w.baseAddress!), (DNNL_ARG_SHIFT, smd, b.baseAddress!),
                        (DNNL_ARG_MEAN, smd, m.baseAddress!), (DNNL_ARG_VARIANCE, smd, v.baseAddress!)]
                    if let ws = p.workspace { args.append((DNNL_ARG_WORKSPACE, p.workspaceMD, ws.raw)) }
                    p.forward.execute(args)
                }}
            }
        }}
        if training {
            let count = Float(x.shape.n * x.shape.h * x.shape.w)
            let unbias = count > 1 ? count / (count - 1) : 1
            for c in 0..<channels {
                runningMean.value.data[c] = (1 - momentum) * runningMean.value.data[c] + momentum * p.mean.pointer[c]
                runningVar.value.data[c] = (1 - momentum) * runningVar.value.data[c]
                    + momentum * p.variance.pointer[c] * unbias
            }
        }
        return output
    }

    /// Backward pass for the last forward call with the same input shape and mode. In training
    /// mode writes `weight.grad` and `bias.grad` when `parameterGradient`.
    func backward(input x: Activation, gradOutput dy: Activation, training: Bool,
                  parameterGradient: Bool) -> Activation {
        let p = plan(x, training: training)
        if p.backward == nil {
            var dmd = dy.md
            var md = x.md
            var desc = dnnl_batch_normalization_desc_t()
            let f = flags | (training ? 0 : dnnl_use_global_stats.rawValue)
            dnnlCheck(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &dmd, &md, epsilon, f),
                      "bnorm bwd desc")
            p.backward = Primitive(&desc, hint: p.forward, what: "bnorm bwd \(x.shape) training=\(training)")
        }
        precondition(dy.precision == x.precision)
        let dx = Activation(shape: x.shape, layout: .blocked, precision: x.precision)
        let smd = statsMD
        func run(_ mean: UnsafeMutableRawPointer, _ variance: UnsafeMutableRawPointer) {
            weight.value.data.withUnsafeMutableBytes { w in
            bias.value.data.withUnsafeMutableBytes { b in
                var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                    (DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_DIFF_DST, dy.md, dy.raw),
                    (DNNL_ARG_MEAN, smd, mean), (DNNL_ARG_VARIANCE, smd, variance),
                    (DNNL_ARG_SCALE, smd, w.baseAddress!), (DNNL_ARG_SHIFT, smd, b.baseAddress!),
                    (DNNL_ARG_DIFF_SRC, dx.md, dx.raw),
                    (DNNL_ARG_DIFF_SCALE, smd, p.diffScale.raw), (DNNL_ARG_DIFF_SHIFT, smd, p.diffShift.raw)]
                if let ws = p.workspace { args.append((DNNL_ARG_WORKSPACE, p.workspaceMD, ws.raw)) }
                p.backward!.execute(args)
            }}
        }
        if training {
            run(p.mean.raw, p.variance.raw)
        } else {
            runningMean.value.data.withUnsafeMutableBytes { m in
            runningVar.value.data.withUnsafeMutableBytes { v in run(m.baseAddress!, v.baseAddress!) }}
        }
        if parameterGradient {
            weight.grad = Tensor(shape: [channels], data: Array(UnsafeBufferPointer(start: p.diffScale.pointer, count: channels)))
            bias.grad = Tensor(shape: [channels], data: Array(UnsafeBufferPointer(start: p.diffShift.pointer, count: channels)))
        }
        return dx
    }

    /// This layer in evaluation mode as a per-channel affine map y = x·scale + shift:
    /// scale = γ / √(running var + ε), shift = β − running mean · scale (what a convolution
    /// before it folds in).
    func evaluationAffine() -> (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            scale[c] = weight.value.data[c] / (runningVar.value.data[c] + epsilon).squareRoot()
            shift[c] = bias.value.data[c] - runningMean.value.data[c] * scale[c]
        }
        return (scale, shift)
    }

    func releaseCaches() { plans.removeAll() }
}
