import CDNNL

/// Windowed pooling on blocked activations through oneDNN, forward and backward: max pooling
/// (ConvNet2's `MaxPool2d(2)`, ResNet-18's `MaxPool2d(3, stride 2, padding 1)`, padded positions
/// never win) and average pooling with any window (ConvNet2's `AvgPool2d(8)`; padding counted in
/// the divisor, PyTorch's default `count_include_pad=True`).
///
/// Output extent = (H + 2·padding − window) / stride + 1 (floor, PyTorch's `ceil_mode=False`).
/// Max pooling keeps oneDNN's workspace (which input won) from the forward pass for backward.
final class Pool2D {
    enum Kind { case max, average }

    let kind: Kind
    let window: Int
    let stride: Int
    let padding: Int

    private struct Key: Hashable { let shape: BatchShape; let precision: Precision; let inference: Bool }
    private final class Plan {
        let forward: Primitive
        let outShape: BatchShape
        let workspaceMD: dnnl_memory_desc_t
        let workspace: FloatBuffer?
        var backward: Primitive?
        init(forward: Primitive, outShape: BatchShape, hasWorkspace: Bool) {
            self.forward = forward
            self.outShape = outShape
            workspaceMD = forward.md(dnnl_query_workspace_md)
            workspace = hasWorkspace ? FloatBuffer(count: (memoryDescSize(workspaceMD) + 3) / 4) : nil
        }
    }
    private var plans = PlanCache<Key, Plan>()

    /// `stride` defaults to the window, as in PyTorch.
    init(_ kind: Kind, window: Int, stride: Int? = nil, padding: Int = 0) {
        precondition(window >= 1 && (stride ?? window) >= 1 && padding >= 0 && 2 * padding <= window,
                     "invalid pooling geometry")
        self.kind = kind
        self.window = window
        self.stride = stride ?? window
        self.padding = padding
    }

    func outputExtent(_ n: Int) -> Int { (n + 2 * padding - window) / stride + 1 }

    private var algorithm: dnnl_alg_kind_t { kind == .max ? dnnl_pooling_max : dnnl_pooling_avg_include_padding }

    private func geometry(_ s: BatchShape) -> (out: BatchShape, right: [Int64]) {
        let out = BatchShape(n: s.n, c: s.c, h: outputExtent(s.h), w: outputExtent(s.w))
        // oneDNN wants padding that reproduces the output size exactly; with floor division the
        // right/bottom padding can be smaller than the left.
        let right = [Int64((out.h - 1) * stride + window - s.h - padding), Int64((out.w - 1) * stride + window - s.w - padding)]
        return (out, right)
    }

    private func plan(_ x: Activation, inference: Bool = false) -> Plan {
        precondition(x.layout == .blocked, "Pool2D needs a blocked activation")
        precondition(x.shape.h + 2 * padding >= window && x.shape.w + 2 * padding >= window,
                     "Pool2D: input \(x.shape) smaller than window \(window)")
        return plans.get(Key(shape: x.shape, precision: x.precision, inference: inference)) {
            let (out, right) = geometry(x.shape)
            var src = x.md
            var dst = memoryDesc([out.n, out.c, out.h, out.w], blockedTag, x.precision.dnnlType)
            var desc = dnnl_pooling_desc_t()
            let k = [Int64(window), Int64(window)], st = [Int64(stride), Int64(stride)]
            let left = [Int64(padding), Int64(padding)]
            dnnlCheck(dnnl_pooling_forward_desc_init(&desc, inference ? dnnl_forward_inference : dnnl_forward_training, algorithm, &src, &dst, st, k, left, right),
                      "pool fwd desc \(x.shape)")
            let prim = Primitive(&desc, what: "pool fwd \(x.shape) -> \(out)")
            return Plan(forward: prim, outShape: out, hasWorkspace: kind == .max && !inference)
        }
    }

    /// Forward pass into a new activation. `inference`: no backward pass will follow (no
    /// workspace kept).
    func forward(_ x: Activation, inference: Bool = false) -> Activation {
        let p = plan(x, inference: inference)
        let output = Activation(shape: p.outShape, layout: .blocked, precision: x.precision)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, x.md, x.raw), (DNNL_ARG_DST, output.md, output.raw)]
        if let ws = p.workspace { args.append((DNNL_ARG_WORKSPACE, p.workspaceMD, ws.raw)) }
        p.forward.execute(args)
        return output
    }

    /// Input gradient for the last forward pass on an input of `x`'s shape.
    func backward(input x: Activation, gradOutput dy: Activation) -> Activation {
        let p = plan(x)
        precondition(dy.shape == p.outShape, "Pool2D.backward: gradient \(dy.shape) vs output \(p.outShape)")
        if p.backward == nil {
            let (_, right) = geometry(x.shape)
            var dsrc = x.md
            var ddst = dy.md
            var desc = dnnl_pooling_desc_t()
            let k = [Int64(window), Int64(window)], st = [Int64(stride), Int64(stride)]
            let left = [Int64(padding), Int64(padding)]
            dnnlCheck(dnnl_pooling_backward_desc_init(&desc, algorithm, &dsrc, &ddst, st, k, left, right),
                      "pool bwd desc \(x.shape)")
            p.backward = Primitive(&desc, hint: p.forward, what: "pool bwd \(x.shape)")
        }
        let dx = Activation(shape: x.shape, layout: .blocked, precision: x.precision)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_DIFF_DST, dy.md, dy.raw), (DNNL_ARG_DIFF_SRC, dx.md, dx.raw)]
        if let ws = p.workspace { args.append((DNNL_ARG_WORKSPACE, p.workspaceMD, ws.raw)) }
        p.backward!.execute(args)
        return dx
    }

    func releaseCaches() { plans.removeAll() }
}
