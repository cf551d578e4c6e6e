/// Global average pooling of a blocked activation into rows of a feature matrix, and its
/// backward pass. MEMO pools each specialized block's 64x8x8 output into a 64-d feature and
/// concatenates the blocks' features, so the pooled values are written at a column offset of a
/// wider [N, width] row-major matrix. The features are float32 whatever the activation's
/// precision (a bf16 map is summed in float32).

/// features[n, offset + c] = mean over h, w of x[n, c, h, w].
func globalAveragePool(_ x: Activation, into features: UnsafeMutablePointer<Float>, width: Int, offset: Int) {
    switch x.precision {
    case .float32: globalAveragePool(x.shape, x.pointer, { $0 }, into: features, width: width, offset: offset)
    case .bfloat16: globalAveragePool(x.shape, x.bfloat16Pointer, bfloat16ToFloat, into: features, width: width, offset: offset)
    }
}

@inline(__always)
private func globalAveragePool<T>(_ s: BatchShape, _ x: UnsafeMutablePointer<T>, _ value: (T) -> Float,
                                  into features: UnsafeMutablePointer<Float>, width: Int, offset: Int) {
    let hw = s.h * s.w
    let b = channelBlock
    let blocks = s.c / b
    let scale = 1 / Float(hw)
    var acc = [Float](repeating: 0, count: b)
    for n in 0..<s.n {
        for cb in 0..<blocks {
            for k in 0..<b { acc[k] = 0 }
            let base = x + ((n * blocks + cb) * hw) * b
            for i in 0..<hw {
                let p = base + i * b
                for k in 0..<b { acc[k] += value(p[k]) }
            }
            let row = features + n * width + offset + cb * b
            for k in 0..<b { row[k] = acc[k] * scale }
        }
    }
}

/// dx[n, c, h, w] = dFeatures[n, offset + c] / (H·W).
func globalAveragePoolBackward(_ dFeatures: UnsafePointer<Float>, width: Int, offset: Int, into dx: Activation) {
    switch dx.precision {
    case .float32: globalAveragePoolBackward(dFeatures, width: width, offset: offset, dx.shape, dx.pointer, { $0 })
    case .bfloat16: globalAveragePoolBackward(dFeatures, width: width, offset: offset, dx.shape, dx.bfloat16Pointer, floatToBFloat16)
    }
}

@inline(__always)
private func globalAveragePoolBackward<T>(_ dFeatures: UnsafePointer<Float>, width: Int, offset: Int,
                                          _ s: BatchShape, _ dx: UnsafeMutablePointer<T>, _ element: (Float) -> T) {
    let hw = s.h * s.w
    let b = channelBlock
    let blocks = s.c / b
    let scale = 1 / Float(hw)
    for n in 0..<s.n {
        for cb in 0..<blocks {
            let row = dFeatures + n * width + offset + cb * b
            let base = dx + ((n * blocks + cb) * hw) * b
            for k in 0..<b {
                let v = element(row[k] * scale)
                for i in 0..<hw { base[i * b + k] = v }
            }
        }
    }
}
