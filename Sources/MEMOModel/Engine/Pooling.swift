/// Global average pooling of a blocked activation into rows of a feature matrix, and its
/// backward pass. MEMO pools each specialized block's 64x8x8 output into a 64-d feature and
/// concatenates the blocks' features, so the pooled values are written at a column offset of a
/// wider [N, width] row-major matrix.

/// features[n, offset + c] = mean over h, w of x[n, c, h, w].
func globalAveragePool(_ x: Activation, into features: UnsafeMutablePointer<Float>, width: Int, offset: Int) {
    let s = x.shape
    let hw = s.h * s.w
    let b = channelBlock
    let blocks = s.c / b
    let scale = 1 / Float(hw)
    var acc = [Float](repeating: 0, count: b)
    for n in 0..<s.n {
        for cb in 0..<blocks {
            for k in 0..<b { acc[k] = 0 }
            let base = x.pointer + ((n * blocks + cb) * hw) * b
            for i in 0..<hw {
                let p = base + i * b
                for k in 0..<b { acc[k] += p[k] }
            }
            let row = features + n * width + offset + cb * b
            for k in 0..<b { row[k] = acc[k] * scale }
        }
    }
}

/// dx[n, c, h, w] = dFeatures[n, offset + c] / (H·W).
func globalAveragePoolBackward(_ dFeatures: UnsafePointer<Float>, width: Int, offset: Int, into dx: Activation) {
    let s = dx.shape
    let hw = s.h * s.w
    let b = channelBlock
    let blocks = s.c / b
    let scale = 1 / Float(hw)
    for n in 0..<s.n {
        for cb in 0..<blocks {
            let row = dFeatures + n * width + offset + cb * b
            let base = dx.pointer + ((n * blocks + cb) * hw) * b
            for i in 0..<hw {
                let p = base + i * b
                for k in 0..<b { p[k] = row[k] * scale }
            }
        }
    }
}
