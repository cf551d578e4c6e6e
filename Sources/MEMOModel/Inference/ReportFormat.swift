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

    public var description: String {
        switch self {
        case let .datasetMismatch(path, reason): return "\(path): \(reason)"
        case let .emptyRunFolder(path): return "\(path): no stage checkpoints (stage-00.h5, ...) in this folder"
        case let .noImages(path): return "\(path): folder holds no .png images"
        case let .missing(path, what): return "\(path): \(what)"
        case let .unsupportedFormat(report, format): return "\(report) has no \(format.rawValue) output"
        case let .cannotWrite(path, reason): return "\(path): cannot write: \(reason)"
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

/// Pretty-printed JSON with sorted keys and a trailing newline.
/// - Throws: `EncodingError` for a NaN or infinite number.
func prettyJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

extension Raster {
    /// The raster as an image for `writePNG`.
    public var rgbImage: RGBImage { RGBImage(width: width, height: height, pixels: pixels) }
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
