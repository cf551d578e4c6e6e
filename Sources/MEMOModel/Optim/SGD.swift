/// Stochastic gradient descent with momentum and weight decay, exactly as PyTorch's
/// `torch.optim.SGD` (no dampening, no Nesterov): g = grad + wd·w; buf = g on the first step,
/// else buf = momentum·buf + g; w -= lr·buf.
public struct SGD: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float

    public init(learningRate: Float, momentum: Float = 0.9, weightDecay: Float) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// Updates every parameter that has a gradient; parameters without one are skipped (as
    /// PyTorch skips `p.grad is None`).
    public func step(_ parameters: [Parameter]) {
        for p in parameters where p.kind == .weight {
            guard let grad = p.grad else { continue }
            let count = p.value.count
            var buf = p.momentum ?? []
            let first = buf.isEmpty
            if first { buf = [Float](repeating: 0, count: count) }
            let lr = learningRate, mom = momentum, wd = weightDecay
            p.value.data.withUnsafeMutableBufferPointer { w in
            grad.data.withUnsafeBufferPointer { g in
            buf.withUnsafeMutableBufferPointer { b in
                for i in 0..<count {
                    let d = g[i] + wd * w[i]
                    let v = first ? d : mom * b[i] + d
                    b[i] = v
                    w[i] -= lr * v
                }
            }}}
            p.momentum = buf
        }
    }
}

/// Learning-rate schedules of the reference: MultiStepLR and CosineAnnealingLR (per epoch).
public enum LearningRateSchedule: Equatable, Sendable {
    case multiStep(milestones: [Int], gamma: Double)
    case cosine(tMax: Int)

    /// Learning rate during `epoch` (0-based), as PyTorch's scheduler stepped once per epoch.
    public func rate(base: Double, epoch: Int) -> Double {
        switch self {
        case let .multiStep(milestones, gamma):
            let passed = milestones.filter { $0 <= epoch }.count
            var lr = base
            for _ in 0..<passed { lr *= gamma }
            return lr
        case let .cosine(tMax):
            // Closed form of CosineAnnealingLR with eta_min 0.
            return base * (1 + _cosine(Double.pi * Double(epoch) / Double(max(tMax, 1)))) / 2
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _cosine(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) private func _cosine(_ x: Double) -> Double { Foundation.cos(x) }
#endif
