/// Which elements of a ReLU's output are positive: all the backward pass of a ReLU needs, in a
/// byte per element instead of the output's four. Frozen blocks keep these instead of their
/// activations.
struct ReLUMask {
    let shape: BatchShape
    private let positive: [UInt8]

    init(_ y: Activation) {
        shape = y.shape
        let p = y.pointer
        positive = [UInt8](unsafeUninitializedCapacity: y.shape.count) { buffer, initialized in
            for i in 0..<y.shape.count { buffer[i] = p[i] > 0 ? 1 : 0 }
            initialized = y.shape.count
        }
    }

    /// g = dy where the output was positive, 0 elsewhere (g may be dy). Same layout as the
    /// activation the mask was made from.
    func apply(_ dy: Activation, into g: Activation) {
        precondition(dy.shape == shape && g.shape == shape)
        let d = dy.pointer, r = g.pointer
        positive.withUnsafeBufferPointer { m in
            for i in 0..<shape.count { r[i] = m[i] != 0 ? d[i] : 0 }
        }
    }
}
