import Foundation

/// Why a safetensors file cannot be read or written; one line naming the file and the problem.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { HDF5Error.oneLine("\(path): not a valid safetensors file: \(problem)") }
}

/// The safetensors format (huggingface/safetensors): an unsigned 64-bit little-endian header
/// length N, N bytes of UTF-8 JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
/// "__metadata__": {string: string}}` (padded with spaces), then the tensors' raw little-endian
/// bytes, offsets relative to the end of the header. Nothing in it is executable.
///
/// The reader accepts only what the format allows and checks everything before it copies a byte:
/// the header length against the file size, the JSON's types, each dtype, each shape (sizes
/// without overflow), each tensor's byte count against its shape, offsets inside the data and
/// covering it without overlap or hole (as the reference implementation requires). Hostile input
/// gives a `SafeTensorsError`, never a crash. Limits: the whole file is read into memory; dtypes
/// outside `StateDictDType` (F8 variants, unsigned 16-64 bit) are refused by name.
public enum SafeTensors {
    /// Largest header accepted (the reference implementation's limit).
    public static let maximumHeaderLength = 100_000_000

    /// Reads a file.
    public static func read(path: String) throws -> StateDict {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SafeTensorsError(path: path, problem: "cannot read: \(systemReason(error))")
        }
        return try decode([UInt8](data), path: path)
    }

    /// Parses the bytes of a file; `path` only names it in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> StateDict {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(path: path, problem: problem) }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes, shorter than the 8-byte header length") }
        let declared = readUInt64(bytes, at: 0)
        guard declared <= UInt64(bytes.count - 8) else {
            throw fail("header length \(declared) exceeds the \(bytes.count - 8) bytes after the length field (truncated file?)")
        }
        guard declared <= UInt64(maximumHeaderLength) else { throw fail("header length \(declared) exceeds \(maximumHeaderLength) bytes") }
        let headerLength = Int(declared)
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else { throw fail("the header is not a JSON object") }
        let header: [(String, StrictJSON)]
        do {
            guard case let .object(members) = try StrictJSON.parse(bytes[8..<(8 + headerLength)]) else {
                throw fail("the header is not a JSON object")
            }
            header = members
        } catch let e as StrictJSON.ParseError {
            throw fail("the header is not valid JSON (\(e.message))")
        }
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart

        var metadata: [String: String] = [:]
        struct Entry { let name: String; let dtype: StateDictDType; let shape: [Int]; let begin: Int; let end: Int }
        var entries: [Entry] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard case let .object(members) = value else { throw fail("__metadata__ is not an object") }
                for (k, v) in members {
                    guard case let .string(s) = v else { throw fail("__metadata__ entry '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case let .object(fields) = value else { throw fail("tensor '\(name)': entry is not an object") }
            var dtypeField: StrictJSON?, shapeField: StrictJSON?, offsetsField: StrictJSON?
            for (key, v) in fields {
                switch key {
                case "dtype": dtypeField = v
                case "shape": shapeField = v
                case "data_offsets": offsetsField = v
                default: throw fail("tensor '\(name)': unknown field '\(key)'")
                }
            }
            guard case let .string(dtypeName)? = dtypeField else { throw fail("tensor '\(name)': no dtype string") }
            guard let dtype = StateDictDType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)': unknown dtype '\(dtypeName)' (known: \(StateDictDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard case let .array(shapeValues)? = shapeField else { throw fail("tensor '\(name)': no shape list") }
            var shape: [Int] = []
            var count = 1
            for v in shapeValues {
                guard case let .integer(d) = v, d >= 0 else { throw fail("tensor '\(name)': shape is not a list of sizes") }
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= dataLength else { throw fail("tensor '\(name)': shape \(shapeText(shapeValues)) is larger than the file") }
                count = p
                shape.append(d)
            }
            guard case let .array(offsets)? = offsetsField, offsets.count == 2,
                  case let .integer(begin) = offsets[0], case let .integer(end) = offsets[1] else {
                throw fail("tensor '\(name)': data_offsets is not a pair of integers")
            }
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] outside the \(dataLength) data bytes")
            }
            let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, needed == end - begin else {
                throw fail("tensor '\(name)': shape \(shape) of \(dtype.rawValue) needs \(needed) bytes, data_offsets give \(end - begin)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The data must be indexed entirely, in order, without overlap or hole.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        for e in entries {
            if e.begin < position { throw fail("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] overlap another tensor's bytes") }
            if e.begin > position { throw fail("data bytes \(position)..<\(e.begin) belong to no tensor (before '\(e.name)')") }
            position = e.end
        }
        guard position == dataLength else { throw fail("data bytes \(position)..<\(dataLength) belong to no tensor") }
        var tensors: [String: StateDictTensor] = [:]
        for e in entries {
            tensors[e.name] = StateDictTensor(dtype: e.dtype, shape: e.shape,
                                              bytes: Array(bytes[(dataStart + e.begin)..<(dataStart + e.end)]))
        }
        return StateDict(tensors: tensors, metadata: metadata)
    }

    /// The bytes of a file: tensors in key order, the header padded with spaces to a multiple of 8
    /// bytes so the data starts aligned.
    public static func encode(_ stateDict: StateDict) -> [UInt8] {
        var header = "{"
        var parts: [String] = []
        if !stateDict.metadata.isEmpty {
            let entries = stateDict.metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            parts.append("\"__metadata__\":{" + entries.joined(separator: ",") + "}")
        }
        var offset = 0
        let names = stateDict.tensors.keys.sorted()
        for name in names {
            let t = stateDict.tensors[name]!
            let end = offset + t.bytes.count
            parts.append("\(jsonString(name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
        var out = [UInt8]()
        out.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out += $0 }
        out += headerBytes
        for name in names { out += stateDict.tensors[name]!.bytes }
        return out
    }

    /// Writes a file atomically (temporary file in the same folder, fsync, rename).
    public static func write(_ stateDict: StateDict, to path: String) throws {
        let bytes = encode(stateDict)
        try writeAtomically(to: path) { tmp in
            guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
                throw SafeTensorsError(path: path, problem: "cannot write \(tmp): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for j in 0..<8 { v |= UInt64(bytes[offset + j]) << (8 * UInt64(j)) }
        return v
    }

    static func shapeText(_ values: [StrictJSON]) -> String {
        "[" + values.map { v -> String in if case let .integer(d) = v { return "\(d)" }; return "?" }.joined(separator: ", ") + "]"
    }

    /// A JSON string literal (quotes, backslash and control characters escaped).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
