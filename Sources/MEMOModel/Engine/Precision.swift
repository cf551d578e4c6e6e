import CDNNL

/// The number format of the engine's activations and convolution kernels (`--precision`).
///
/// - `float32`: everything in float32 (the default; what every parity and gradient test pins).
/// - `bfloat16`: activations and their gradients are bf16 (8-bit mantissa), convolutions run
///   oneDNN's bf16 kernels (bf16 products, float32 accumulation); parameters, their gradients,
///   the optimizer, batch-norm statistics, the pooled features, the classifier and the loss stay
///   float32 (weights are rounded to bf16 only as a kernel's operand). PyTorch's CPU autocast
///   to bfloat16 keeps the same split. Needs bf16 units (avx512_bf16 or AMX): oneDNN would
///   emulate bf16 elsewhere, slower than float32, so such CPUs are refused.
public enum Precision: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = "fp32"
    case bfloat16 = "bf16"

    /// Accepts `fp32`/`float32` and `bf16`/`bfloat16`.
    public init?(name: String) {
        switch name.lowercased() {
        case "fp32", "float32", "f32": self = .float32
        case "bf16", "bfloat16": self = .bfloat16
        default: return nil
        }
    }

    public var description: String { rawValue }

    /// Bytes per activation element.
    var bytes: Int { self == .float32 ? 4 : 2 }

    var dnnlType: dnnl_data_type_t { self == .float32 ? dnnl_f32 : dnnl_bf16 }

    /// Whether oneDNN runs native bf16 kernels here: the effective ISA (the CPU's, capped by
    /// `DNNL_MAX_CPU_ISA`) includes avx512_core_bf16 (AMX implies it).
    public static var bfloat16Supported: Bool {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return isa & bf16 == bf16
    }

    /// What a network rebuilt from a run recorded with `recorded` (nil: float32) computes in
    /// here: the run's precision where this CPU path runs it, else float32.
    public static func forRebuilt(_ recorded: Precision?) -> Precision {
        guard let recorded, (try? recorded.checkSupported()) != nil else { return .float32 }
        return recorded
    }

    /// Throws when this CPU path cannot run the precision natively.
    public func checkSupported() throws {
        if self == .bfloat16 && !Precision.bfloat16Supported {
            throw ConfigError(flag: "--precision", value: rawValue,
                              allowed: "needs a CPU with bf16 units (avx512_bf16 or AMX); oneDNN runs \(engineISA) kernels here"
                                  + " (DNNL_MAX_CPU_ISA may cap it); use fp32")
        }
    }
}

/// bf16 bits to float32 (exact: bf16 is float32's upper half).
@inline(__always)
func bfloat16ToFloat(_ v: UInt16) -> Float { Float(bitPattern: UInt32(v) << 16) }

/// float32 to bf16 bits, rounding to nearest even as oneDNN's reorders do (NaN stays NaN).
@inline(__always)
func floatToBFloat16(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}
