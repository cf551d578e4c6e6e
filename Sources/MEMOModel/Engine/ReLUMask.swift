import CDNNL

/// Which elements of a ReLU's output are positive (one byte, 0 or 1, per element, in the
/// activation's layout): all the backward pass of a ReLU needs, at a quarter of the output's
/// memory. Frozen blocks keep these instead of their activations. Applied by a oneDNN binary
/// primitive.
final class ReLUMask {
    let shape: BatchShape
    let layout: Activation.Layout
    private let bytes: UnsafeMutableRawPointer

    static func md(_ shape: BatchShape, _ layout: Activation.Layout) -> dnnl_memory_desc_t {
        memoryDesc([shape.n, shape.c, shape.h, shape.w], layout == .plain ? dnnl_nchw : blockedTag, dnnl_u8)
    }

    init(_ y: Activation) {
        shape = y.shape
        layout = y.layout
        bytes = UnsafeMutableRawPointer.allocate(byteCount: max(y.shape.count, 64), alignment: 64)
        // A plain loop: oneDNN 2.6 has only its reference kernel for a comparison into u8.
        let m = bytes.bindMemory(to: UInt8.self, capacity: y.shape.count)
        switch y.precision {
        case .float32:
            let p = y.pointer
            for i in 0..<y.shape.count { m[i] = p[i] > 0 ? 1 : 0 }
        case .bfloat16:
            // Positive: the bits of +0 are 0, of +inf 0x7F80; above that the sign is set or it is NaN.
            let p = y.bfloat16Pointer
            for i in 0..<y.shape.count { m[i] = p[i] >= 1 && p[i] <= 0x7F80 ? 1 : 0 }
        }
    }

    deinit { bytes.deallocate() }

    /// g = dy where the output was positive, 0 elsewhere (dy · mask; g may be dy).
    func apply(_ dy: Activation, into g: Activation) {
        precondition(dy.shape == shape && g.shape == shape && dy.layout == layout && g.layout == layout && dy.precision == g.precision)
        ElementwisePrimitives.shared.primitive(.applyMask, for: g).execute(
            [(DNNL_ARG_SRC_0, dy.md, dy.raw), (DNNL_ARG_SRC_1, Self.md(shape, layout), bytes), (DNNL_ARG_DST, g.md, g.raw)])
    }
}
