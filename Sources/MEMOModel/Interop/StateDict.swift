/// A PyTorch state_dict as plain data: tensors by their dotted PyTorch key, each with its dtype,
/// shape and contiguous little-endian bytes. It is the exchange type between the file readers and
/// writers of the interop (safetensors, torch.save zip files) and the conversion to and from
/// memo-swift checkpoints; it holds numbers only, nothing a reader could execute.
public struct StateDict: Sendable {
    /// Tensors by key, e.g. `TaskAgnosticExtractor.conv_1_3x3.weight`.
    public var tensors: [String: StateDictTensor]
    /// String metadata that travels with the tensors (safetensors `__metadata__`); empty where the
    /// format has none.
    public var metadata: [String: String]

    public init(tensors: [String: StateDictTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }
}

/// The element types a state_dict of an AdaptiveNet can hold, named as safetensors names them.
public enum StateDictDType: String, Sendable, CaseIterable {
    case float32 = "F32", float64 = "F64", float16 = "F16", bfloat16 = "BF16"
    case int64 = "I64", int32 = "I32", int16 = "I16", int8 = "I8", uint8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
}

/// One tensor of a state_dict: row-major, contiguous, little-endian.
public struct StateDictTensor: Sendable, Equatable {
    public var dtype: StateDictDType
    public var shape: [Int]
    public var bytes: [UInt8]

    /// Element count of the shape (1 for a scalar, shape `[]`).
    public var count: Int { shape.reduce(1, *) }

    public init(dtype: StateDictDType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.reduce(1, *) * dtype.size == bytes.count,
                     "state_dict tensor \(shape) of \(dtype.rawValue) needs \(shape.reduce(1, *) * dtype.size) bytes, got \(bytes.count)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 tensor from values.
    public init(float32 values: [Float], shape: [Int]) {
        #if _endian(little)
        let bytes = values.withUnsafeBytes { Array($0) }  // the memory is the format: one copy
        #else
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        for (i, v) in values.enumerated() {
            let b = v.bitPattern.littleEndian
            withUnsafeBytes(of: b) { raw in for j in 0..<4 { bytes[4 * i + j] = raw[j] } }
        }
        #endif
        self.init(dtype: .float32, shape: shape, bytes: bytes)
    }

    /// An int64 scalar (BatchNorm's `num_batches_tracked`).
    public init(int64Scalar value: Int64) {
        let v = value.littleEndian
        self.init(dtype: .int64, shape: [], bytes: withUnsafeBytes(of: v) { Array($0) })
    }

    /// The values as float32, converted from any floating-point dtype; nil for integer dtypes.
    public var floatValues: [Float]? {
        var out = [Float](repeating: 0, count: count)
        switch dtype {
        case .float32:
            #if _endian(little)
            bytes.withUnsafeBytes { src in out.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
            #else
            for i in 0..<count { out[i] = Float(bitPattern: littleEndianUInt32(at: 4 * i)) }
            #endif
        case .float64:
            for i in 0..<count { out[i] = Float(Double(bitPattern: littleEndianUInt64(at: 8 * i))) }
        case .float16:
            for i in 0..<count { out[i] = Float(Float16(bitPattern: UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8)) }
        case .bfloat16:
            for i in 0..<count { out[i] = Float(bitPattern: (UInt32(bytes[2 * i]) | UInt32(bytes[2 * i + 1]) << 8) << 16) }
        default:
            return nil
        }
        return out
    }

    /// The values as Int64, from any integer dtype; nil for floating-point dtypes.
    public var integerValues: [Int64]? {
        var out = [Int64](repeating: 0, count: count)
        switch dtype {
        case .int64: for i in 0..<count { out[i] = Int64(bitPattern: littleEndianUInt64(at: 8 * i)) }
        case .int32: for i in 0..<count { out[i] = Int64(Int32(bitPattern: littleEndianUInt32(at: 4 * i))) }
        case .int16: for i in 0..<count { out[i] = Int64(Int16(bitPattern: UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8)) }
        case .int8: for i in 0..<count { out[i] = Int64(Int8(bitPattern: bytes[i])) }
        case .uint8, .bool: for i in 0..<count { out[i] = Int64(bytes[i]) }
        default: return nil
        }
        return out
    }

    private func littleEndianUInt32(at offset: Int) -> UInt32 {
        var v: UInt32 = 0
        for j in 0..<4 { v |= UInt32(bytes[offset + j]) << (8 * UInt32(j)) }
        return v
    }

    private func littleEndianUInt64(at offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for j in 0..<8 { v |= UInt64(bytes[offset + j]) << (8 * UInt64(j)) }
        return v
    }
}
