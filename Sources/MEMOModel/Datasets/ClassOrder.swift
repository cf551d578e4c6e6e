import Foundation

/// The order in which classes arrive: `order[i]` is the original class id that becomes label `i`
/// (stage 0 learns `order[0..<init]`, and so on).
public enum ClassOrder {
    /// PyCIL's order: `np.random.seed(seed); np.random.permutation(classCount)` (the reference
    /// runs with `shuffle: true`, seed 1993). For CIFAR-100 it starts 68, 56, 78, 8, 23; for 10
    /// classes it is 4 2 7 6 0 3 5 8 9 1.
    public static func pycil(classCount: Int, seed: UInt32 = 1993) -> [Int] {
        var generator = NumpyLegacyRandom(seed: seed)
        return generator.permutation(classCount)
    }

    /// Classes in id order (the reference's `shuffle: false`).
    public static func identity(_ classCount: Int) -> [Int] { Array(0..<classCount) }

    /// Reads a user-given order: `classCount` distinct integers in `0..<classCount`, separated by
    /// white space or commas; `[`, `]` are ignored (a printed Python list works) and `#` starts a
    /// comment.
    public static func load(file: String, classCount: Int) throws -> [Int] {
        let data = try readDatasetFile(file)
        var order: [Int] = []
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            for token in content.split(whereSeparator: { $0.isWhitespace || $0 == "," || $0 == "[" || $0 == "]" }) {
                guard let v = Int(token) else {
                    throw DatasetError.invalidClassOrder(path: file, problem: "'\(token)' is not an integer")
                }
                order.append(v)
            }
        }
        try validate(order, classCount: classCount, source: file)
        return order
    }

    /// Checks that `order` is a permutation of `0..<classCount`.
    public static func validate(_ order: [Int], classCount: Int, source: String) throws {
        guard order.count == classCount else {
            throw DatasetError.invalidClassOrder(path: source, problem: "\(order.count) entries, the dataset has "
                + "\(classCount) classes")
        }
        var seen = [Bool](repeating: false, count: classCount)
        for v in order {
            guard v >= 0, v < classCount else {
                throw DatasetError.invalidClassOrder(path: source, problem: "class \(v) is outside 0..<\(classCount)")
            }
            guard !seen[v] else { throw DatasetError.invalidClassOrder(path: source, problem: "class \(v) appears twice") }
            seen[v] = true
        }
    }
}

/// Which class order a run uses: PyCIL's permutation (the reference's `shuffle: true`), the
/// classes in id order (`--no-shuffle`), or a file. Stored in checkpoints as one string:
/// `"pycil"`, `"none"` or the file's path.
public enum ClassOrderChoice: Equatable, Sendable, Codable, CustomStringConvertible {
    case pycil
    case identity
    case file(String)

    public init(text: String) {
        switch text {
        case "pycil": self = .pycil
        case "none": self = .identity
        default: self = .file(text)
        }
    }

    public var description: String {
        switch self {
        case .pycil: return "pycil"
        case .identity: return "none"
        case let .file(path): return path
        }
    }

    /// The order for a dataset of `classCount` classes.
    public func resolve(classCount: Int) throws -> [Int] {
        switch self {
        case .pycil: return ClassOrder.pycil(classCount: classCount)
        case .identity: return ClassOrder.identity(classCount)
        case let .file(path): return try ClassOrder.load(file: path, classCount: classCount)
        }
    }

    public init(from decoder: Decoder) throws { self.init(text: try decoder.singleValueContainer().decode(String.self)) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
