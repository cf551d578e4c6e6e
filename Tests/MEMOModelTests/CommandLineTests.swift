import Foundation
import Testing
@testable import MEMOModel
import MEMOCommandLine

/// Both tools, run as a user runs them: the same rule and message for the same flag, usage
/// errors (an unknown flag, a value outside its range) exit 2 with the rule on stderr and touch
/// nothing; negative numbers are read as values, not as flags.
@Suite(.enabled(if: Executables.path("memo-train") != nil && Executables.path("memo-infer") != nil,
                "memo-train and memo-infer are not built next to the tests"))
struct CommandLineTests {
    /// Runs a tool and checks exit 2 with `message` as the first line of stderr and nothing on stdout.
    func expectUsageError(_ tool: String, _ arguments: [String], _ message: String,
                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Executables.execute(tool, arguments)
        #expect(r.status == 2, "\(tool) \(arguments.joined(separator: " ")): exit \(r.status)", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").first.map(String.init) == message,
                "\(tool) \(arguments.joined(separator: " ")): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    /// `--class-order` takes the same values in memo-train and memo-infer import: pycil, none or
    /// a file; memo-train's `--no-shuffle` is `--class-order none`, and the two exclude each other.
    @Test func classOrderHasOneVocabulary() throws {
        #expect(ClassOrderChoice(argument: "pycil") == .pycil)
        #expect(ClassOrderChoice(argument: "none") == .identity)
        #expect(ClassOrderChoice(argument: "order.txt") == .file("order.txt"))
        #expect(ClassOrderChoice(argument: "") == nil)
        let out = NSTemporaryDirectory() + "memo-cli-\(UUID().uuidString)"
        try expectUsageError("memo-train", ["--dataset", "fashion-mnist", "--no-shuffle", "--class-order", "none", "--out", out],
                             "Error: --no-shuffle and --class-order exclude each other")
        #expect(!FileManager.default.fileExists(atPath: out))
        for tool in [["memo-train", "train"], ["memo-infer", "import"]] {
            let help = try Executables.execute(tool[0], [tool[1], "--help"]).stdout
            #expect(help.contains("--class-order <pycil|none|file>"), "\(tool.joined(separator: " ")) --help")
        }
    }

    @Test func outOfRangeValuesAreUsageErrorsNamingTheFlag() throws {
        let out = NSTemporaryDirectory() + "memo-cli-\(UUID().uuidString)"
        // Before: a crash after loading the data (try! on an empty evaluation), signal 4.
        try expectUsageError("memo-train", ["--dataset", "fashion-mnist", "--test-per-class", "0", "--out", out],
                             "Error: --test-per-class 0: must be 1 or more")
        // Before: signal 11 in the benchmark.
        try expectUsageError("memo-train", ["bench", "--ks", "0"], "Error: --ks 0: each number of specialized blocks must be 1 or more")
        // Before: "Missing value for '--epochs <epochs>'".
        try expectUsageError("memo-train", ["--epochs", "-1", "--out", out],
                             "Error: --epochs -1: must be 0 or more (0: the stages are grown, aligned and evaluated, not trained)")
        // Before: -ms quietly replaced by the budget's count.
        try expectUsageError("memo-train", ["-ms", "20", "--memory-budget", "4.77MiB", "--out", out],
                             "Error: -ms 20: cannot be given with --memory-budget 4.77MiB, which derives it")
        try expectUsageError("memo-train", ["--milestones", "80,x", "--out", out],
                             "Error: The value '80,x' is invalid for '--milestones <milestones>'")
        try expectUsageError("memo-train", ["-net", "resnet1000", "--out", out],
                             "Error: The value 'resnet1000' is invalid for '-net <convnet_type>'. Please provide one of the following:")
        let nets = try Executables.execute("memo-train", ["-net", "resnet1000", "--out", out]).stderr
        for net in Backbone.allCases { #expect(nets.contains("  - \(net.rawValue)\n"), "the -net error lists \(net.rawValue)") }
        // The same rule in both tools (before: memo-train took --threads 0).
        try expectUsageError("memo-train", ["--threads", "0", "--out", out], "Error: --threads 0: must be 1 or more")
        try expectUsageError("memo-infer", ["classify", "--checkpoint", "x.h5", "--threads", "0", "a.png"], "Error: --threads 0: must be 1 or more")
        try expectUsageError("memo-infer", ["classify", "--checkpoint", "x.h5", "--top", "-1", "a.png"], "Error: --top -1: must be 1 or more")
        // Unknown flags exit 2 in both (before: 64 in memo-train).
        #expect(try Executables.execute("memo-train", ["--bogus"]).status == 2)
        #expect(try Executables.execute("memo-infer", ["memory", "--bogus"]).status == 2)
        #expect(!FileManager.default.fileExists(atPath: out), "a refused command created its run folder")
    }

    @Test func memoInferRulesAndOutputPaths() throws {
        // Before: -init 150 exited 1 after the work, -init 0 exited 2.
        try expectUsageError("memo-infer", ["budget", "-init", "150"], "Error: -init 150: must be at most the dataset's 100 classes (--classes)")
        try expectUsageError("memo-infer", ["budget", "-init", "0"], "Error: -init 0: must be 1 or more")
        // Before: evaluate --help offered csv, which then failed.
        let help = try Executables.execute("memo-infer", ["evaluate", "--help"])
        #expect(help.status == 0 && help.stdout.contains("(values: table, json") && !help.stdout.contains("csv"))
        try expectUsageError("memo-infer", ["evaluate", "--checkpoint", "x.h5", "--format", "csv"],
                             "Error: The value 'csv' is invalid for '--format <format>'. Please provide one of 'table' and 'json'.")
        // Before: the whole table was printed, then the PNG write failed.
        let run = try CheckpointSurgery.untrainedRun.get()
        let missing = "/nonexistent-\(UUID().uuidString)"
        let confusion = try Executables.execute("memo-infer", ["confusion", "--checkpoint", run + "/stage-01.h5", "--png", missing + "/c.png"])
        #expect(confusion.status == 1 && confusion.stdout.isEmpty)
        #expect(confusion.stderr == "memo-infer: error: --png \(missing)/c.png: cannot write: no such folder \(missing)\n")
        let forgetting = try Executables.execute("memo-infer", ["forgetting", run, "--plot", NSTemporaryDirectory()])
        #expect(forgetting.status == 1 && forgetting.stdout.isEmpty && forgetting.stderr.hasSuffix("cannot write: it is a folder\n"))
    }

    @Test func badInputExitsOneWithOneLine() throws {
        let missing = NSTemporaryDirectory() + "memo-cli-missing-\(UUID().uuidString)"
        let r = try Executables.execute("memo-train", ["--resume", missing])
        #expect(r.status == 1 && r.stderr == "memo-train: error: \(missing): no such run folder\n")
    }
}
