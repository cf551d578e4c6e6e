import Foundation

/// Problems with a run folder itself (as opposed to one checkpoint in it, `CheckpointError`);
/// each names the path.
public enum RunFolderError: Error, CustomStringConvertible, Equatable {
    case noSuchFolder(path: String)
    case stageGap(path: String, expected: String)
    case wrongStage(path: String, stage: Int)
    case cannotRemoveTemporary(path: String, reason: String)
    case logNotWritable(path: String, reason: String)
    case cannotCreate(path: String, reason: String)
    case mixedRuns(first: String, other: String, differences: [String])

    public var description: String {
        switch self {
        case let .noSuchFolder(p): return "\(p): no such run folder"
        case let .stageGap(p, e): return "\(p): expected \(e) (stages must be consecutive)"
        case let .wrongStage(p, s): return "\(p): holds stage \(s)"
        case let .cannotRemoveTemporary(p, r): return "\(p): cannot remove a leftover temporary file: \(r)"
        case let .logNotWritable(p, r): return "\(p): cannot write the log file: \(r)"
        case let .cannotCreate(p, r): return "\(p): cannot create the run folder: \(r)"
        case let .mixedRuns(first, other, differences):
            return "\(other) and \(first) are stages of different runs (they differ in \(differences.joined(separator: ", "))); "
                + "a run folder holds the stages of one run"
        }
    }
}

/// A run folder: `stage-00.h5`, `stage-01.h5`, ... plus `train.log` and `curves.csv`.
public enum RunFolder {
    /// The checkpoints of consecutive finished stages, in order. Temporary files of an
    /// interrupted write (".stage-XX.h5.*.tmp") are ignored; a gap, a stage that does not load, or
    /// stages of different runs (another run id, or another configuration, dataset or class order
    /// in files written before run ids) are an error naming the files.
    public static func checkpoints(in dir: String, allowMissing: Bool = false) throws -> [Checkpoint] {
        let scan = try self.scan(dir, allowMissing: allowMissing)
        if let problem = scan.problem { throw problem }
        return scan.checkpoints
    }

    /// What a run folder holds up to its first problem.
    public struct Scan {
        /// The consecutive stages that load, from stage 0, before the problem.
        public var checkpoints: [Checkpoint]
        /// The stage files in the folder, sorted (including those after a problem).
        public var fileNames: [String]
        /// The first gap, unreadable stage or stage of another run; `nil` when all is well.
        public var problem: Error?
    }

    /// The stages of `dir` that load, up to the first problem, and that problem (a gap, a stage
    /// that does not load, a stage of another run): for reports that show what is there and mark
    /// the rest. Throws only if the folder itself is missing (and `allowMissing` is false) or
    /// cannot be listed.
    public static func scan(_ dir: String, allowMissing: Bool = false) throws -> Scan {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            if allowMissing { return Scan(checkpoints: [], fileNames: [], problem: nil) }
            throw RunFolderError.noSuchFolder(path: dir)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter(Checkpoint.isStageFileName).sorted()
        var out: [Checkpoint] = []
        for (i, name) in names.enumerated() {
            guard name == Checkpoint.fileName(stage: i) else {
                return Scan(checkpoints: out, fileNames: names,
                            problem: RunFolderError.stageGap(path: dir + "/" + name, expected: Checkpoint.fileName(stage: i)))
            }
            let c: Checkpoint
            do { c = try Checkpoint.read(dir + "/" + name) } catch { return Scan(checkpoints: out, fileNames: names, problem: error) }
            guard c.stage == i else {
                return Scan(checkpoints: out, fileNames: names, problem: RunFolderError.wrongStage(path: dir + "/" + name, stage: c.stage))
            }
            if let first = out.first {
                let differences = RunFolder.differences(first, c)
                if !differences.isEmpty {
                    return Scan(checkpoints: out, fileNames: names,
                                problem: RunFolderError.mixedRuns(first: dir + "/" + names[0], other: dir + "/" + name,
                                                                  differences: differences))
                }
            }
            out.append(c)
        }
        return Scan(checkpoints: out, fileNames: names, problem: nil)
    }

    /// Why two checkpoints cannot be stages of one run: their run ids, else the configuration
    /// fields a resume may not change, the dataset, the class order or the task sizes.
    static func differences(_ a: Checkpoint, _ b: Checkpoint) -> [String] {
        if let x = a.config.runID, let y = b.config.runID { return x == y ? [] : ["run id (\(x), \(y))"] }
        var out = a.config.differences(from: b.config).filter { !MEMOConfig.resumableFields.contains($0) && $0 != "run_id" }
        if a.datasetName != b.datasetName || a.classNames != b.classNames { out.append("dataset") }
        if a.classOrder != b.classOrder { out.append("class order") }
        if Array(b.taskSizes.prefix(a.taskSizes.count)) != a.taskSizes { out.append("task sizes") }
        return out
    }

    /// Deletes the temporary files interrupted checkpoint writes left in `dir` (see
    /// `writeAtomically`) and returns their names. Call it only when this process owns the
    /// folder (memo-train, before training in it): a concurrent writer's file looks the same.
    @discardableResult
    public static func removeInterruptedWrites(in dir: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { atomicWriteTarget(ofTemporary: $0).map(Checkpoint.isStageFileName) ?? false }.sorted()
        for name in names {
            do { try FileManager.default.removeItem(atPath: dir + "/" + name) } catch {
                throw RunFolderError.cannotRemoveTemporary(path: dir + "/" + name, reason: systemReason(error))
            }
        }
        return names
    }
}

/// Appends lines to the run's log file.
public final class RunLog {
    private let handle: FileHandle

    /// Opens `path` for appending, creating it if needed; throws naming the file if it cannot.
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw RunFolderError.logNotWritable(path: path, reason: String(cString: strerror(errno))) }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
    }

    public func write(_ line: String) {
        handle.write(Data((line + "\n").utf8))
    }

    deinit { try? handle.close() }
}

/// The PyCIL-style summary after each stage: CNN and NME top-1 curves, grouped accuracy, average
/// incremental accuracy, and the curves as CSV.
public struct RunSummary {
    public let results: [StageResult]

    public init(results: [StageResult]) { self.results = results }

    func fmt(_ v: [Double]) -> String { "[" + v.map { String(format: "%.2f", $0) }.joined(separator: ", ") + "]" }

    public var cnnCurve: [Double] { results.map { $0.evaluation.cnn.top1 } }
    public var nmeCurve: [Double] { results.map { $0.evaluation.nme?.top1 ?? .nan } }

    public var text: String {
        guard let last = results.last else { return "" }
        var s = "  CNN: \(last.evaluation.cnn.grouped.map { "\($0.key): \(String(format: "%.2f", $0.accuracy))" }.joined(separator: ", "))\n"
        if let nme = last.evaluation.nme {
            s += "  NME: \(nme.grouped.map { "\($0.key): \(String(format: "%.2f", $0.accuracy))" }.joined(separator: ", "))\n"
        }
        s += "  CNN top1 curve: \(fmt(cnnCurve))\n  CNN top5 curve: \(fmt(results.map { $0.evaluation.cnn.top5 }))\n"
        s += "  NME top1 curve: \(fmt(nmeCurve))\n  NME top5 curve: \(fmt(results.map { $0.evaluation.nme?.top5 ?? .nan }))\n"
        s += String(format: "  Average incremental accuracy: CNN %.2f, NME %.2f",
                    cnnCurve.reduce(0, +) / Double(cnnCurve.count), nmeCurve.reduce(0, +) / Double(nmeCurve.count))
        return s
    }

    public var csv: String {
        var s = "stage,classes,cnn_top1,cnn_top5,nme_top1,nme_top5,cnn_old,cnn_new\n"
        for r in results {
            let e = r.evaluation
            s += "\(r.stage),\(r.classesSeen),\(e.cnn.top1),\(e.cnn.top5),\(e.nme?.top1 ?? .nan),\(e.nme?.top5 ?? .nan),\(e.cnn.old),\(e.cnn.new)\n"
        }
        return s
    }
}
