import Foundation
import Testing
@testable import MEMOModel

/// The PyTorch interop against fixtures written by `scripts/make_interop_fixtures.py`:
/// `interop_memo_resnet14_k3.safetensors.gz`, a state_dict torch saved (memo_resnet14_cifar, task
/// sizes [2, 2, 2], random weights, non-trivial BatchNorm statistics), and `interop.json`, with
/// fixed CIFAR- and Fashion-MNIST-shaped inputs, torch's logits and probabilities on them, and the
/// keys, shapes and dtypes of the reference's own `AdaptiveNet.state_dict()` for
/// memo_resnet14_cifar, memo_resnet32, memo_conv2 and memo_resnet18 after [2, 2, 2]
/// (`NetworkInteropTests` covers the last two).
@Suite(.serialized)
struct InteropTests {
    struct Case: Decodable {
        let shape: [Int]
        let images: [Int]
        let mean: [Float]
        let std: [Float]
        let logits: [[Double]]
        let probabilities: [[Double]]
    }
    /// Another network's torch outputs on a case's inputs.
    struct Outputs: Decodable {
        let logits: [[Double]]
        let probabilities: [[Double]]
    }
    /// Another network's task sizes and torch outputs on the cases' inputs.
    struct NetworkOutputs: Decodable {
        let task_sizes: [Int]
        let outputs: [String: Outputs]
    }
    struct Fixture: Decodable {
        let task_sizes: [Int]
        let cases: [String: Case]
        let expected_keys: [String: [[Key]]]
        let network_logits: [String: NetworkOutputs]
    }
    /// One element of an expected `[key, shape, dtype]` triple.
    enum Key: Decodable, Equatable {
        case text(String), shape([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .text(s) } else { self = .shape(try c.decode([Int].self)) }
        }
    }

    static func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "interop", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// The torch-written state_dict, unzipped into `dir`; returns its path.
    static func torchFile(in dir: String) throws -> String {
        try unzippedFixture("interop_memo_resnet14_k3.safetensors", into: dir + "/torch.safetensors")
    }

    /// The committed fixture `<name>.gz`, unzipped to `path`; returns `path`.
    static func unzippedFixture(_ name: String, into path: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "gz", subdirectory: "Fixtures"))
        try Data(try readGzipFile(url.path)).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Expected (key, shape, dtype) of a backbone, from the fixture.
    static func expected(_ fixture: Fixture, _ backbone: Backbone) throws -> [String: ([Int], String)] {
        var out: [String: ([Int], String)] = [:]
        for e in try #require(fixture.expected_keys[backbone.rawValue]) {
            guard e.count == 3, case let .text(k) = e[0], case let .shape(s) = e[1], case let .text(d) = e[2] else {
                Issue.record("bad fixture entry \(e)"); continue
            }
            out[k] = (s, d)
        }
        return out
    }

    static func execute(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Executables.execute("memo-infer", arguments)
    }

    // MARK: safetensors

    @Test func safeTensorsRoundTripsEveryDType() throws {
        var sd = StateDict(metadata: ["a \"quoted\" key": "value\nwith \u{1} control and ünïcode", "empty": ""])
        for (i, dtype) in StateDictDType.allCases.enumerated() {
            let shape = [2, i % 3 + 1]
            let n = shape.reduce(1, *) * dtype.size
            sd.tensors["t.\(dtype.rawValue)"] = StateDictTensor(dtype: dtype, shape: shape, bytes: (0..<n).map { UInt8(($0 * 37 + i) % 256) })
        }
        sd.tensors["scalar"] = StateDictTensor(int64Scalar: -5)
        sd.tensors["empty"] = StateDictTensor(dtype: .float32, shape: [0, 3], bytes: [])
        let bytes = SafeTensors.encode(sd)
        let headerLength = Int(SafeTensors.readUInt64(bytes, at: 0))
        #expect((8 + headerLength) % 8 == 0)
        let back = try SafeTensors.decode(bytes, path: "x.safetensors")
        #expect(back.tensors == sd.tensors && back.metadata == sd.metadata)
        #expect(back.tensors["scalar"]?.integerValues == [-5])
    }

    @Test func readsTheTorchWrittenFileWithTheReferenceKeys() throws {
        let dir = TinyRun.temporaryDirectory("interop-read")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Self.fixture()
        let sd = try SafeTensors.read(path: try Self.torchFile(in: dir))
        #expect(sd.metadata == ["made_by": "scripts/make_interop_fixtures.py"])
        let expected = try Self.expected(fixture, .memoResNet14)
        #expect(expected.count == 130)
        #expect(Set(sd.tensors.keys) == Set(expected.keys))
        for (k, t) in sd.tensors {
            #expect(expected[k]?.0 == t.shape && expected[k]?.1 == t.dtype.rawValue, "\(k)")
        }
    }

    /// The mapping's key list is the reference's, for every backbone family (the fixture holds the
    /// keys of the reference's own AdaptiveNet, built by the fixture script from ICLR23-MEMO): 130
    /// keys for memo_resnet14_cifar, 310 for memo_resnet32, 32 for memo_conv2 and 184 for
    /// memo_resnet18 at [2, 2, 2], num_batches_tracked included.
    @Test(arguments: [(Backbone.memoResNet14, 130), (.memoResNet32, 310), (.memoConv2, 32), (.memoResNet18, 184)])
    func expectedEntriesAreTheReferenceKeys(backbone: Backbone, count: Int) throws {
        let fixture = try Self.fixture()
        let expected = try Self.expected(fixture, backbone)
        let entries = try AdaptiveNetKeys.expectedEntries(backbone: backbone, taskSizes: fixture.task_sizes)
        #expect(entries.count == expected.count && expected.count == count)
        for e in entries {
            #expect(expected[e.key]?.0 == e.shape && expected[e.key]?.1 == e.dtype.rawValue, "\(e.key)")
        }
    }

    // MARK: torch -> memo-swift

    /// (a) The imported network's logits and probabilities equal torch's on the fixed inputs.
    @Test(arguments: ["cifar", "fashion_mnist"])
    func importedNetworkGivesTorchLogits(inputs: String) throws {
        let dir = TinyRun.temporaryDirectory("interop-logits")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Self.fixture()
        let c = try #require(fixture.cases[inputs])
        let sd = try SafeTensors.read(path: try Self.torchFile(in: dir))
        let tensors = try CheckpointImport.tensors(from: sd, backbone: .memoResNet14, taskSizes: fixture.task_sizes, path: "torch")
        let net = try Checkpoint.makeNetwork(backbone: .memoResNet14, taskSizes: fixture.task_sizes)
        for (name, p) in net.namedParameters() { p.value = try #require(tensors[name]) }
        try Self.expectTorchOutputs(net, inputs: c, torch: Outputs(logits: c.logits, probabilities: c.probabilities),
                                    what: "memo_resnet14_cifar \(inputs)")
    }

    /// A network's logits and probabilities on a case's inputs (memo-swift's inference pipeline,
    /// one thread) equal torch's: logits within 1e-4 of the largest, probabilities within 1e-4.
    static func expectTorchOutputs(_ net: MEMONetwork, inputs c: Case, torch: Outputs, what: String) throws {
        let set = ImageSet(pixels: c.images.map(UInt8.init), labels: [Int](repeating: 0, count: c.shape[0]),
                           height: c.shape[1], width: c.shape[2], channels: c.shape[3])
        let out = EngineThreads.with(1) { net.infer(set, indices: Array(0..<c.shape[0]), mean: c.mean, std: c.std) }
        let classes = net.classCount
        try #require(torch.logits.count == c.shape[0] && torch.logits.allSatisfy { $0.count == classes })
        let scale = torch.logits.flatMap { $0 }.map(abs).max() ?? 1
        var worst = 0.0, worstProbability = 0.0
        for r in 0..<c.shape[0] {
            let row = (0..<classes).map { Double(out.logits[r * classes + $0]) }
            let top = row.max()!
            let z = row.map { exp($0 - top) }.reduce(0, +)
            for j in 0..<classes {
                worst = max(worst, abs(row[j] - torch.logits[r][j]) / scale)
                worstProbability = max(worstProbability, abs(exp(row[j] - top) / z - torch.probabilities[r][j]))
            }
        }
        #expect(worst <= 1e-4, "\(what): largest logit difference \(worst) of the largest logit \(scale)")
        #expect(worstProbability <= 1e-4, "\(what): largest probability difference \(worstProbability)")
        print("interop \(what): logits within \(worst) of the largest (\(scale)), probabilities within \(worstProbability)")
    }

    /// (a) through the tools, and (b): `memo-infer import` of the torch file (three stages into one
    /// run folder, with the real Fashion-MNIST), classify's probabilities equal torch's; every
    /// subcommand reads the result; `export` gives the reference's keys and the same tensors back;
    /// importing the export again keeps its exemplars and reproduces its evaluation.
    @Test func importThenExportThroughTheTools() throws {
        let dir = TinyRun.temporaryDirectory("interop-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Self.fixture()
        let source = try Self.torchFile(in: dir)
        let full = try SafeTensors.read(path: source)
        let run = dir + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let common = ["--dataset", "fashion-mnist", "--train-per-class", "6", "--test-per-class", "3", "--class-order", "none",
                      "--convnet_type", "memo_resnet14_cifar", "-ms", "12", "--threads", "1"]
        for k in 1...3 {
            let file = dir + "/k\(k).safetensors"
            try SafeTensors.write(Self.truncated(full, blocks: k, taskSizes: fixture.task_sizes), to: file)
            let r = try Self.execute(["import", file, "-o", run + "/" + Checkpoint.fileName(stage: k - 1),
                                      "--task-sizes", Array(repeating: "2", count: k).joined(separator: ",")] + common)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let checkpoint = run + "/stage-02.h5"
        let c = try Checkpoint.read(checkpoint)
        #expect(c.importInfo == ImportInfo(sourceFile: "k3.safetensors", sourceFormat: "safetensors", exemplars: "herding",
                                           classMeans: "exemplars"))
        #expect(c.memory.indicesByClass.map(\.count) == [2, 2, 2, 2, 2, 2])

        // classify: probabilities of the Fashion-MNIST-shaped inputs.
        let fm = try #require(fixture.cases["fashion_mnist"])
        var pngs: [String] = []
        for i in 0..<fm.shape[0] {
            let gray = fm.images[(i * 784)..<((i + 1) * 784)].map(UInt8.init)
            pngs.append(dir + "/input-\(i).png")
            try writePNG(RGBImage(width: 28, height: 28, pixels: gray.flatMap { [$0, $0, $0] }), to: pngs[i])
        }
        let classified = try Self.execute(["classify", "--checkpoint", checkpoint, "--top", "6", "--format", "json", "--threads", "1"] + pngs)
        #expect(classified.status == 0, "\(classified.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(classified.stdout.utf8)) as? [String: Any])
        let images = try #require(json["images"] as? [[String: Any]])
        var worst = 0.0
        for (i, image) in images.enumerated() {
            for p in try #require(image["predictions"] as? [[String: Any]]) {
                let label = try #require(p["label"] as? Int), probability = try #require(p["probability"] as? Double)
                worst = max(worst, abs(probability - fm.probabilities[i][label]))
            }
        }
        #expect(images.count == 4 && worst <= 1e-4, "largest probability difference \(worst)")

        // Every subcommand reads the imported stages.
        for arguments in [["evaluate", "--checkpoint", checkpoint, "--threads", "1"], ["forgetting", run], ["confusion", "--checkpoint", checkpoint],
                          ["memory", run], ["inspect", "--checkpoint", checkpoint]] {
            let r = try Self.execute(arguments)
            #expect(r.status == 0, "\(arguments[0]): \(r.stderr)")
            if arguments[0] == "evaluate" { #expect(r.stdout.contains("stored evaluation: identical"), "\(r.stdout)") }
            if arguments[0] == "inspect" { #expect(r.stdout.contains("imported: from k3.safetensors (safetensors); exemplars by herding")) }
        }

        // (b) export: the reference's keys, shapes and dtypes; the same float32 tensors back.
        let exported = dir + "/export.safetensors"
        let e = try Self.execute(["export", "--checkpoint", checkpoint, "-o", exported])
        #expect(e.status == 0, "\(e.stderr)")
        let back = try SafeTensors.read(path: exported)
        let expected = try Self.expected(fixture, .memoResNet14)
        let network = back.tensors.filter { !$0.key.hasPrefix("memo_swift.") }
        #expect(Set(network.keys) == Set(expected.keys))
        for (k, t) in network {
            #expect(expected[k]?.0 == t.shape && expected[k]?.1 == t.dtype.rawValue, "\(k)")
            if t.dtype == .float32 { #expect(t == full.tensors[k], "\(k) changed") } else { #expect(t.integerValues == [0], "\(k)") }
        }
        #expect(Set(back.tensors.keys.filter { $0.hasPrefix("memo_swift.") })
            == ["memo_swift.exemplar_images", "memo_swift.exemplar_labels", "memo_swift.exemplar_indices", "memo_swift.class_means"])
        #expect(back.tensors["memo_swift.exemplar_images"]?.shape == [12, 28, 28, 1])
        #expect(back.metadata["task_sizes"] == "[2,2,2]" && back.metadata["convnet_type"] == "\"memo_resnet14_cifar\"")
        #expect(back.metadata["format"] == "\"memo-swift-adaptivenet\"" && back.metadata["source_checkpoint"] == "\"stage-02.h5\"")

        // The export imported again: its exemplars are kept, the evaluation is the same.
        try FileManager.default.createDirectory(atPath: dir + "/again", withIntermediateDirectories: true)
        let again = try Self.execute(["import", exported, "-o", dir + "/again/stage-02.h5", "--task-sizes", "2,2,2"] + common)
        #expect(again.status == 0, "\(again.stderr)")
        let d = try Checkpoint.read(dir + "/again/stage-02.h5")
        #expect(d.importInfo?.exemplars == "export" && d.memory == c.memory && d.evaluation == c.evaluation)
        #expect(d.tensors == c.tensors)
        // With another training subset the listed exemplars do not fit: a note, and herding.
        let other = try Self.execute(["import", exported, "-o", dir + "/again/stage-02.h5", "--task-sizes", "2,2,2"]
            + common.map { $0 == "6" ? "5" : $0 })
        #expect(other.status == 0 && other.stderr.contains("note: ") && other.stderr.contains("its exemplars are not used"), "\(other.stderr)")
        #expect(try Checkpoint.read(dir + "/again/stage-02.h5").importInfo?.exemplars == "herding")
    }

    /// A torch.save file (stage 0 of the fixture's state_dict, nested under `model_state_dict` as
    /// the reference saves models) reads through `StateDictFile` to the same tensors and imports.
    @Test func importsATorchSaveFile() throws {
        let dir = TinyRun.temporaryDirectory("interop-pt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Self.fixture()
        let url = try #require(Bundle.module.url(forResource: "interop_memo_resnet14_k1.pt", withExtension: "gz", subdirectory: "Fixtures"))
        let pt = dir + "/stage0.pt"
        try Data(try readGzipFile(url.path)).write(to: URL(fileURLWithPath: pt))
        let (sd, format) = try StateDictFile.readWithFormat(path: pt)
        #expect(format == .torchSave)
        let expected = try Self.truncated(try SafeTensors.read(path: try Self.torchFile(in: dir)), blocks: 1, taskSizes: fixture.task_sizes)
        #expect(Set(sd.tensors.keys) == Set(expected.tensors.keys))
        for (k, t) in expected.tensors where t.dtype == .float32 { #expect(sd.tensors[k] == t, "\(k)") }
        let r = try Self.execute(["import", pt, "-o", dir + "/stage-00.h5", "--task-sizes", "2", "--dataset", "fashion-mnist",
                                  "--train-per-class", "4", "--test-per-class", "2", "--class-order", "none",
                                  "--convnet_type", "memo_resnet14_cifar", "-ms", "20", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Checkpoint.read(dir + "/stage-00.h5").importInfo?.sourceFormat == "torch.save")
    }

    /// The state_dict of the first `blocks` stages of `full` (fc rows and columns cut, aux_fc of the
    /// last stage kept: every stage has the same size here).
    static func truncated(_ full: StateDict, blocks: Int, taskSizes: [Int]) throws -> StateDict {
        var out = StateDict()
        for (k, t) in full.tensors {
            if k.hasPrefix("AdaptiveExtractors."), let i = Int(k.split(separator: ".")[1]), i >= blocks { continue }
            if k == "fc.weight" {
                let rows = taskSizes.prefix(blocks).reduce(0, +), cols = 64 * blocks
                let v = try #require(t.floatValues)
                let cut = (0..<rows).flatMap { r in v[(r * t.shape[1])..<(r * t.shape[1] + cols)] }
                out.tensors[k] = StateDictTensor(float32: Array(cut), shape: [rows, cols])
            } else if k == "fc.bias" {
                let rows = taskSizes.prefix(blocks).reduce(0, +)
                out.tensors[k] = StateDictTensor(float32: Array(try #require(t.floatValues).prefix(rows)), shape: [rows])
            } else {
                out.tensors[k] = t
            }
        }
        return out
    }

    // MARK: malformed input

    /// A small valid file: two tensors and metadata.
    static func smallFile() -> [UInt8] {
        SafeTensors.encode(StateDict(tensors: ["a.weight": StateDictTensor(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3]),
                                               "a.count": StateDictTensor(int64Scalar: 7)],
                                     metadata: ["k": "v"]))
    }

    /// A file with the given header text and data bytes.
    static func file(header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
    }

    static func message(_ bytes: [UInt8]) -> String? {
        do { _ = try SafeTensors.decode(bytes, path: "bad.safetensors"); return nil } catch { return "\(error)" }
    }

    @Test func malformedFilesAreOneLineErrors() throws {
        let good = Self.smallFile()
        let prefix = "bad.safetensors: not a valid safetensors file: "
        #expect(Self.message(Array(good.prefix(5))) == prefix + "5 bytes, shorter than the 8-byte header length")
        #expect(Self.message(Array(good.prefix(40)))?.hasPrefix(prefix + "header length") == true)
        #expect(Self.message(Array(good.dropLast(3))) != nil)
        var huge = good
        huge.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x40])
        #expect(Self.message(huge) == prefix + "header length 4611686018427387904 exceeds the \(good.count - 8) bytes after the length field (truncated file?)")
        let data = [UInt8](repeating: 0, count: 16)
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#, data: data))
            == prefix + "tensor 'b': data_offsets [4, 12] overlap another tensor's bytes")
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: data))
            == prefix + "data bytes 8..<16 belong to no tensor")
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}"#, data: data))?
            .hasPrefix(prefix + "tensor 'a': unknown dtype 'F8_E4M3'") == true)
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: data))
            == prefix + "tensor 'a': shape [3] of F32 needs 12 bytes, data_offsets give 16")
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#, data: data))
            == prefix + "tensor 'a': shape [4294967296, 4294967296] is larger than the file")
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: data))?
            .contains("duplicate key 'a'") == true)
        #expect(Self.message(Self.file(header: #"{"a":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}}"#, data: data))
            == prefix + "tensor 'a': shape is not a list of sizes")
        #expect(Self.message(Self.file(header: String(repeating: "[", count: 100), data: [])) == prefix + "the header is not a JSON object")
        #expect(Self.message(Self.file(header: "{" + String(repeating: "[", count: 100), data: []))?.contains("JSON") == true)
        #expect(Self.message(Self.file(header: #"{"__metadata__":{"k":1}}"#, data: [])) == prefix + "__metadata__ entry 'k' is not a string")
    }

    /// Wrong content for the network: a missing or unexpected key, a wrong shape or dtype, each
    /// named; a DataParallel `module.` prefix is accepted.
    @Test func stateDictsThatDoNotFitTheNetworkAreNamed() throws {
        let dir = TinyRun.temporaryDirectory("interop-fit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sizes = [2, 2, 2]
        let full = try SafeTensors.read(path: try Self.torchFile(in: dir))
        func problem(_ edit: (inout StateDict) -> Void) -> String? {
            var sd = full
            edit(&sd)
            do { _ = try CheckpointImport.tensors(from: sd, backbone: .memoResNet14, taskSizes: sizes, path: "x.safetensors"); return nil } catch {
                return "\(error)"
            }
        }
        #expect(problem { _ in } == nil)
        #expect(problem { sd in sd.tensors = Dictionary(uniqueKeysWithValues: sd.tensors.map { ("module." + $0.key, $0.value) }) } == nil)
        #expect(problem { sd in sd.tensors = sd.tensors.filter { !$0.key.hasSuffix("num_batches_tracked") } } == nil)
        #expect(problem { sd in sd.tensors["fc.bias"] = nil }
            == "x.safetensors: does not match memo_resnet14_cifar with task sizes [2, 2, 2]: missing fc.bias")
        #expect(problem { sd in sd.tensors["extra.weight"] = StateDictTensor(float32: [1], shape: [1]) }
            == "x.safetensors: does not match memo_resnet14_cifar with task sizes [2, 2, 2]: unexpected extra.weight")
        #expect(problem { sd in sd.tensors["fc.weight"] = StateDictTensor(float32: [Float](repeating: 0, count: 6 * 128), shape: [6, 128]) }
            == "x.safetensors: fc.weight has shape [6, 128], memo_resnet14_cifar with task sizes [2, 2, 2] needs [6, 192]")
        #expect(problem { sd in sd.tensors["fc.bias"] = StateDictTensor(dtype: .int64, shape: [6], bytes: [UInt8](repeating: 0, count: 48)) }
            == "x.safetensors: fc.bias is I64, expected a floating-point tensor")
        #expect(problem { sd in sd.tensors["aux_fc.bias"] = StateDictTensor(float32: [0, .nan, 0], shape: [3]) }
            == "x.safetensors: aux_fc.bias holds values that are not finite")
        // float64 and float16 weights are converted.
        #expect(problem { sd in
            let v = sd.tensors["fc.bias"]!.floatValues!
            sd.tensors["fc.bias"] = StateDictTensor(dtype: .float16, shape: [6], bytes: v.flatMap { f -> [UInt8] in
                let b = Float16(f).bitPattern; return [UInt8(b & 0xFF), UInt8(b >> 8)] })
        } == nil)
    }

    /// (c) through the tool: each malformed file is one line on stderr and exit status 1.
    @Test func importRefusesMalformedFilesWithExitOne() throws {
        let dir = TinyRun.temporaryDirectory("interop-cli-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try Self.torchFile(in: dir)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        var full = try SafeTensors.read(path: source)
        var bad: [(String, [UInt8], String)] = [("truncated", Array(good.prefix(good.count / 2)), "outside the")]
        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        bad.append(("huge-header", huge, "exceeds the"))
        bad.append(("overlap", Self.file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                         data: [UInt8](repeating: 0, count: 12)), "overlap another tensor's bytes"))
        var wrongDType = full
        wrongDType.tensors["fc.weight"] = StateDictTensor(dtype: .int32, shape: [6, 192], bytes: [UInt8](repeating: 0, count: 6 * 192 * 4))
        bad.append(("wrong-dtype", SafeTensors.encode(wrongDType), "fc.weight is I32, expected a floating-point tensor"))
        full.tensors["TaskAgnosticExtractor.bn_1.running_var"] = nil
        bad.append(("missing-key", SafeTensors.encode(full), "missing TaskAgnosticExtractor.bn_1.running_var"))
        full.tensors["TaskAgnosticExtractor.bn_1.running_var"] = StateDictTensor(float32: [1, 1], shape: [2])
        bad.append(("wrong-shape", SafeTensors.encode(full), "TaskAgnosticExtractor.bn_1.running_var has shape [2]"))
        for (name, bytes, expected) in bad {
            let path = dir + "/\(name).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let r = try Self.execute(["import", path, "-o", dir + "/stage-02.h5", "--task-sizes", "2,2,2", "--dataset", "fashion-mnist",
                                      "--train-per-class", "2", "--test-per-class", "1", "--convnet_type", "memo_resnet14_cifar"])
            #expect(r.status == 1, "\(name): status \(r.status)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("memo-infer: error: \(path): ") && r.stderr.contains(expected),
                    "\(name): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/stage-02.h5"))
        // A damaged torch.save file goes to its reader, which names the file.
        let pt = dir + "/model.pt"
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 30)).write(to: URL(fileURLWithPath: pt))
        let r = try Self.execute(["import", pt, "-o", dir + "/stage-02.h5", "--task-sizes", "2,2,2", "--dataset", "fashion-mnist",
                                  "--convnet_type", "memo_resnet14_cifar"])
        #expect(r.status == 1 && r.stderr.hasPrefix("memo-infer: error: \(pt)") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        // Usage errors exit 2.
        let u = try Self.execute(["import", source, "-o", dir + "/stage-02.h5", "--task-sizes", "2,0", "--dataset", "fashion-mnist",
                                  "--convnet_type", "memo_resnet14_cifar"])
        #expect(u.status == 2, "\(u.stderr)")
    }

    /// Seeded mutations of a valid file: each loads or throws a one-line `SafeTensorsError` naming
    /// the file; nothing crashes. 3,000 inputs, about a second.
    @Test func fuzzedFilesNeverCrash() throws {
        let good = Self.smallFile()
        let headerEnd = 8 + Int(SafeTensors.readUInt64(good, at: 0))
        var mutator = FuzzTests.Mutator(rng: MEMORandom(seed: FuzzTests.seed))
        var loaded = 0, refused = 0
        for i in 0..<3000 {
            let (bytes, what) = mutator.mutate(good, preferred: [0..<headerEnd])
            do {
                let sd = try SafeTensors.decode(bytes, path: "fuzz.safetensors")
                // What loads is consistent: each tensor's bytes fit its shape.
                for t in sd.tensors.values { #expect(t.bytes.count == t.count * t.dtype.size) }
                loaded += 1
            } catch let e as SafeTensorsError {
                let text = "\(e)"
                #expect(!text.contains("\n") && text.hasPrefix("fuzz.safetensors: "), "input \(i) (\(what)): \(text)")
                refused += 1
            }
        }
        #expect(loaded + refused == 3000 && refused > 2000)
        print("safetensors fuzz: \(loaded) loaded, \(refused) refused")
    }
}
