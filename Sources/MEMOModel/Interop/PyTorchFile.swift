import Foundation

/// Why a PyTorch file was not read; each description is one line naming the file.
public enum PyTorchFileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The zip container: missing, not a zip, damaged, an entry too large.
    case archive(ZipArchiveError)
    /// The pickle inside (`data.pkl`): malformed, a refused global, beyond a limit.
    case pickle(PickleError)
    /// Not a `torch.save` zip archive (no `data.pkl`, the pre-1.6 format, a big-endian file).
    case notATorchFile(path: String, reason: String)
    /// A tensor or storage that does not fit its data or is of a type not read.
    case badTensor(path: String, key: String, reason: String)
    /// The file holds something other than a state_dict of tensors.
    case notAStateDict(path: String, reason: String)

    /// Names in it may come from a hostile file: control characters are escaped (one line).
    public var description: String { HDF5Error.oneLine(text) }

    private var text: String {
        switch self {
        case let .archive(e): return e.description
        case let .pickle(e): return e.description
        case let .notATorchFile(path, reason): return "\(path): not a torch.save file: \(reason)"
        case let .badTensor(path, key, reason): return "\(path): tensor '\(key)': \(reason)"
        case let .notAStateDict(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Reads PyTorch's `torch.save` files (the zip format of PyTorch 1.6 and later) without
/// executing anything: the pickle `data.pkl` runs in `PickleMachine` under a policy that knows
/// only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`, and
/// the typed storage classes (`torch.FloatStorage`, ...) named in persistent ids
/// `('storage', class, key, location, numel)`; each storage is the stored entry `<archive>/data/<key>`.
public enum PyTorchFile {
    /// Keys under which a checkpoint dict commonly nests the model's state_dict
    /// (`{"model_state_dict": model.state_dict(), "epoch": ...}`), tried in this order.
    public static let nestedStateDictKeys = ["state_dict", "model_state_dict", "model"]
    /// The largest `data.pkl` read (a state_dict's pickle is about 100 bytes per tensor).
    static let maxPickleBytes: UInt64 = 256 << 20
    /// The largest tensor materialised from a view larger than its storage (a stride-0 expand).
    static let maxViewBytes = 64 << 20

    /// Reads the state_dict in a `torch.save` file: a dict of tensors at the top level, or
    /// nested under one of `nestedStateDictKeys` when the top level holds other things too.
    /// Tensors are returned contiguous (views with offsets or strides are materialised); the
    /// device a tensor was saved from (`cpu`, `cuda:0`) does not matter.
    /// - Throws: `PyTorchFileError`.
    public static func readStateDict(path: String) throws -> StateDict {
        do {
            return try read(path: path)
        } catch let e as ZipArchiveError {
            throw PyTorchFileError.archive(e)
        } catch let e as PickleError {
            throw PyTorchFileError.pickle(e)
        }
    }

    private static func read(path: String) throws -> StateDict {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ZipArchiveError.cannotOpen(path: path, reason: "No such file or directory")
        }
        let archive: ZipArchive
        do {
            archive = try ZipArchive(path: path)
        } catch ZipArchiveError.notZip(let p) {
            throw legacyFormat(p) ? PyTorchFileError.notATorchFile(path: p, reason:
                "the legacy format of PyTorch before 1.6 (or _use_new_zipfile_serialization=False) is not read; "
                + "load it and save it again with a current PyTorch") : ZipArchiveError.notZip(path: p)
        }
        let pickles = archive.entries.filter {
            let parts = $0.name.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && !parts[0].isEmpty && parts[1] == "data.pkl"
        }
        guard pickles.count == 1 else {
            throw PyTorchFileError.notATorchFile(path: path, reason: pickles.isEmpty
                ? "no <archive>/data.pkl entry" : "\(pickles.count) data.pkl entries")
        }
        let prefix = String(pickles[0].name.dropLast("data.pkl".count))
        if let order = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.read(order, limit: 16), as: UTF8.self)
            guard text == "little" else {
                throw PyTorchFileError.notATorchFile(path: path, reason: "byte order '\(text.prefix(16))'; only little-endian files are read")
            }
        }
        let policy = TorchPolicy(file: path)
        let root = try PickleMachine(file: path).load(try archive.read(pickles[0], limit: maxPickleBytes), policy: policy)
        let dict = try stateDictionary(in: root, path: path)
        var storages: [String: [UInt8]] = [:]
        var result = StateDict()
        // Tied weights share a storage; views may repeat one (stride 0): bounded all the same.
        var budget = 4 * Int(clamping: archive.fileSize) + maxViewBytes
        for (key, value) in zip(dict.keys, dict.values) {
            guard case let .native(object) = value, let tensor = object as? TorchTensor else {
                throw PyTorchFileError.notAStateDict(path: path, reason:
                    "entry '\(key.text)' is a \(value.typeName), not a tensor; a state_dict holds only tensors")
            }
            guard case let .string(name) = key else {
                throw PyTorchFileError.notAStateDict(path: path, reason: "a tensor under the non-string key \(key.text)")
            }
            let storage = tensor.storage
            let bytes: [UInt8]
            if let cached = storages[storage.key] {
                bytes = cached
            } else {
                guard let entry = archive.entry(named: prefix + "data/" + storage.key) else {
                    throw PyTorchFileError.badTensor(path: path, key: name, reason: "its storage entry \(prefix)data/\(storage.key) is missing")
                }
                let (expected, overflow) = storage.count.multipliedReportingOverflow(by: storage.dtype.size)
                guard !overflow, UInt64(expected) == entry.size else {
                    throw PyTorchFileError.badTensor(path: path, key: name, reason: "storage \(storage.key) declares \(storage.count) "
                        + "\(storage.dtype.rawValue) elements, its entry holds \(entry.size) bytes")
                }
                bytes = try archive.read(entry, limit: entry.size)
                storages[storage.key] = bytes
            }
            result.tensors[name] = try materialise(tensor, storage: bytes, path: path, key: name, budget: &budget)
        }
        return result
    }

    /// Whether the file starts as a legacy `torch.save` pickle (protocol 2, then the magic number
    /// 0x1950a86a20f9469cfc6c as a LONG1).
    private static func legacyFormat(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 14)) ?? Data())
        return head == [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    }

    /// The dict of tensors: the top level, or a dict under one of `nestedStateDictKeys`.
    private static func stateDictionary(in root: PickleValue, path: String) throws -> PickleDict {
        guard case let .dict(top) = root else {
            throw PyTorchFileError.notAStateDict(path: path, reason: "holds a \(root.typeName), not a state_dict (a dict of tensors)")
        }
        func allTensors(_ d: PickleDict) -> Bool {
            d.values.allSatisfy { if case let .native(n) = $0 { return n is TorchTensor } else { return false } }
        }
        if allTensors(top) { return top }
        for key in nestedStateDictKeys {
            if case let .dict(nested)? = top[.string(key)] { return nested }
        }
        let keys = top.keys.prefix(8).map { "'\($0.text)'" }.joined(separator: ", ")
        throw PyTorchFileError.notAStateDict(path: path, reason: "a dict of \(top.count) entries (\(keys)\(top.count > 8 ? ", ..." : "")) "
            + "that is neither a state_dict of tensors nor holds one under \(nestedStateDictKeys.map { "'\($0)'" }.joined(separator: ", "))")
    }

    /// The tensor's elements in row-major order, bounds-checked against its storage.
    /// `budget` is the number of bytes the state_dict's tensors may still take.
    static func materialise(_ t: TorchTensor, storage: [UInt8], path: String, key: String, budget: inout Int) throws -> StateDictTensor {
        func bad(_ reason: String) -> PyTorchFileError { .badTensor(path: path, key: key, reason: reason) }
        let size = t.storage.dtype.size
        guard t.shape.count == t.strides.count else { throw bad("shape \(t.shape) and strides \(t.strides) differ in rank") }
        guard t.offset >= 0, t.shape.allSatisfy({ $0 >= 0 }), t.strides.allSatisfy({ $0 >= 0 }) else {
            throw bad("negative offset, size or stride (offset \(t.offset), shape \(t.shape), strides \(t.strides))")
        }
        var count = 1, last = t.offset
        for (n, s) in zip(t.shape, t.strides) {
            let (c, o1) = count.multipliedReportingOverflow(by: n)
            guard !o1 else { throw bad("shape \(t.shape) overflows") }
            count = c
            if n > 0 {
                let (span, o2) = (n - 1).multipliedReportingOverflow(by: s)
                let (end, o3) = last.addingReportingOverflow(span)
                guard !o2, !o3 else { throw bad("strides \(t.strides) overflow") }
                last = end
            }
        }
        let elements = storage.count / size
        if count > 0 {
            guard last < elements else {
                throw bad("shape \(t.shape), strides \(t.strides) and offset \(t.offset) reach element \(last) "
                    + "of a storage of \(elements)")
            }
        }
        if count == 0 { return StateDictTensor(dtype: t.storage.dtype, shape: t.shape, bytes: []) }
        let (bytes, o4) = count.multipliedReportingOverflow(by: size)
        guard !o4, bytes <= max(storage.count, maxViewBytes) else {
            throw bad("shape \(t.shape) needs more bytes than its storage holds and the \(maxViewBytes >> 20) MiB limit for views")
        }
        guard budget >= bytes else {
            throw PyTorchFileError.notAStateDict(path: path, reason: "its tensors need more than 4 times the file's size "
                + "plus \(maxViewBytes >> 20) MiB (views repeating their storages)")
        }
        budget -= bytes
        var contiguous = t.strides.count == t.shape.count
        var expected = 1
        for (n, s) in zip(t.shape, t.strides).reversed() {
            if n != 1 && s != expected { contiguous = false }
            expected *= n
        }
        if contiguous {
            let start = t.offset * size
            return StateDictTensor(dtype: t.storage.dtype, shape: t.shape, bytes: Array(storage[start..<(start + bytes)]))
        }
        var out = [UInt8](repeating: 0, count: bytes)
        var index = [Int](repeating: 0, count: t.shape.count)
        storage.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    var element = t.offset
                    for d in 0..<index.count { element += index[d] * t.strides[d] }
                    for b in 0..<size { dst[i * size + b] = src[element * size + b] }
                    var d = index.count - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < t.shape[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return StateDictTensor(dtype: t.storage.dtype, shape: t.shape, bytes: out)
    }
}

/// A storage named by a persistent id: its element type, zip key and element count.
final class TorchStorage: PickleNative {
    let dtype: StateDictDType
    let key: String
    let count: Int
    var typeName: String { "torch.\(TorchPolicy.storageClass(of: dtype))" }
    init(dtype: StateDictDType, key: String, count: Int) {
        self.dtype = dtype
        self.key = key
        self.count = count
    }
}

/// A tensor as `_rebuild_tensor_v2` describes it: a view of a storage.
final class TorchTensor: PickleNative {
    let storage: TorchStorage
    let offset: Int
    let shape: [Int]
    let strides: [Int]
    var typeName: String { "torch.Tensor" }
    init(storage: TorchStorage, offset: Int, shape: [Int], strides: [Int]) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.strides = strides
    }
}

/// What a state_dict's pickle may use.
struct TorchPolicy: PicklePolicy {
    let file: String
    /// Storages by key: a key names one storage however often it is referenced.
    private let storages = Box()
    private final class Box { var byKey: [String: TorchStorage] = [:] }

    static let storageTypes: [String: StateDictDType] = [
        "FloatStorage": .float32, "DoubleStorage": .float64, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool,
    ]

    static func storageClass(of dtype: StateDictDType) -> String {
        storageTypes.first { $0.value == dtype }?.key ?? dtype.rawValue
    }

    static let rebuilders: Set<String> = ["_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"]

    init(file: String) { self.file = file }

    func global(module: String, name: String) throws -> PickleValue {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .global(module: module, name: name)
        case ("torch._utils", _) where Self.rebuilders.contains(name): return .global(module: module, name: name)
        // Any storage class may be named; persistentLoad says which element types are read.
        case ("torch", _) where name.hasSuffix("Storage"): return .global(module: module, name: name)
        default:
            let objectLike = module == "__main__" || module == "__torch__" || module.hasPrefix("__torch__.")
                || module.hasPrefix("torch.nn.") || module.hasPrefix("torchvision.")
            throw PickleError.refusedGlobal(file: file, global: "\(module).\(name)", hint: objectLike
                ? "the file holds a pickled model object, not a state_dict: in Python, save one with "
                    + "torch.save(model.state_dict(), path)"
                : nil)
        }
    }

    func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case let .global(module, name) = callable else {
            throw PickleError.unsupported(file: file, reason: "a call of a \(callable.typeName)")
        }
        switch (module, name) {
        case ("collections", "OrderedDict"):
            guard args.isEmpty else { throw PickleError.unsupported(file: file, reason: "OrderedDict called with arguments") }
            return .dict(PickleDict(typeName: "collections.OrderedDict"))
        case ("torch._utils", "_rebuild_tensor_v2"):
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard args.count == 6 || args.count == 7, case let .native(s) = args[0], let storage = s as? TorchStorage,
                  let offset = args[1].intValue, let shape = ints(args[2]), let strides = ints(args[3]) else {
                throw PickleError.unsupported(file: file, reason: "_rebuild_tensor_v2 with arguments (\(args.map(\.typeName).joined(separator: ", ")))")
            }
            return .native(TorchTensor(storage: storage, offset: offset, shape: shape, strides: strides))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor.
            guard args.count == 3 || args.count == 4, case let .native(t) = args[0], t is TorchTensor else {
                throw PickleError.unsupported(file: file, reason: "\(name) with arguments (\(args.map(\.typeName).joined(separator: ", ")))")
            }
            return args[0]
        default:
            throw PickleError.unsupported(file: file, reason: "a call of \(module).\(name)")
        }
    }

    func build(_ object: PickleNative, state: PickleValue) throws {
        throw PickleError.unsupported(file: file, reason: "setting the state of a \(object.typeName)")
    }

    func persistentLoad(_ id: PickleValue) throws -> PickleValue {
        guard case let .tuple(t) = id, t.items.count == 5, t.items[0].text == "storage",
              case let .global(module, name) = t.items[1], module == "torch",
              case let .string(key) = t.items[2], let count = t.items[4].intValue else {
            throw PickleError.unsupported(file: file, reason: "a persistent id other than ('storage', class, key, location, numel)")
        }
        guard let dtype = Self.storageTypes[name] else {
            throw PickleError.unsupported(file: file, reason: "storage type torch.\(name) (read: "
                + Self.storageTypes.keys.sorted().map { "torch.\($0)" }.joined(separator: ", ") + ")")
        }
        guard !key.isEmpty, key.count <= 64, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw PickleError.unsupported(file: file, reason: "storage key '\(key.prefix(64))' (expected letters, digits, _)")
        }
        guard count >= 0 else { throw PickleError.unsupported(file: file, reason: "storage \(key) of \(count) elements") }
        if let known = storages.byKey[key] {
            guard known.dtype == dtype, known.count == count else {
                throw PickleError.unsupported(file: file, reason: "storage \(key) declared as two different types or sizes")
            }
            return .native(known)
        }
        let storage = TorchStorage(dtype: dtype, key: key, count: count)
        storages.byKey[key] = storage
        return .native(storage)
    }

    private func ints(_ v: PickleValue) -> [Int]? {
        guard let items = v.items, items.count <= 64 else { return nil }
        let values = items.compactMap(\.intValue)
        return values.count == items.count ? values : nil
    }
}
