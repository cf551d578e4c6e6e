/// Fully connected layer with bias, y = x·Wᵀ + b (PyTorch `nn.Linear`), through oneDNN's sgemm.
///
/// Shapes: x [N, inFeatures] -> y [N, outFeatures]; weight [outFeatures, inFeatures], bias [outFeatures].
public final class Linear: ParameterContainer {
    public private(set) var inFeatures: Int
    public private(set) var outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter

    /// MEMO's `SimpleLinear` initialisation: kaiming-uniform with gain 1 (bound = √(3 / fan_in)), bias 0.
    public init(inFeatures: Int, outFeatures: Int, rng: inout MEMORandom) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = (3.0 / Double(inFeatures)).squareRoot()
        var w = [Float](repeating: 0, count: inFeatures * outFeatures)
        for i in 0..<w.count { w[i] = Float((rng.uniform() * 2 - 1) * bound) }
        weight = Parameter(Tensor(shape: [outFeatures, inFeatures], data: w))
        bias = Parameter(Tensor(zeros: [outFeatures]))
    }

    /// From given values (checkpoints, growth).
    public init(weight: Tensor, bias: Tensor) {
        precondition(weight.shape.count == 2 && bias.shape == [weight.shape[0]])
        self.outFeatures = weight.shape[0]
        self.inFeatures = weight.shape[1]
        self.weight = Parameter(weight)
        self.bias = Parameter(bias)
    }

    public func namedParameters() -> [(String, Parameter)] { [("weight", weight), ("bias", bias)] }

    /// y [N, out] from x [N, in] (row-major, `x` may be a view with row stride `ldx`).
    func forward(_ x: UnsafePointer<Float>, rows n: Int, ldx: Int? = nil, into y: UnsafeMutablePointer<Float>) {
        let b = bias.value.data
        for r in 0..<n { for j in 0..<outFeatures { y[r * outFeatures + j] = b[j] } }
        weight.value.data.withUnsafeBufferPointer { w in
            sgemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures, alpha: 1,
                  a: x, lda: ldx ?? inFeatures, b: w.baseAddress!, ldb: inFeatures, beta: 1, c: y, ldc: outFeatures)
        }
    }

    /// Writes weight.grad and bias.grad from dy [N, out]; accumulates dx [N, in] (row stride
    /// `ldx`) when given: dx += dy·W.
    func backward(input x: UnsafePointer<Float>, rows n: Int, ldx: Int? = nil, gradOutput dy: UnsafePointer<Float>,
                  parameterGradient: Bool, gradInput dx: UnsafeMutablePointer<Float>?) {
        if parameterGradient {
            var gw = [Float](repeating: 0, count: outFeatures * inFeatures)
            gw.withUnsafeMutableBufferPointer { g in
                sgemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n, alpha: 1,
                      a: dy, lda: outFeatures, b: x, ldb: ldx ?? inFeatures, beta: 0, c: g.baseAddress!, ldc: inFeatures)
            }
            var gb = [Float](repeating: 0, count: outFeatures)
            for r in 0..<n { for j in 0..<outFeatures { gb[j] += dy[r * outFeatures + j] } }
            weight.grad = Tensor(shape: weight.shape, data: gw)
            bias.grad = Tensor(shape: bias.shape, data: gb)
        }
        if let dx {
            weight.value.data.withUnsafeBufferPointer { w in
                sgemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, alpha: 1,
                      a: dy, lda: outFeatures, b: w.baseAddress!, ldb: inFeatures, beta: 1, c: dx, ldc: ldx ?? inFeatures)
            }
        }
    }
}
