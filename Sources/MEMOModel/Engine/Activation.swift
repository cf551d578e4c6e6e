import CDNNL

/// A 64-byte aligned float buffer owned by the engine. Activation buffers come from
/// `ActivationPool` (`pooled`) and go back to it when released; the others (reordered weights,
/// statistics, workspaces) are allocated and freed with their owner.
final class FloatBuffer {
    let count: Int
    let pointer: UnsafeMutablePointer<Float>
    private let pooledCapacity: Int?

    init(count: Int, pooled: Bool = false) {
        self.count = count
        if pooled {
            let (p, capacity) = ActivationPool.shared.take(count)
            pointer = p
            pooledCapacity = capacity
        } else {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 16))
            pointer.initialize(repeating: 0, count: max(count, 16))
            pooledCapacity = nil
        }
    }

    deinit {
        if let pooledCapacity { ActivationPool.shared.give(pointer, capacity: pooledCapacity) } else { pointer.deallocate() }
    }

    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

    func zero() { pointer.update(repeating: 0, count: count) }
}

/// Shape of an image batch, NCHW in logical order.
public struct BatchShape: Hashable, CustomStringConvertible, Sendable {
    public var n: Int, c: Int, h: Int, w: Int
    public init(n: Int, c: Int, h: Int, w: Int) { self.n = n; self.c = c; self.h = h; self.w = w }
    public var count: Int { n * c * h * w }
    public var description: String { "[\(n), \(c), \(h), \(w)]" }
}

/// An activation batch in one of the engine's two layouts, in float32 or bf16 (`Precision`; a
/// layer's output and gradients take its input's). Its buffer comes from `ActivationPool` and
/// returns there when the last reference goes: layers keep the activations their backward pass
/// needs and let the others go. A new activation's contents are undefined.
///
/// - `plain`: NCHW, used for the network input.
/// - `blocked`: oneDNN's `nChw16c` (or `nChw8c`, see `channelBlock`), i.e. [N][C/B][H][W][B];
///   every activation after the first convolution has a multiple of 16 channels and stays in
///   this layout.
final class Activation {
    enum Layout { case plain, blocked }
    let shape: BatchShape
    let layout: Layout
    let precision: Precision
    let buffer: FloatBuffer

    init(shape: BatchShape, layout: Layout, precision: Precision) {
        precondition(layout == .plain || shape.c % channelBlock == 0, "blocked layout needs channels % \(channelBlock) == 0, got \(shape)")
        self.shape = shape
        self.layout = layout
        self.precision = precision
        self.buffer = FloatBuffer(count: (shape.count * precision.bytes + 3) / 4, pooled: true)
    }

    /// The float32 elements (a float32 activation only).
    var pointer: UnsafeMutablePointer<Float> {
        precondition(precision == .float32, "float32 access to a \(precision) activation")
        return buffer.pointer
    }

    /// The bf16 elements as bits (a bf16 activation only).
    var bfloat16Pointer: UnsafeMutablePointer<UInt16> {
        precondition(precision == .bfloat16, "bf16 access to a \(precision) activation")
        return buffer.raw.assumingMemoryBound(to: UInt16.self)
    }

    var raw: UnsafeMutableRawPointer { buffer.raw }

    var md: dnnl_memory_desc_t {
        memoryDesc([shape.n, shape.c, shape.h, shape.w], layout == .plain ? dnnl_nchw : blockedTag, precision.dnnlType)
    }

    /// Offset of logical element (n, c, i) (i = h·W + w) in this layout's storage.
    @inline(__always)
    private func offset(_ n: Int, _ c: Int, _ i: Int) -> Int {
        let s = shape, hw = s.h * s.w
        switch layout {
        case .plain: return (n * s.c + c) * hw + i
        case .blocked:
            let b = channelBlock
            return ((n * (s.c / b) + c / b) * hw + i) * b + c % b
        }
    }

    /// Copies out as a plain NCHW float32 tensor (for tests, checkpoints and inspection).
    func toTensor() -> Tensor {
        var out = [Float](repeating: 0, count: shape.count)
        let s = shape, hw = s.h * s.w
        out.withUnsafeMutableBufferPointer { dst in
            for n in 0..<s.n {
                for c in 0..<s.c {
                    let d = dst.baseAddress! + (n * s.c + c) * hw
                    switch precision {
                    case .float32: let p = pointer; for i in 0..<hw { d[i] = p[offset(n, c, i)] }
                    case .bfloat16: let p = bfloat16Pointer; for i in 0..<hw { d[i] = bfloat16ToFloat(p[offset(n, c, i)]) }
                    }
                }
            }
        }
        return Tensor(shape: [s.n, s.c, s.h, s.w], data: out)
    }

    /// Fills from a plain NCHW float32 tensor of the same shape (rounded to nearest even for bf16).
    func load(_ t: Tensor) {
        precondition(t.shape == [shape.n, shape.c, shape.h, shape.w], "shape \(t.shape) vs \(shape)")
        t.data.withUnsafeBufferPointer { load($0.baseAddress!) }
    }

    /// Fills from plain NCHW float32 values, as many as the activation has.
    func load(_ src: UnsafePointer<Float>) {
        let s = shape, hw = s.h * s.w
        if layout == .plain && precision == .float32 { pointer.update(from: src, count: s.count); return }
        for n in 0..<s.n {
            for c in 0..<s.c {
                let sp = src + (n * s.c + c) * hw
                switch precision {
                case .float32: let p = pointer; for i in 0..<hw { p[offset(n, c, i)] = sp[i] }
                case .bfloat16: let p = bfloat16Pointer; for i in 0..<hw { p[offset(n, c, i)] = floatToBFloat16(sp[i]) }
                }
            }
        }
    }
}

/// A small per-layer cache of shape-specific state (primitives, reordered weights, workspaces;
/// no activations), keyed by the input shape and mode. Training and evaluation use a handful of
/// batch sizes (full batch, last partial batch, evaluation batches) in a few modes (trained,
/// frozen, inference), so a few entries suffice; the oldest is dropped beyond `capacity`.
struct PlanCache<Key: Hashable, Plan> {
    private var keys: [Key] = []
    private var plans: [Key: Plan] = [:]
    let capacity: Int

    init(capacity: Int = 8) { self.capacity = capacity }

    mutating func get(_ key: Key, make: () -> Plan) -> Plan {
        if let p = plans[key] { return p }
        let p = make()
        plans[key] = p
        keys.append(key)
        if keys.count > capacity { plans[keys.removeFirst()] = nil }
        return p
    }

    mutating func removeAll() { keys.removeAll(); plans.removeAll() }
}
