import CDNNL
import Foundation

/// The residual join of a BasicBlock, y = ReLU(main + shortcut(x)), and MEMO's parameter-free
/// "DownsampleA" shortcut (every second pixel, then zero channels appended), forward and
/// backward, on blocked (`nChw16c` / `nChw8c`) activations. The adds and ReLUs run as oneDNN
/// primitives; DownsampleA is a plain loop (a strided copy of a quarter of the input).

/// y = max(main + shortcut, 0). `shortcut` has the same shape as `main`; `y` may be `main`.
func addReLU(_ main: Activation, _ shortcut: Activation, into y: Activation) {
    precondition(main.shape == shortcut.shape && main.shape == y.shape && main.layout == shortcut.layout && main.layout == y.layout
                 && main.precision == shortcut.precision && main.precision == y.precision)
    ElementwisePrimitives.shared.primitive(.addReLU, for: y).execute(
        [(DNNL_ARG_SRC_0, main.md, main.raw), (DNNL_ARG_SRC_1, shortcut.md, shortcut.raw), (DNNL_ARG_DST, y.md, y.raw)])
}

/// Gradient through the ReLU of the join: g = dy where y > 0, else 0.
func reluBackward(output y: Activation, gradOutput dy: Activation, into g: Activation) {
    precondition(y.shape == dy.shape && y.shape == g.shape && y.layout == dy.layout && y.layout == g.layout
                 && y.precision == dy.precision && y.precision == g.precision)
    ElementwisePrimitives.shared.primitive(.reluBackward, for: y).execute(
        [(DNNL_ARG_DST, y.md, y.raw), (DNNL_ARG_DIFF_DST, dy.md, dy.raw), (DNNL_ARG_DIFF_SRC, g.md, g.raw)])
}

/// DownsampleA forward: out[n, c, h, w] = x[n, c, 2h, 2w] for c < C_in, 0 for the appended
/// channels. In the blocked layout the appended channels are whole channel blocks. A copy of
/// bytes, so the same for either precision.
func downsampleA(_ x: Activation, into out: Activation) {
    let s = x.shape, t = out.shape
    precondition(t.n == s.n && t.h == (s.h + 1) / 2 && t.w == (s.w + 1) / 2 && t.c >= s.c && x.precision == out.precision)
    out.buffer.zero()
    let b = channelBlock * x.precision.bytes
    let inBlocks = s.c / channelBlock, outBlocks = t.c / channelBlock
    let src = x.raw, dst = out.raw
    for n in 0..<s.n {
        for cb in 0..<inBlocks {
            let sBase = src + ((n * inBlocks + cb) * s.h * s.w) * b
            let dBase = dst + ((n * outBlocks + cb) * t.h * t.w) * b
            for h in 0..<t.h {
                for w in 0..<t.w {
                    (dBase + (h * t.w + w) * b).copyMemory(from: sBase + ((2 * h) * s.w + 2 * w) * b, byteCount: b)
                }
            }
        }
    }
}

/// DownsampleA backward, accumulated: dx[n, c, 2h, 2w] += g[n, c, h, w] for c < C_in (summed in
/// float32, then rounded, for bf16).
func downsampleABackwardAdd(_ g: Activation, into dx: Activation) {
    precondition(g.precision == dx.precision)
    switch g.precision {
    case .float32: downsampleABackwardAdd(g.shape, g.pointer, into: dx.shape, dx.pointer) { $0 + $1 }
    case .bfloat16:
        downsampleABackwardAdd(g.shape, g.bfloat16Pointer, into: dx.shape, dx.bfloat16Pointer) {
            floatToBFloat16(bfloat16ToFloat($0) + bfloat16ToFloat($1))
        }
    }
}

@inline(__always)
private func downsampleABackwardAdd<T>(_ t: BatchShape, _ src: UnsafeMutablePointer<T>, into s: BatchShape,
                                       _ dst: UnsafeMutablePointer<T>, _ add: (T, T) -> T) {
    let b = channelBlock
    let inBlocks = s.c / b, outBlocks = t.c / b
    for n in 0..<s.n {
        for cb in 0..<inBlocks {
            let gBase = src + ((n * outBlocks + cb) * t.h * t.w) * b
            let dBase = dst + ((n * inBlocks + cb) * s.h * s.w) * b
            for h in 0..<t.h {
                for w in 0..<t.w {
                    let gp = gBase + (h * t.w + w) * b
                    let dp = dBase + ((2 * h) * s.w + 2 * w) * b
                    for k in 0..<b { dp[k] = add(dp[k], gp[k]) }
                }
            }
        }
    }
}

/// a += b, elementwise (gradient accumulation where a tensor feeds two branches).
func addInPlace(_ a: Activation, _ b: Activation) { addActivations(a, b, into: a) }

/// c = a + b, elementwise, in one pass (the input gradient of an identity-shortcut block); `c`
/// may be `a`.
func addActivations(_ a: Activation, _ b: Activation, into c: Activation) {
    precondition(a.shape == b.shape && a.shape == c.shape && a.layout == b.layout && a.layout == c.layout
                 && a.precision == b.precision && a.precision == c.precision)
    ElementwisePrimitives.shared.primitive(.add, for: c).execute(
        [(DNNL_ARG_SRC_0, a.md, a.raw), (DNNL_ARG_SRC_1, b.md, b.raw), (DNNL_ARG_DST, c.md, c.raw)])
}

/// a = b (same shape, layout and precision).
func copyActivation(_ b: Activation, into a: Activation) {
    precondition(a.shape == b.shape && a.layout == b.layout && a.precision == b.precision)
    a.raw.copyMemory(from: b.raw, byteCount: a.shape.count * a.precision.bytes)
}
