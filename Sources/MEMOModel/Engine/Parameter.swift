/// A named tensor of the network: a weight (with its gradient and SGD momentum) or a batch-norm
/// running statistic (state that is saved and loaded but never trained). Which weights train is
/// the network's choice (`MEMONetwork.trainableParameters()`), not the parameter's.
public final class Parameter {
    public enum Kind: String, Sendable { case weight, runningStatistic }

    public let kind: Kind
    public var value: Tensor
    /// Gradient of the last backward pass (same shape as `value`); nil when not computed.
    public var grad: Tensor?
    /// SGD momentum buffer; nil until the first step (PyTorch's convention).
    public var momentum: [Float]?
    public init(_ value: Tensor, kind: Kind = .weight) {
        self.value = value
        self.kind = kind
    }

    public var shape: [Int] { value.shape }

    /// A deep copy (value only; no gradient or momentum).
    public func copy() -> Parameter {
        Parameter(value, kind: kind)
    }

    /// Gradient storage, created (zeroed) on first use.
    func gradStorage() -> Tensor {
        if let g = grad, g.shape == value.shape { return g }
        return Tensor(zeros: value.shape)
    }
}

/// Anything that owns named parameters: layers, blocks, networks. Names are dotted paths
/// (`generalized.stage1.0.convA.weight`), built by the containers.
public protocol ParameterContainer: AnyObject {
    /// Every tensor (weights and running statistics) with its relative dotted name, in a fixed order.
    func namedParameters() -> [(String, Parameter)]
}

extension ParameterContainer {
    func prefixed(_ prefix: String) -> [(String, Parameter)] {
        namedParameters().map { (prefix + "." + $0.0, $0.1) }
    }
}
