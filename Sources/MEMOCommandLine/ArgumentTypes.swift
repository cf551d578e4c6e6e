import ArgumentParser
import MEMOModel

// The library's typed values as command-line arguments, one spelling for both tools. Each
// accepts what the library's own parser accepts and lists the allowed values in `--help`.

extension Backbone: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension DatasetKind: ExpressibleByArgument {
    public init?(argument: String) {
        guard let kind = try? DatasetKind.parse(argument) else { return nil }
        self = kind
    }
}

extension ClassOrderChoice: ExpressibleByArgument {
    public init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        self.init(text: argument)
    }
}

extension MEMOConfig.Scheduler: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}
extension MEMOConfig.ExperimentProtocol: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}
extension BudgetProtocol: ExpressibleByArgument {}

/// `--threads N`, the same rule in both tools.
public struct ThreadsOption: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("oneDNN threads, 1 or more (default: all cores; classify: one thread for fewer than 32 images).", valueName: "n"))
    public var threads: Int?

    public init() {}

    public func validate() throws {
        if let threads, threads < 1 { throw ValidationError("\(ConfigError(flag: "--threads", value: "\(threads)", allowed: "must be 1 or more"))") }
    }
}

/// `--precision fp32|bf16`, the same flag in memo-train and its benchmark.
public struct PrecisionOption: ParsableArguments {
    @Option(help: ArgumentHelp("Activations and convolutions in fp32 (default) or bf16 (float32 weights, optimizer, loss and batch-norm statistics; needs a CPU with avx512_bf16 or AMX).",
                               valueName: "fp32|bf16"))
    public var precision: Precision?

    public init() {}
}

/// `--image-cache SIZE`, the same rule in both tools: the bound of an ImageNet folder's
/// decoded-image cache, a byte size as `--memory-budget` reads it (512MiB, 2GiB, 0 for none).
public struct ImageCacheOption: ParsableArguments {
    @Option(name: .customLong("image-cache"), help: ArgumentHelp("Decoded-image cache of an imagenet100 folder, e.g. 2GiB; 0: none (default \(DecodedImageCache.defaultByteLimit >> 20)MiB).", valueName: "size"))
    public var text: String?

    public init() {}

    /// The bound in bytes, nil when not given.
    public var bytes: Int? {
        get throws {
            guard let text else { return nil }
            do { return try parseByteSize(text) } catch {
                throw ValidationError("\(ConfigError(flag: "--image-cache", value: text, allowed: "is not a byte size (e.g. 512MiB, 2GiB, 0)"))")
            }
        }
    }

    public func validate() throws { _ = try bytes }
}

/// A comma-separated list of integers (`--milestones 80,120,150`, `[80, 120]` also reads).
public struct IntList: ExpressibleByArgument, Sendable, CustomStringConvertible {
    public var values: [Int]

    public init(_ values: [Int]) { self.values = values }

    public init?(argument: String) {
        let parts = argument.split(whereSeparator: { ",[] ".contains($0) })
        let v = parts.compactMap { Int($0) }
        guard v.count == parts.count else { return nil }
        values = v
    }

    public var description: String { values.map(String.init).joined(separator: ",") }
}

/// `--format` of the reports that have no CSV form: only the values they accept are offered.
public enum TableOrJSON: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, json

    public var format: ReportFormat { self == .table ? .table : .json }
}
