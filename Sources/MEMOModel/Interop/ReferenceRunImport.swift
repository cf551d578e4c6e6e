import Foundation

/// A folder of stages saved from the reference's own training by `scripts/reference_saver.py`
/// (`stage-XX.pt` or `.safetensors`, the AdaptiveNet state_dict, beside `stage-XX.json`, its
/// sidecar) imported as one memo-swift run (`memo-infer import --run`): each stage goes through
/// `CheckpointImport` with the sidecar's configuration, class order and exemplar list, and its
/// computed evaluation is compared with the accuracies the reference logged.
public enum ReferenceRunImport {
    /// The sidecar's format tag.
    public static let format = "memo-reference-saver/1"

    /// What `scripts/reference_saver.py` writes beside each state_dict (the fields read here).
    public struct Sidecar: Decodable, Sendable {
        public struct Head: Decodable, Sendable {
            public var top1: Double
            public var topk: Double
        }
        public struct Accuracy: Decodable, Sendable {
            public var cnn: Head
            public var nme: Head?
        }
        public var format: String
        public var stage: Int
        public var dataset: String
        public var trainPerClass: Int?
        public var testPerClass: Int?
        public var convnetType: String
        public var initCls: Int
        public var increment: Int
        public var memorySize: Int
        public var fixedMemory: Bool
        public var memoryPerClass: Int?
        public var trainBase: Bool
        public var trainAdaptive: Bool
        public var seed: Int
        public var taskSizes: [Int]
        public var classOrder: [Int]
        public var exemplarIndices: [Int]
        public var exemplarLabels: [Int]
        public var accuracy: Accuracy

        enum CodingKeys: String, CodingKey {
            case format, stage, dataset, trainPerClass = "train_per_class", testPerClass = "test_per_class"
            case convnetType = "convnet_type", initCls = "init_cls", increment, memorySize = "memory_size"
            case fixedMemory = "fixed_memory", memoryPerClass = "memory_per_class", trainBase = "train_base"
            case trainAdaptive = "train_adaptive", seed, taskSizes = "task_sizes", classOrder = "class_order"
            case exemplarIndices = "exemplar_indices", exemplarLabels = "exemplar_labels", accuracy
        }

        /// The accuracies the reference logged.
        public var logged: LoggedAccuracy {
            LoggedAccuracy(cnnTop1: accuracy.cnn.top1, cnnTopK: accuracy.cnn.topk, nmeTop1: accuracy.nme?.top1, nmeTopK: accuracy.nme?.topk)
        }

        /// Reads and checks a sidecar; one-line errors naming the file.
        public static func read(path: String) throws -> Sidecar {
            func fail(_ problem: String) -> StateDictImportError { StateDictImportError(path: path, problem: problem) }
            guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read the sidecar") }
            let s: Sidecar
            do { s = try JSONDecoder().decode(Sidecar.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
                throw fail("not a reference saver sidecar: no \(key.stringValue)")
            } catch let DecodingError.typeMismatch(_, context) {
                throw fail("not a reference saver sidecar: \(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
            } catch {
                throw fail("not a JSON reference saver sidecar")
            }
            guard s.format == ReferenceRunImport.format else { throw fail("format \(s.format), expected \(ReferenceRunImport.format)") }
            guard s.taskSizes.count == s.stage + 1 else { throw fail("stage \(s.stage) with task sizes \(s.taskSizes)") }
            return s
        }
    }

    /// One imported stage.
    public struct Stage {
        public var checkpoint: Checkpoint
        public var output: String
        public var logged: LoggedAccuracy
        /// Where the computed evaluation differs from the logged accuracies (2 decimals); empty when it reproduces them.
        public var differences: [String]
    }

    /// The (state_dict, sidecar) paths of stages 0, 1, ... in `directory`; throws when there are
    /// none, a stage is missing, or one has no sidecar or two state_dicts.
    public static func stageFiles(in directory: String) throws -> [(stateDict: String, sidecar: String)] {
        func fail(_ problem: String) -> StateDictImportError { StateDictImportError(path: directory, problem: problem) }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { throw fail("cannot read the folder") }
        var byStage: [Int: [String]] = [:]
        for name in names where name.hasPrefix("stage-") {
            let base = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
            guard ["pt", "pth", "safetensors"].contains(ext), let k = Int(base.dropFirst("stage-".count)), k >= 0 else { continue }
            byStage[k, default: []].append(name)
        }
        guard !byStage.isEmpty else { throw fail("no stage-XX.pt or stage-XX.safetensors (a folder written by scripts/reference_saver.py)") }
        return try (0...byStage.keys.max()!).map { k in
            let name = String(format: "stage-%02d", k)
            guard let files = byStage[k] else { throw fail("\(name) is missing (the stages are \(byStage.keys.sorted()))") }
            guard files.count == 1 else { throw fail("two state_dicts for \(name): \(files.sorted().joined(separator: ", "))") }
            let sidecar = directory + "/" + name + ".json"
            guard FileManager.default.fileExists(atPath: sidecar) else { throw fail("\(files[0]) has no sidecar \(name).json") }
            return (directory + "/" + files[0], sidecar)
        }
    }

    /// The memo-swift configuration a sidecar describes; `dataDir` and `threads` are the caller's.
    public static func config(_ s: Sidecar, path: String, dataDir: String?, threads: Int?) throws -> MEMOConfig {
        func fail(_ problem: String) -> StateDictImportError { StateDictImportError(path: path, problem: problem) }
        guard let kind = DatasetKind(rawValue: s.dataset), kind != .png else { throw fail("dataset \(s.dataset) is not one memo-swift reads") }
        guard let backbone = Backbone(rawValue: s.convnetType) else { throw fail("convnet_type \(s.convnetType) is not one memo-swift builds") }
        var c = MEMOConfig()
        c.dataset = kind
        c.dataDir = dataDir
        c.trainPerClass = s.trainPerClass
        c.testPerClass = s.testPerClass
        let classes = s.classOrder.count
        if s.classOrder == ClassOrder.pycil(classCount: classes) {
            c.classOrder = .pycil
        } else if s.classOrder == ClassOrder.identity(classes) {
            c.classOrder = .identity
        } else {
            throw fail("class order \(s.classOrder) is neither PyCIL's seed-1993 order nor id order")
        }
        c.backbone = backbone
        c.initCls = s.initCls
        c.increment = s.increment
        c.memorySize = s.memorySize
        c.fixedMemory = s.fixedMemory
        if let m = s.memoryPerClass { c.memoryPerClass = m }
        c.trainBase = s.trainBase
        c.trainAdaptive = s.trainAdaptive
        c.seed = s.seed
        c.threads = threads
        return c
    }

    /// Imports every stage of `directory` into `output` (a folder without stages; made if missing)
    /// and compares each computed evaluation with the logged one. `log` receives progress.
    public static func run(directory: String, output: String, dataDir: String?, threads: Int?,
                           log: (String) -> Void = { _ in }) throws -> [Stage] {
        let files = try stageFiles(in: directory)
        let sidecars = try files.map { try Sidecar.read(path: $0.sidecar) }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDir) {
            guard isDir.boolValue else { throw StateDictImportError(path: output, problem: "is a file, expected a run folder") }
            let existing = ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []).filter(Checkpoint.isStageFileName)
            guard existing.isEmpty else { throw StateDictImportError(path: output, problem: "already holds stages; import into an empty folder") }
        } else {
            do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false) } catch {
                throw StateDictImportError(path: output, problem: "cannot make the folder (does its parent exist?)")
            }
        }
        var stages: [Stage] = []
        for (k, f) in files.enumerated() {
            let sidecar = sidecars[k]
            guard sidecar.stage == k else { throw StateDictImportError(path: f.sidecar, problem: "says stage \(sidecar.stage), its name stage \(k)") }
            let config = try config(sidecar, path: f.sidecar, dataDir: dataDir, threads: threads)
            let out = output + "/" + Checkpoint.fileName(stage: k)
            let request = CheckpointImport.Request(
                source: f.stateDict, output: out, config: config, taskSizes: sidecar.taskSizes,
                exemplars: .init(indices: sidecar.exemplarIndices, labels: sidecar.exemplarLabels, file: f.sidecar, kind: "sidecar"),
                logged: sidecar.logged)
            let c = try CheckpointImport.run(request, log: log)
            stages.append(Stage(checkpoint: c, output: out, logged: sidecar.logged, differences: sidecar.logged.differences(from: c.evaluation)))
        }
        return stages
    }
}
