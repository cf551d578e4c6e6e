import CDNNL
import Foundation

/// oneDNN primitives for the engine's elementwise work (vectorised and threaded like the
/// convolutions), one per operation, activation shape, layout, precision and thread count.
final class ElementwisePrimitives: @unchecked Sendable {
    static let shared = ElementwisePrimitives()
    enum Operation: Hashable {
        case add, addReLU, reluBackward
        /// dst = activation (f32 or bf16) · mask (u8, 0 or 1).
        case applyMask
    }
    private struct Key: Hashable {
        let operation: Operation; let shape: BatchShape; let layout: Activation.Layout; let precision: Precision; let threads: Int
    }
    private let lock = NSLock()
    private var primitives: [Key: Primitive] = [:]

    func primitive(_ operation: Operation, for a: Activation) -> Primitive {
        let key = Key(operation: operation, shape: a.shape, layout: a.layout, precision: a.precision, threads: EngineThreads.current)
        lock.lock()
        defer { lock.unlock() }
        if let p = primitives[key] { return p }
        if primitives.count >= 64 { primitives.removeAll() }
        var md = a.md
        let p: Primitive
        switch operation {
        case .add, .addReLU:
            var desc = dnnl_binary_desc_t()
            dnnlCheck(dnnl_binary_desc_init(&desc, dnnl_binary_add, &md, &md, &md), "binary add desc \(a.shape)")
            p = Primitive(&desc, postOps: operation == .addReLU ? [.relu] : [], what: "binary add \(a.shape)")
        case .reluBackward:
            var fwdDesc = dnnl_eltwise_desc_t()
            dnnlCheck(dnnl_eltwise_forward_desc_init(&fwdDesc, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                                     &md, 0, 0), "relu fwd desc \(a.shape)")
            let hint = Primitive(&fwdDesc, what: "relu fwd \(a.shape)")
            var desc = dnnl_eltwise_desc_t()
            dnnlCheck(dnnl_eltwise_backward_desc_init(&desc, dnnl_eltwise_relu_use_dst_for_bwd, &md, &md, 0, 0),
                      "relu bwd desc \(a.shape)")
            p = Primitive(&desc, hint: hint, what: "relu bwd \(a.shape)")
        case .applyMask:
            var mask = ReLUMask.md(a.shape, a.layout)
            var desc = dnnl_binary_desc_t()
            dnnlCheck(dnnl_binary_desc_init(&desc, dnnl_binary_mul, &md, &mask, &md), "binary mul desc \(a.shape)")
            p = Primitive(&desc, what: "relu mask apply \(a.shape)")
        }
        primitives[key] = p
        return p
    }
}
