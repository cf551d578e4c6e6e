/// The residual join of a BasicBlock, y = ReLU(main + shortcut(x)), and MEMO's parameter-free
/// "DownsampleA" shortcut (every second pixel, then zero channels appended), forward and
/// backward, on blocked (`nChw16c` / `nChw8c`) activations. Plain loops: these are memory-bound and cheap next to
/// the convolutions.

/// y = max(main + shortcut, 0). `shortcut` has the same shape as `main`.
func addReLU(_ main: Activation, _ shortcut: Activation, into y: Activation) {
    precondition(main.shape == shortcut.shape && main.shape == y.shape)
    let a = main.pointer, b = shortcut.pointer, o = y.pointer
    for i in 0..<y.shape.count { o[i] = max(a[i] + b[i], 0) }
}

/// Gradient through the ReLU of the join: g = dy where y > 0, else 0.
func reluBackward(output y: Activation, gradOutput dy: Activation, into g: Activation) {
    precondition(y.shape == dy.shape && y.shape == g.shape)
    let o = y.pointer, d = dy.pointer, r = g.pointer
    for i in 0..<y.shape.count {
        let v = o[i], gv = d[i]
        r[i] = v > 0 ? gv : 0
    }
}

/// DownsampleA forward: out[n, c, h, w] = x[n, c, 2h, 2w] for c < C_in, 0 for the appended
/// channels. In the blocked layout the appended channels are whole channel blocks.
func downsampleA(_ x: Activation, into out: Activation) {
    let s = x.shape, t = out.shape
    precondition(t.n == s.n && t.h == (s.h + 1) / 2 && t.w == (s.w + 1) / 2 && t.c >= s.c)
    out.buffer.zero()
    let b = channelBlock
    let inBlocks = s.c / b, outBlocks = t.c / b
    let src = x.pointer, dst = out.pointer
    for n in 0..<s.n {
        for cb in 0..<inBlocks {
            let sBase = src + ((n * inBlocks + cb) * s.h * s.w) * b
            let dBase = dst + ((n * outBlocks + cb) * t.h * t.w) * b
            for h in 0..<t.h {
                for w in 0..<t.w {
                    let sp = sBase + ((2 * h) * s.w + 2 * w) * b
                    let dp = dBase + (h * t.w + w) * b
                    for k in 0..<b { dp[k] = sp[k] }
                }
            }
        }
    }
}

/// DownsampleA backward, accumulated: dx[n, c, 2h, 2w] += g[n, c, h, w] for c < C_in.
func downsampleABackwardAdd(_ g: Activation, into dx: Activation) {
    let s = dx.shape, t = g.shape
    let b = channelBlock
    let inBlocks = s.c / b, outBlocks = t.c / b
    let src = g.pointer, dst = dx.pointer
    for n in 0..<s.n {
        for cb in 0..<inBlocks {
            let gBase = src + ((n * outBlocks + cb) * t.h * t.w) * b
            let dBase = dst + ((n * inBlocks + cb) * s.h * s.w) * b
            for h in 0..<t.h {
                for w in 0..<t.w {
                    let gp = gBase + (h * t.w + w) * b
                    let dp = dBase + ((2 * h) * s.w + 2 * w) * b
                    for k in 0..<b { dp[k] += gp[k] }
                }
            }
        }
    }
}

/// a += b, elementwise (gradient accumulation where a tensor feeds two branches).
func addInPlace(_ a: Activation, _ b: Activation) {
    precondition(a.shape == b.shape && a.layout == b.layout)
    let p = a.pointer, q = b.pointer
    for i in 0..<a.shape.count { p[i] += q[i] }
}

/// c = a + b, elementwise, in one pass (the input gradient of an identity-shortcut block).
func addActivations(_ a: Activation, _ b: Activation, into c: Activation) {
    precondition(a.shape == b.shape && a.shape == c.shape && a.layout == b.layout && a.layout == c.layout)
    let p = a.pointer, q = b.pointer, r = c.pointer
    for i in 0..<c.shape.count { r[i] = p[i] + q[i] }
}

/// a = b (same shape and layout).
func copyActivation(_ b: Activation, into a: Activation) {
    precondition(a.shape == b.shape && a.layout == b.layout)
    a.pointer.update(from: b.pointer, count: a.shape.count)
}
