import Foundation

// Shared pieces of memo-infer's reports: the output formats, a plain-text table, CSV quoting,
// JSON encoding and the errors the reports throw. Every report renders to a `String` so tests
// can assert the exact text; the executable only prints it.

/// How a report is rendered.
public enum ReportFormat: String, CaseIterable, Codable, Sendable {
    /// Aligned columns for a terminal.
    case table
    /// Pretty-printed JSON with sorted keys.
    case json
    /// Comma-separated values with a header line.
    case csv
}

/// Why a report could not be made; each description is one line naming the file or folder.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    /// The dataset given is not the one the checkpoint was trained on.
    case datasetMismatch(checkpoint: String, reason: String)
    /// A folder holds no stage checkpoints.
    case emptyRunFolder(path: String)
    /// A folder given as input holds no `.png` file.
    case noImages(path: String)
    /// The checkpoint lacks something the report needs.
    case missing(path: String, what: String)
    /// The report cannot be rendered in that format.
    case unsupportedFormat(report: String, format: ReportFormat)
    /// An output file could not be written.
    case cannotWrite(path: String, reason: String)
    /// Runs asked to be compared were trained on different datasets.
    case differentDatasets(first: String, firstDataset: String, other: String, otherDataset: String)

    public var description: String {
        switch self {
        case let .datasetMismatch(path, reason): return "\(path): \(reason)"
        case let .emptyRunFolder(path): return "\(path): no stage checkpoints (stage-00.h5, ...) in this folder"
        case let .noImages(path): return "\(path): folder holds no .png, .jpg or .jpeg images"
        case let .missing(path, what): return "\(path): \(what)"
        case let .unsupportedFormat(report, format): return "\(report) has no \(format.rawValue) output"
        case let .cannotWrite(path, reason): return "\(path): cannot write: \(reason)"
        case let .differentDatasets(first, a, other, b):
            return "\(other): trained on \(b), but \(first) on \(a); only runs of one dataset (and class names) are compared"
        }
    }
}

/// Checks, before any work, that `path` can be written by an option such as `--png`: its folder
/// exists and is writable and `path` is not a folder. The file itself is not created.
/// - Throws: ``InferenceError/cannotWrite(path:reason:)`` naming the flag and the path.
public func checkOutputPath(_ path: String, flag: String) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    var isDir: ObjCBool = false
    let name = "\(flag) \(path)"
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
        throw InferenceError.cannotWrite(path: name, reason: "no such folder \(folder)")
    }
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw InferenceError.cannotWrite(path: name, reason: "it is a folder")
    }
    guard access(folder, W_OK) == 0 else {
        throw InferenceError.cannotWrite(path: name, reason: "folder \(folder): \(String(cString: strerror(errno)))")
    }
}

/// Writes a report (CSV, JSON, text) to `path`, replacing it.
/// - Throws: ``InferenceError/cannotWrite(path:reason:)``.
public func writeReport(_ text: String, to path: String) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw InferenceError.cannotWrite(path: path, reason: systemReason(error))
    }
}

/// A plain-text table: the first column left-aligned, the others right-aligned, columns
/// separated by two spaces, no trailing spaces, one `\n` after every line.
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]]
    /// Columns (by index) that are left-aligned besides the first.
    public var leftAligned: Set<Int>

    public init(header: [String], rows: [[String]] = [], leftAligned: Set<Int> = []) {
        self.header = header
        self.rows = rows
        self.leftAligned = leftAligned
    }

    public mutating func append(_ row: [String]) { rows.append(row) }

    public var text: String {
        let all = [header] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in all {
            var cells: [String] = []
            for i in 0..<columns {
                let cell = i < row.count ? row[i] : ""
                let fill = String(repeating: " ", count: widths[i] - cell.count)
                cells.append(i == 0 || leftAligned.contains(i) ? cell + fill : fill + cell)
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}

/// A number with two decimals ("12.50"), "-" for `nil`.
func fixed2(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "-" }

/// A CSV field, quoted (with doubled quotes) when it holds a comma, a quote or a line break.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// A CSV line from fields (quoted as needed), with a trailing `\n`.
func csvLine(_ fields: [String]) -> String { fields.map(csvField).joined(separator: ",") + "\n" }

/// The JSON every memo-infer report prints: pretty, sorted snake_case keys, numbers rounded to
/// `jsonDecimals` places (so `23.55`, never `23.549999999999997`; the tables show fewer), a
/// trailing newline. Undefined values are `null`: the report structs give such fields an
/// optional type and encode it explicitly (`encodeNil`), so the key is always there.
/// - Throws: `EncodingError` for a NaN or infinite number.
func prettyJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let object = try JSONSerialization.jsonObject(with: encoder.encode(value), options: [.fragmentsAllowed])
    let data = try JSONSerialization.data(withJSONObject: roundedJSON(object),
                                          options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    return String(decoding: data, as: UTF8.self) + "\n"
}

/// A report field that is `null` in JSON when undefined, rather than left out.
@propertyWrapper
struct Nullable<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

/// Decimal places of the numbers in JSON reports: 6, the probabilities' precision.
let jsonDecimals = 6

/// `object` with every non-integral number rounded to `jsonDecimals` places.
private func roundedJSON(_ object: Any) -> Any {
    switch object {
    case let d as [String: Any]: return d.mapValues(roundedJSON)
    case let a as [Any]: return a.map(roundedJSON)
    case let n as NSNumber:  // booleans are 0 or 1: integral, left as they are
        let v = n.doubleValue
        guard v.isFinite, v != v.rounded() else { return n }
        let scale = pow(10.0, Double(jsonDecimals))
        return NSDecimalNumber(string: String(format: "%.\(jsonDecimals)f", (v * scale).rounded() / scale))
    default: return object
    }
}

/// A head's evaluation as reports print it: old-class accuracy is `null` at stage 0, where no
/// class is old (the stored evaluation keeps 0 there, as PyCIL does).
struct HeadEvaluationOutput: Encodable {
    let head: HeadEvaluation

    enum Keys: String, CodingKey { case top1, top5, perTask, groupKeys, groupAccuracies, old, new }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(head.top1, forKey: .top1)
        try c.encode(head.top5, forKey: .top5)
        try c.encode(head.perTask, forKey: .perTask)
        try c.encode(head.groupKeys, forKey: .groupKeys)
        try c.encode(head.groupAccuracies, forKey: .groupAccuracies)
        if head.perTask.count > 1 { try c.encode(head.old, forKey: .old) } else { try c.encodeNil(forKey: .old) }
        try c.encode(head.new, forKey: .new)
    }
}

/// Both heads of a stage evaluation; `nme` is `null` when the checkpoint has no class means.
struct StageEvaluationOutput: Encodable {
    let evaluation: StageEvaluation

    enum Keys: String, CodingKey { case cnn, nme }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(HeadEvaluationOutput(head: evaluation.cnn), forKey: .cnn)
        if let nme = evaluation.nme { try c.encode(HeadEvaluationOutput(head: nme), forKey: .nme) } else { try c.encodeNil(forKey: .nme) }
    }
}

extension Checkpoint {
    /// The name of model output `label`: `dataset/class_names[class_order[label]]`.
    public func className(label: Int) -> String { classNames[classOrder[label]] }

    /// The first label of each task after the first (where a new task's classes start).
    public var taskBoundaries: [Int] {
        var start = 0
        return taskSizes.dropLast().map { start += $0; return start }
    }

    /// "0-1" style label range of task `t`.
    func classRange(task t: Int) -> String {
        ClassIncrementalSplit.text(ClassIncrementalSplit.classRanges(taskSizes: taskSizes)[t])
    }
}
