import Foundation
import Testing
@testable import MEMOModel

/// Seeded mutation fuzzing of the readers that take files from outside: `readPNG(data:name:)`,
/// `Checkpoint.read`, `PyTorchFile.readStateDict` and the python-version CIFAR reader. Every mutated input must either load or throw a typed error
/// (`PNGError`; `CheckpointError` or `HDF5Error`) whose description is one line naming the file.
/// A crash would kill the test process; a hang is caught by a per-input time limit.
///
/// A checkpoint that loads must hold the unmutated file's data: every dataset is checksummed.
///
/// Short form by default (1000 PNG, 100 mutated and 200 bit-flipped checkpoint inputs, about 20 s
/// in debug; 1000 mutated .pt files, 2000 mutated state_dict pickles and 2000 mutated CIFAR
/// pickles, a few seconds). Long form:
/// `MEMO_FUZZ_ITERATIONS=10000 swift test --filter FuzzTests` (or scripts/fuzz.sh); the seed is
/// `MEMO_FUZZ_SEED` (default 2023). Each run prints its outcome counts.
@Suite(.serialized)
struct FuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seed = UInt64(environment["MEMO_FUZZ_SEED"] ?? "") ?? 2023
    static let longIterations = Int(environment["MEMO_FUZZ_ITERATIONS"] ?? "")
    /// Longest time one input may take before the test calls it a hang (debug build, busy machine).
    static let timeLimit = 10.0

    /// Byte-level mutations: truncation, bit flips, overwritten runs, inserted and deleted runs.
    struct Mutator {
        var rng: MEMORandom

        /// A position, half the time inside `preferred` ranges (when given): there the format's
        /// structure lives, so mutations reach the parser instead of only changing values.
        mutating func position(in count: Int, preferred: [Range<Int>]) -> Int {
            if !preferred.isEmpty, rng.below(2) == 0 {
                let r = preferred[rng.below(preferred.count)]
                if !r.isEmpty, r.upperBound <= count { return r.lowerBound + rng.below(r.count) }
            }
            return rng.below(max(count, 1))
        }

        mutating func runBytes(_ n: Int) -> [UInt8] {
            switch rng.below(4) {
            case 0: return [UInt8](repeating: 0, count: n)
            case 1: return [UInt8](repeating: 0xFF, count: n)
            default: return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
        }

        /// One or two mutations (truncation 1 in 8, bit flips 3 in 8, the others 1 in 8 each);
        /// returns the bytes and what was done.
        mutating func mutate(_ input: [UInt8], preferred: [Range<Int>] = []) -> ([UInt8], String) {
            var b = input
            var done: [String] = []
            for _ in 0..<(1 + rng.below(2)) {
                guard !b.isEmpty else { break }
                switch [0, 1, 1, 1, 2, 2, 3, 4][rng.below(8)] {
                case 0:
                    let n = rng.below(b.count)
                    b = Array(b.prefix(n)); done.append("truncate to \(n)")
                case 1:
                    let flips = 1 + rng.below(8)
                    for _ in 0..<flips {
                        let p = position(in: b.count, preferred: preferred)
                        b[p] ^= UInt8(1 << rng.below(8))
                    }
                    done.append("flip \(flips) bits")
                case 2:
                    let p = position(in: b.count, preferred: preferred)
                    let n = min(1 + rng.below(64), b.count - p)
                    b.replaceSubrange(p..<(p + n), with: runBytes(n)); done.append("overwrite \(n) at \(p)")
                case 3:
                    let p = position(in: b.count, preferred: preferred)
                    let n = 1 + rng.below(64)
                    b.insert(contentsOf: runBytes(n), at: p); done.append("insert \(n) at \(p)")
                default:
                    let p = position(in: b.count, preferred: preferred)
                    let n = min(1 + rng.below(64), b.count - p)
                    b.removeSubrange(p..<(p + n)); done.append("delete \(n) at \(p)")
                }
            }
            return (b, done.joined(separator: ", "))
        }
    }

    /// Tallies outcomes and checks each failure's description.
    struct Outcomes: CustomStringConvertible {
        var loaded = 0
        /// Inputs that loaded to data other than the unmutated input's: silent damage.
        var loadedDifferent = 0
        var errors: [String: Int] = [:]
        var slowest = 0.0
        /// Whether loaded inputs are compared with the unmutated one (not where a mutation may
        /// legitimately change values, as in an unchecksummed pickle).
        var comparesData = true

        mutating func record(_ error: Error, kind: String, name: String, what: String) {
            errors[kind, default: 0] += 1
            let text = "\(error)"
            #expect(!text.contains("\n") && !text.contains("\r"), "multi-line error after \(what): \(text)")
            #expect(text.contains(name), "error does not name \(name) after \(what): \(text)")
        }

        mutating func time(_ seconds: Double, what: String) {
            slowest = max(slowest, seconds)
            #expect(seconds < FuzzTests.timeLimit, "\(what) took \(seconds) s")
        }

        var total: Int { loaded + errors.values.reduce(0, +) }
        var description: String {
            "\(total) inputs: \(loaded) loaded" + (comparesData ? " (\(loadedDifferent) of them different)" : "") + ", " + errors.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                .joined(separator: ", ") + String(format: "; slowest %.3f s", slowest)
        }
    }

    // MARK: PNG

    /// Seeds: every colour type, 1- to 16-bit, interlaced or not, stored and libpng-compressed.
    static func pngSeeds() throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        let rgb = (0..<6).map { y in (0..<7).map { x in [x * 30, y * 40, (x * y * 13) % 256] } }
        seeds.append(DataFixtures.png(width: 7, height: 6, bitDepth: 8, colorType: .rgb, samples: rgb))
        seeds.append(DataFixtures.png(width: 7, height: 6, bitDepth: 16, colorType: .rgba,
                                      samples: rgb.map { $0.map { $0.map { $0 * 257 } + [40_000] } }, interlaced: true))
        seeds.append(DataFixtures.png(width: 9, height: 3, bitDepth: 1, colorType: .gray,
                                      samples: (0..<3).map { y in (0..<9).map { x in [(x + y) % 2] } }))
        seeds.append(DataFixtures.png(width: 5, height: 5, bitDepth: 4, colorType: .palette,
                                      samples: (0..<5).map { y in (0..<5).map { x in [(x + y) % 3] } },
                                      palette: [[255, 0, 0], [0, 255, 0], [0, 0, 255]], transparency: [0, 128]))
        seeds.append(DataFixtures.png(width: 4, height: 4, bitDepth: 8, colorType: .grayAlpha,
                                      samples: (0..<4).map { y in (0..<4).map { x in [x * 60, y * 60] } }, interlaced: true))
        // A deflate-compressed one from libpng itself.
        let dir = try DataFixtures.temporaryDirectory("fuzz-png")
        defer { DataFixtures.cleanUp(dir) }
        let pixels = (0..<(16 * 12 * 3)).map { UInt8(($0 * 7) % 256) }
        try writePNG(RGBImage(width: 16, height: 12, pixels: pixels), to: dir + "/seed.png")
        seeds.append(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/seed.png"))))
        return seeds
    }

    /// Rewrites each chunk's CRC, so a mutated chunk reaches libpng's decoder instead of its CRC check.
    static func fixPNGChecksums(_ bytes: inout [UInt8]) {
        var p = 8
        while p + 12 <= bytes.count {
            let length = Int(bytes[p..<(p + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard length <= bytes.count - p - 12 else { return }
            let crc = DataFixtures.crc32(Array(bytes[(p + 4)..<(p + 8 + length)]))
            bytes.replaceSubrange((p + 8 + length)..<(p + 12 + length), with: DataFixtures.bigEndian(crc))
            p += 12 + length
        }
    }

    /// IHDR edits with valid CRCs: extreme sizes, invalid depths, colour types, interlace methods.
    static func headerMutation(_ seed: [UInt8], rng: inout MEMORandom) -> ([UInt8], String) {
        var b = seed
        let sizes: [UInt32] = [0, 1, 16384, 16385, 65535, 1 << 20, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
        let field = rng.below(5)
        switch field {
        case 0: b.replaceSubrange(16..<20, with: DataFixtures.bigEndian(sizes[rng.below(sizes.count)]))
        case 1: b.replaceSubrange(20..<24, with: DataFixtures.bigEndian(sizes[rng.below(sizes.count)]))
        case 2: b[24] = UInt8(rng.below(256))
        case 3: b[25] = UInt8(rng.below(256))
        default: b[28] = UInt8(rng.below(4))
        }
        fixPNGChecksums(&b)
        return (b, "IHDR field \(field) -> \(Array(b[16..<29]))")
    }

    static func fuzzPNG(iterations: Int) throws -> Outcomes {
        let seeds = try pngSeeds()
        // Every seed decodes before mutation.
        for (i, s) in seeds.enumerated() { _ = try readPNG(data: s, name: "seed-\(i).png") }
        var mutator = Mutator(rng: MEMORandom(seed: seed))
        var outcomes = Outcomes()
        for i in 0..<iterations {
            let seedIndex = mutator.rng.below(seeds.count)
            var (bytes, what): ([UInt8], String)
            if mutator.rng.below(8) == 0 {
                (bytes, what) = headerMutation(seeds[seedIndex], rng: &mutator.rng)
            } else {
                (bytes, what) = mutator.mutate(seeds[seedIndex])
                if mutator.rng.below(2) == 0 { fixPNGChecksums(&bytes); what += ", CRCs fixed" }
            }
            let name = "fuzz-\(i).png"
            let start = Date()
            do {
                let image = try readPNG(data: bytes, name: name)
                #expect(image.pixels.count == image.width * image.height * 3)
                outcomes.loaded += 1
            } catch let error as PNGError {
                let kind: String
                switch error {
                case .invalid: kind = "invalid"
                case .tooLarge: kind = "tooLarge"
                case .cannotRead: kind = "cannotRead"
                case .cannotWrite: kind = "cannotWrite"
                }
                outcomes.record(error, kind: kind, name: name, what: "seed \(seedIndex): \(what)")
            } catch {
                Issue.record("untyped error after seed \(seedIndex): \(what): \(error)")
            }
            outcomes.time(Date().timeIntervalSince(start), what: "seed \(seedIndex): \(what)")
        }
        return outcomes
    }

    @Test func mutatedPNGsLoadOrThrowOneLineErrors() throws {
        let n = Self.longIterations ?? 1000
        let outcomes = try Self.fuzzPNG(iterations: n)
        print("PNG fuzz (seed \(Self.seed)): \(outcomes)")
        #expect(outcomes.total == n)
        // The mutations reach both outcomes (a fuzzer whose inputs all fail at the signature tests little).
        #expect(outcomes.loaded > 0 && (outcomes.errors["invalid"] ?? 0) > 0)
    }

    // MARK: Checkpoints

    static func classify(_ error: Error) -> String? {
        switch error {
        case let e as CheckpointError:
            switch e {
            case .notACheckpoint: return "notACheckpoint"
            case .newerVersion: return "newerVersion"
            case .inconsistent: return "inconsistent"
            }
        case let e as HDF5Error:
            switch e {
            case .cannotOpen: return "hdf5.cannotOpen"
            case .cannotWrite: return "hdf5.cannotWrite"
            case .missing: return "hdf5.missing"
            case .wrongType: return "hdf5.wrongType"
            case .wrongShape: return "hdf5.wrongShape"
            case .tooLarge: return "hdf5.tooLarge"
            case .corrupt: return "hdf5.corrupt"
            case .checksumMismatch: return "hdf5.checksumMismatch"
            case .unchecksummed: return "hdf5.unchecksummed"
            }
        default: return nil
        }
    }

    /// Reads `path` and records the outcome; returns the error, if any. With `original`, a
    /// checkpoint that loads must hold the same data (else it counts as `loadedDifferent`).
    @discardableResult
    static func readCheckpoint(_ path: String, what: String, original: Checkpoint? = nil,
                               into outcomes: inout Outcomes) -> Error? {
        let start = Date()
        defer { outcomes.time(Date().timeIntervalSince(start), what: what) }
        do {
            // read rebuilds the stage's network to check every tensor's name and shape.
            let loaded = try Checkpoint.read(path)
            outcomes.loaded += 1
            if let original {
                let differing = CheckpointSurgery.differences(loaded, original)
                if !differing.isEmpty {
                    outcomes.loadedDifferent += 1
                    Issue.record("\(what) loaded different data: \(differing.prefix(5))")
                }
            }
            return nil
        } catch {
            if let kind = classify(error) {
                outcomes.record(error, kind: kind, name: path, what: what)
            } else {
                Issue.record("untyped error after \(what): \(error)")
            }
            return error
        }
    }

    static func fuzzCheckpoint(iterations: Int, dir: String) throws -> Outcomes {
        let source = try CheckpointSurgery.untrainedRun.get() + "/stage-00.h5"
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: source)))
        let checkpoint = try Checkpoint.read(source)
        // Prefer mutating metadata: everything outside the datasets' raw data.
        let raw = try CheckpointSurgery.rawDataRanges(in: source)
        var metadata: [Range<Int>] = []
        var start = 0
        for r in raw {
            if r.lowerBound > start { metadata.append(start..<r.lowerBound) }
            start = max(start, r.upperBound)
        }
        if start < original.count { metadata.append(start..<original.count) }
        var mutator = Mutator(rng: MEMORandom(seed: seed ^ 0x5EED))
        var outcomes = Outcomes()
        let path = dir + "/fuzz.h5"
        for i in 0..<iterations {
            let (bytes, what) = mutator.mutate(original, preferred: metadata)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            readCheckpoint(path, what: "checkpoint mutation \(i): \(what)", original: checkpoint, into: &outcomes)
        }
        return outcomes
    }

    @Test func mutatedCheckpointsLoadOrThrowOneLineErrors() throws {
        let n = Self.longIterations ?? 100
        let dir = try DataFixtures.temporaryDirectory("fuzz-h5")
        defer { DataFixtures.cleanUp(dir) }
        let outcomes = try Self.fuzzCheckpoint(iterations: n, dir: dir)
        print("checkpoint fuzz (seed \(Self.seed)): \(outcomes)")
        #expect(outcomes.total == n)
        // With data checksums almost every mutation is refused (the unmutated file loads: the
        // harness reads it first); how many load depends on the seed, so only refusals are required.
        #expect((outcomes.errors["hdf5.cannotOpen"] ?? 0) > 0)
        #expect(outcomes.loadedDifferent == 0)
    }

    /// The issue's experiment: copies of a stage file with 1–4 bits flipped anywhere (uniformly,
    /// data and metadata alike). Each must load to exactly the original's data or be refused with
    /// a one-line error naming the file: no copy may load different numbers, strings or
    /// evaluations. Before data checksums, about a third of such copies loaded, many different.
    @Test func bitFlipsAnywhereNeverLoadDifferentData() throws {
        let n = Self.longIterations ?? 200
        let source = try CheckpointSurgery.untrainedRun.get() + "/stage-01.h5"
        let original = try Checkpoint.read(source)
        let pristine = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let dir = try DataFixtures.temporaryDirectory("fuzz-h5-flips")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-01.h5"
        var rng = MEMORandom(seed: Self.seed ^ 0xF11B)
        var outcomes = Outcomes()
        for i in 0..<n {
            var bytes = pristine
            let flips = 1 + rng.below(4)
            for _ in 0..<flips { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            Self.readCheckpoint(path, what: "copy \(i) with \(flips) flipped bits", original: original, into: &outcomes)
        }
        print("bit flips anywhere (seed \(Self.seed)): \(outcomes)")
        #expect(outcomes.total == n)
        #expect(outcomes.loadedDifferent == 0)
        #expect(outcomes.total - outcomes.loaded > n / 2)
    }

    /// HDF5-level edits of a real stage-1 checkpoint, each with the error it must produce.
    @Test func targetedCheckpointEditsAreRefusedWithTheirCause() throws {
        let run = try CheckpointSurgery.untrainedRun.get()
        let source = run + "/stage-01.h5"
        let dir = try DataFixtures.temporaryDirectory("fuzz-h5-targeted")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-01.h5"
        typealias C = CheckpointSurgery.Contents
        func floats(_ c: C, _ name: String) -> ([Float], [Int]) {
            guard case let .floats(v, s)? = c.datasets[name] else { fatalError("\(name) is not float") }
            return (v, s)
        }
        func int64s(_ c: C, _ name: String) -> ([Int64], [Int]) {
            guard case let .int64s(v, s)? = c.datasets[name] else { fatalError("\(name) is not int64") }
            return (v, s)
        }
        let cases: [(String, (inout C) -> Void, String)] = [
            ("fc.weight stored as int64", { c in
                let (v, s) = floats(c, "model/fc.weight"); c.datasets["model/fc.weight"] = .int64s(v.map { Int64($0) }, s) },
             "\(path): 'model/fc.weight' is int64, expected float32 or float64"),
            ("fc.weight transposed", { c in
                let (v, s) = floats(c, "model/fc.weight"); c.datasets["model/fc.weight"] = .floats(v, [s[1], s[0]]) },
             "\(path): dataset 'model/fc.weight' has shape [128, 4], expected [4, 128]"),
            ("fc.bias missing", { c in c.datasets["model/fc.bias"] = nil },
             "\(path): no dataset or group 'model/fc.bias'"),
            ("memory labels missing", { c in c.datasets["memory/labels"] = nil },
             "\(path): no dataset or group 'memory/labels'"),
            ("class_means is a group", { c in
                c.datasets["class_means"] = .group(["x": .floats([1], [1])]) },
             "\(path): 'class_means' is a group, expected a dataset"),
            ("class names stored as integers", { c in c.datasets["dataset/class_names"] = .int64s([0, 1, 2, 3], [4]) },
             "\(path): 'dataset/class_names' is int64, expected a string"),
            ("format_version 4", { c in c.attributes["format_version"] = .int(4) },
             "\(path): checkpoint format version 4 is newer than this tool reads (3)"),
            ("format_version 0", { c in c.attributes["format_version"] = .int(0) },
             "\(path): not a memo-swift checkpoint (format version 0)"),
            ("format_version a string", { c in c.attributes["format_version"] = .string("1") },
             "\(path): attribute 'format_version' on '/' is a 1-byte fixed-length string, expected integer (int8…int64 or uint8…uint32)"),
            ("format_version missing", { c in c.attributes["format_version"] = nil },
             "\(path): not a memo-swift checkpoint (no format version)"),
            ("format missing", { c in c.attributes["format"] = nil },
             "\(path): not a memo-swift checkpoint (no 'format' attribute)"),
            ("format of another tool", { c in c.attributes["format"] = .string("pytorch") },
             "\(path): not a memo-swift checkpoint (format is 'pytorch', expected 'memo-swift-checkpoint')"),
            ("stage Int64.max", { c in c.attributes["stage"] = .int(Int64.max) },
             "\(path): task sizes [2, 2] do not fit stage 9223372036854775807 and 4 classes"),
            ("stage -1", { c in c.attributes["stage"] = .int(-1) },
             "\(path): task sizes [2, 2] do not fit stage -1 and 4 classes"),
            ("unknown backbone with a newline", { c in c.attributes["backbone"] = .string("resnet\n1000") },
             "\(path): unknown backbone 'resnet\\u{a}1000'"),
            ("config_json not JSON", { c in c.attributes["config_json"] = .string("{") },
             "\(path): config_json does not decode"),
            ("evaluation_json not JSON", { c in c.attributes["evaluation_json"] = .string("[]") },
             "\(path): evaluation json does not decode"),
            ("class order not a permutation", { c in c.datasets["dataset/class_order"] = .int64s([0, 1, 1, 3], [4]) },
             "\(path): class order is not a permutation of the 4 classes"),
            ("task sizes beyond the classes", { c in c.datasets["dataset/task_sizes"] = .int64s([2, 3], [2]) },
             "\(path): task sizes [2, 3] do not fit stage 1 and 4 classes"),
            ("memory label beyond the classes", { c in
                var (v, s) = int64s(c, "memory/labels"); v[0] = 4; c.datasets["memory/labels"] = .int64s(v, s) },
             "\(path): exemplar memory datasets disagree in size or labels"),
            ("memory images of another count", { c in
                c.datasets["memory/images"] = .uint8s([UInt8](repeating: 1, count: 32 * 32 * 3), [1, 32, 32, 3]) },
             "\(path): exemplar memory datasets disagree in size or labels"),
            ("rng state of 3 words", { c in c.datasets["training/rng_state"] = .int64s([1, 2, 3], [3]) },
             "\(path): rng state has 3 words"),
            ("cnn_topk of wrong rows", { c in c.datasets["evaluation/cnn_topk"] = .int64s([0, 1], [1, 2]) },
             "\(path): evaluation/cnn_topk has shape [1, 2]"),
            ("class means of wrong width", { c in c.datasets["class_means"] = .floats([Float](repeating: 0, count: 4 * 64), [4, 64]) },
             "\(path): dataset 'class_means' has shape [4, 64], expected [4, 128]"),
        ]
        var outcomes = Outcomes()
        for (what, edit, message) in cases {
            try CheckpointSurgery.rewrite(source, to: path, edit)
            let error = Self.readCheckpoint(path, what: what, into: &outcomes)
            #expect(error.map { "\($0)" }?.hasPrefix(message) == true, "\(what): got \(error.map { "\($0)" } ?? "no error")")
        }
        // The unedited rewrite loads: the edits, not the rewriting, cause the errors above.
        try CheckpointSurgery.rewrite(source, to: path) { _ in }
        #expect(Self.readCheckpoint(path, what: "unedited", into: &outcomes) == nil)

        // A dataset declaring 2^40 elements (no data stored) is refused before anything is allocated.
        try CheckpointSurgery.rewrite(source, to: path) { _ in }
        try CheckpointSurgery.declareHugeDataset("memory/train_indices", dims: [1 << 40], in: path)
        let huge = Self.readCheckpoint(path, what: "huge dims", into: &outcomes)
        #expect(huge.map { "\($0)" } == "\(path): dataset 'memory/train_indices' declares 1099511627776 elements, "
            + "more than a file of this size can hold")
        try CheckpointSurgery.rewrite(source, to: path) { _ in }
        try CheckpointSurgery.declareHugeDataset("model/fc.weight", dims: [1 << 31, 1 << 31], float: true, in: path)
        let hugeWeight = Self.readCheckpoint(path, what: "huge fc.weight", into: &outcomes)
        #expect(hugeWeight.map { "\($0)" } == "\(path): dataset 'model/fc.weight' has shape [2147483648, 2147483648], expected [4, 128]")
        print("targeted checkpoint edits: \(outcomes)")
    }

    // MARK: PyTorch files and pickles

    static var pickleFixtures: String { Bundle.module.resourcePath! + "/Fixtures/pickle" }

    static func classify(_ error: PyTorchFileError) -> String {
        switch error {
        case let .archive(e):
            switch e {
            case .cannotOpen: return "zip.cannotOpen"
            case .notZip: return "zip.notZip"
            case .corrupt: return "zip.corrupt"
            case .tooLarge: return "zip.tooLarge"
            case .unsupportedEntry: return "zip.unsupportedEntry"
            }
        case let .pickle(e): return classify(e)
        case .notATorchFile: return "notATorchFile"
        case .badTensor: return "badTensor"
        case .notAStateDict: return "notAStateDict"
        }
    }

    static func classify(_ error: PickleError) -> String {
        switch error {
        case .malformed: return "pickle.malformed"
        case .refusedGlobal: return "pickle.refusedGlobal"
        case .unsupported: return "pickle.unsupported"
        case .tooLarge: return "pickle.tooLarge"
        }
    }

    /// Reads a mutated .pt file; a state_dict that loads must be intact (every entry is CRC-checked)
    /// when `original` is given, and well-formed in any case.
    static func readTorchFile(_ path: String, what: String, original: StateDict?, into outcomes: inout Outcomes) {
        let start = Date()
        defer { outcomes.time(Date().timeIntervalSince(start), what: what) }
        do {
            let sd = try PyTorchFile.readStateDict(path: path)
            outcomes.loaded += 1
            for (key, t) in sd.tensors where t.bytes.count != t.count * t.dtype.size {
                Issue.record("\(what): tensor \(key) of \(t.shape) has \(t.bytes.count) bytes")
            }
            if let original, sd.tensors != original.tensors {
                outcomes.loadedDifferent += 1
                Issue.record("\(what) loaded different tensors")
            }
        } catch let error as PyTorchFileError {
            outcomes.record(error, kind: classify(error), name: path, what: what)
        } catch {
            Issue.record("untyped error after \(what): \(error)")
        }
    }

    /// Whole-file mutations of real torch.save files: through libzip, its CRCs and the pickle.
    @Test func mutatedTorchFilesLoadOrThrowOneLineErrors() throws {
        let n = Self.longIterations ?? 1000
        let seeds = try ["state_dict.pt", "checkpoint.pt", "parameters.pt"].map { name -> ([UInt8], StateDict) in
            let path = Self.pickleFixtures + "/" + name
            return ([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), try PyTorchFile.readStateDict(path: path))
        }
        let dir = try DataFixtures.temporaryDirectory("fuzz-pt")
        defer { DataFixtures.cleanUp(dir) }
        var mutator = Mutator(rng: MEMORandom(seed: Self.seed ^ 0x7041))
        var outcomes = Outcomes()
        for i in 0..<n {
            let s = mutator.rng.below(seeds.count)
            let (bytes, what) = mutator.mutate(seeds[s].0)
            let path = dir + "/fuzz-\(i).pt"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            Self.readTorchFile(path, what: "seed \(s): \(what)", original: seeds[s].1, into: &outcomes)
            try? FileManager.default.removeItem(atPath: path)
        }
        print(".pt fuzz (seed \(Self.seed)): \(outcomes)")
        #expect(outcomes.total == n && outcomes.loadedDifferent == 0)
        #expect(outcomes.errors.count >= 2)
    }

    /// Mutations of the pickle inside a .pt file, re-zipped with valid CRCs so that every
    /// mutation reaches the pickle machine and the tensor checks.
    @Test func mutatedStateDictPicklesLoadOrThrowOneLineErrors() throws {
        let n = Self.longIterations ?? 2000
        let source = Self.pickleFixtures + "/state_dict.pt"
        let archive = try ZipArchive(path: source)
        let entries = try archive.entries.map { ($0.name, try archive.read($0, limit: $0.size)) }
        let pickleIndex = try #require(entries.firstIndex { $0.0.hasSuffix("/data.pkl") })
        let dir = try DataFixtures.temporaryDirectory("fuzz-pkl")
        defer { DataFixtures.cleanUp(dir) }
        // The re-zipped, unmutated file reads as the original.
        let rezipped = dir + "/unmutated.pt"
        try DataFixtures.write(DataFixtures.storedZip(entries.map { (name: $0.0, data: $0.1) }), to: rezipped)
        #expect(try PyTorchFile.readStateDict(path: rezipped).tensors == PyTorchFile.readStateDict(path: source).tensors)
        var mutator = Mutator(rng: MEMORandom(seed: Self.seed ^ 0x9C1E))
        var outcomes = Outcomes()
        outcomes.comparesData = false
        for i in 0..<n {
            var mutated = entries
            let (bytes, what) = mutator.mutate(entries[pickleIndex].1)
            mutated[pickleIndex].1 = bytes
            let path = dir + "/fuzz-\(i).pt"
            try DataFixtures.write(DataFixtures.storedZip(mutated.map { (name: $0.0, data: $0.1) }), to: path)
            Self.readTorchFile(path, what: "data.pkl: \(what)", original: nil, into: &outcomes)
            try? FileManager.default.removeItem(atPath: path)
        }
        print("state_dict pickle fuzz (seed \(Self.seed)): \(outcomes)")
        #expect(outcomes.total == n)
        #expect(outcomes.loaded > 0 && (outcomes.errors["pickle.malformed"] ?? 0) > 0)
    }

    /// Mutations of a python-version CIFAR batch (no checksum: every mutation reaches the parser).
    @Test func mutatedCIFARPicklesLoadOrThrowOneLineErrors() throws {
        let n = Self.longIterations ?? 2000
        let seeds = try ["/cifar/cifar-10-batches-py/test_batch", "/cifar/test_batch_py3_protocol2",
                         "/cifar/test_batch_py3_protocol4"].map {
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.pickleFixtures + $0)))
        }
        // Prefer the structure: everything but the 9,216 bytes of pixels.
        let structure = seeds.map { seed -> [Range<Int>] in
            let n = seed.count
            return [0..<min(n, 260), max(0, n - 260)..<n]
        }
        let dir = try DataFixtures.temporaryDirectory("fuzz-cifar")
        defer { DataFixtures.cleanUp(dir) }
        var mutator = Mutator(rng: MEMORandom(seed: Self.seed ^ 0xC1FA))
        var outcomes = Outcomes()
        outcomes.comparesData = false
        for i in 0..<n {
            let s = mutator.rng.below(seeds.count)
            let (bytes, what) = mutator.mutate(seeds[s], preferred: structure[s])
            let path = dir + "/batch-\(i)"
            try DataFixtures.write(bytes, to: path)
            let start = Date()
            do {
                let batch = try CIFAR.readPythonBatch(path, variant: .cifar10)
                #expect(batch.pixels.count == batch.labels.count * 3072)
                outcomes.loaded += 1
            } catch let error as DatasetError {
                let kind: String
                if case let .pickle(e) = error { kind = Self.classify(e) } else { kind = "dataset" }
                outcomes.record(error, kind: kind, name: path, what: "seed \(s): \(what)")
            } catch {
                Issue.record("untyped error after seed \(s): \(what): \(error)")
            }
            outcomes.time(Date().timeIntervalSince(start), what: "seed \(s): \(what)")
            try? FileManager.default.removeItem(atPath: path)
        }
        print("CIFAR pickle fuzz (seed \(Self.seed)): \(outcomes)")
        #expect(outcomes.total == n)
        #expect(outcomes.loaded > 0 && (outcomes.errors["pickle.malformed"] ?? 0) > 0)
    }
}
