import CDNNL
import Foundation

/// Recycles the memory of activations and activation gradients.
///
/// Every `Activation` takes its buffer from here and gives it back when the last reference to it
/// goes away, so memory follows what is alive: a training step holds what its backward pass
/// still needs plus a few gradients in flight, an inference pass a few buffers in turn, and
/// batches of another size (the last partial batch, evaluation batches) reuse the buffers of
/// the full batch instead of adding their own. A request takes a free buffer of exactly its
/// size, else the smallest larger one, else allocates; `trim()` returns the free buffers to the
/// system (after training, between benchmark runs).
///
/// Buffers are not cleared between uses: every kernel writes its whole output.
final class ActivationPool: @unchecked Sendable {
    static let shared = ActivationPool()

    private let lock = NSLock()
    /// Free buffers by capacity in floats.
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var freeFloats = 0
    private var liveFloats = 0
    private var peakLiveFloats = 0

    /// A buffer of at least `count` floats and its capacity.
    func take(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        let count = max(count, 16)
        lock.lock()
        defer { lock.unlock() }
        var capacity = count
        if free[count] == nil {
            var best: Int?
            for c in free.keys where c > count && c < (best ?? Int.max) { best = c }
            if let best { capacity = best }
        }
        let pointer: UnsafeMutablePointer<Float>
        if var list = free[capacity], let p = list.popLast() {
            free[capacity] = list.isEmpty ? nil : list
            freeFloats -= capacity
            pointer = p
        } else {
            capacity = count
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: count)
            pointer.initialize(repeating: 0, count: count)
        }
        liveFloats += capacity
        peakLiveFloats = max(peakLiveFloats, liveFloats)
        return (pointer, capacity)
    }

    /// Takes back a buffer from `take`.
    func give(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        defer { lock.unlock() }
        free[capacity, default: []].append(pointer)
        freeFloats += capacity
        liveFloats -= capacity
    }

    /// Frees every buffer not in use and asks the C library to return the memory to the system.
    func trim() {
        lock.lock()
        for list in free.values { for p in list { p.deallocate() } }
        free.removeAll()
        freeFloats = 0
        peakLiveFloats = liveFloats
        lock.unlock()
        swdnnl_release_free_memory()
    }

    /// Bytes in use, bytes kept free for reuse, and the most in use at once since the last `trim`.
    var statistics: (liveBytes: Int, freeBytes: Int, peakLiveBytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (liveFloats * 4, freeFloats * 4, peakLiveFloats * 4)
    }
}
