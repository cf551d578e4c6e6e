import Foundation
import Testing
@testable import MEMOModel

/// `PyTorchFile.readStateDict` on files written by the real `torch.save` (fixtures of
/// scripts/make_pickle_fixtures.py): values equal to what the script recorded, refusals of
/// pickles that would run code, and one-line errors for damaged or unsupported files.
@Suite struct PyTorchFileTests {
    static var fixtures: String { Bundle.module.resourcePath! + "/Fixtures/pickle" }
    /// The file the refused pickles' commands would create.
    static let marker = "/tmp/memo-swift-pickle-fixture-was-executed"

    static func message<T>(_ body: () throws -> T) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    /// The tensors the fixture script stored alongside a .pt file.
    static func expected(_ json: String) throws -> [String: (dtype: String, shape: [Int], values: [Double])] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + json))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        var out: [String: (String, [Int], [Double])] = [:]
        for (key, entry) in object {
            let values = try #require(entry["values"] as? [NSNumber]).map(\.doubleValue)
            out[key] = (try #require(entry["dtype"] as? String), try #require(entry["shape"] as? [Int]), values)
        }
        return out
    }

    static func checkEqual(_ sd: StateDict, _ expected: [String: (dtype: String, shape: [Int], values: [Double])]) {
        #expect(Set(sd.tensors.keys) == Set(expected.keys))
        for (key, want) in expected {
            guard let t = sd.tensors[key] else { continue }
            #expect(t.dtype.rawValue == want.dtype && t.shape == want.shape, "\(key): \(t.dtype) \(t.shape)")
            if let floats = t.floatValues {
                // Every stored value is a float32 (or float16/bfloat16) exactly; Foundation's JSON
                // parser may be a double-ulp off, which rounding to Float removes.
                #expect(floats == want.values.map { Float($0) }, "\(key)")
            } else {
                #expect(t.integerValues?.map(Double.init) == want.values, "\(key)")
            }
        }
    }

    @Test func aRealStateDictReadsBackExactly() throws {
        let sd = try PyTorchFile.readStateDict(path: Self.fixtures + "/state_dict.pt")
        let expected = try Self.expected("state_dict.json")
        Self.checkEqual(sd, expected)
        // The dtypes and views the fixture was made to hold.
        #expect(sd.tensors["bn.num_batches_tracked"]?.integerValues == [3] && sd.tensors["bn.num_batches_tracked"]?.shape == [])
        #expect(sd.tensors["scale_half"]?.dtype == .float16 && sd.tensors["scale_bf16"]?.dtype == .bfloat16)
        // base = arange(24).reshape(4, 6) * 0.25 - 1; view_offset = base[1:3, 2:5]; view_transposed = base.t().
        let base = (0..<24).map { Float($0) * 0.25 - 1 }
        #expect(sd.tensors["view_offset"]?.floatValues == [8, 9, 10, 14, 15, 16].map { base[$0] })
        #expect(sd.tensors["view_transposed"]?.shape == [6, 4])
        #expect(sd.tensors["view_transposed"]?.floatValues == (0..<6).flatMap { c in (0..<4).map { r in base[r * 6 + c] } })
        #expect(sd.tensors["head.weight"] == sd.tensors["fc.weight"])
    }

    /// An empty view far outside its storage reads as torch reads it; a transposed one is copied.
    @Test func viewsOfAStorageAreMaterialised() throws {
        let sd = try PyTorchFile.readStateDict(path: Self.fixtures + "/views/empty_and_transposed.pt")
        #expect(sd.tensors["empty"] == StateDictTensor(dtype: .float32, shape: [0, 1 << 40, 1 << 40], bytes: []))
        #expect(sd.tensors["w"] == StateDictTensor(float32: [0, 3, 1, 4, 2, 5], shape: [3, 2]))
    }

    @Test func parametersAndNestedCheckpointsRead() throws {
        let params = try PyTorchFile.readStateDict(path: Self.fixtures + "/parameters.pt")
        let all = try Self.expected("state_dict.json")
        Self.checkEqual(params, all.filter { params.tensors[$0.key] != nil })
        #expect(params.tensors.count == 6)  // conv, bn and fc weights and biases (head.weight is tied to fc's)
        // {"tasks": 1, "model_state_dict": ..., "optimizer": ...}: the model's state_dict.
        let nested = try PyTorchFile.readStateDict(path: Self.fixtures + "/checkpoint.pt")
        Self.checkEqual(nested, try Self.expected("checkpoint.json"))
    }

    @Test(arguments: [
        ("os_system", "os.system", false), ("posix_system", "posix.system", false),
        ("builtins_eval", "builtins.eval", false), ("eval", "__builtin__.eval", false),
        ("stack_global", "os.system", false), ("whole_model", "__main__.Net", true),
        ("sequential", "torch.nn.modules.container.Sequential", true),
    ])
    func picklesThatWouldRunCodeAreRefused(file: String, global: String, isModel: Bool) throws {
        try? FileManager.default.removeItem(atPath: Self.marker)
        let path = Self.fixtures + "/refused/\(file).pt"
        let error = #expect(throws: PyTorchFileError.self) { try PyTorchFile.readStateDict(path: path) }
        let hint = isModel ? "the file holds a pickled model object, not a state_dict: in Python, save one with "
            + "torch.save(model.state_dict(), path)" : nil
        #expect(error == .pickle(.refusedGlobal(file: path, global: global, hint: hint)))
        let text = error.map { "\($0)" } ?? ""
        #expect(text.hasPrefix("\(path): refused to load the Python global '\(global)'") && !text.contains("\n"))
        #expect(!FileManager.default.fileExists(atPath: Self.marker))
    }

    @Test func damagedAndUnsupportedFilesGiveOneLineErrors() throws {
        let f = Self.fixtures + "/bad"
        let cases: [(String, String)] = [
            ("complex.pt", "\(f)/complex.pt: storage type torch.ComplexFloatStorage (read: torch.BFloat16Storage, "
                + "torch.BoolStorage, torch.ByteStorage, torch.CharStorage, torch.DoubleStorage, torch.FloatStorage, "
                + "torch.HalfStorage, torch.IntStorage, torch.LongStorage, torch.ShortStorage)"),
            ("short_storage.pt", "\(f)/short_storage.pt: tensor 'w': storage 0 declares 6 F32 elements, its entry holds 16 bytes"),
            ("huge_numel.pt", "\(f)/huge_numel.pt: tensor 'w': storage 0 declares 1099511627776 F32 elements, its entry holds 24 bytes"),
            ("past_storage.pt", "\(f)/past_storage.pt: tensor 'w': shape [2, 3], strides [3, 1] and offset 4 reach element 9 of a storage of 6"),
            ("legacy.pt", "\(f)/legacy.pt: not a torch.save file: the legacy format of PyTorch before 1.6 "
                + "(or _use_new_zipfile_serialization=False) is not read; load it and save it again with a current PyTorch"),
            ("big_endian.pt", "\(f)/big_endian.pt: not a torch.save file: byte order 'big'; only little-endian files are read"),
            ("expand_256mib.pt", "\(f)/expand_256mib.pt: tensor 'w': shape [8192, 8192] needs more bytes than its storage "
                + "holds and the 64 MiB limit for views"),
        ]
        for (file, message) in cases {
            #expect(Self.message { try PyTorchFile.readStateDict(path: f + "/" + file) } == message)
        }
        // 100 stride-0 views of 16 MiB each: beyond 4 times the file's size plus 64 MiB.
        #expect(Self.message { try PyTorchFile.readStateDict(path: f + "/expand_many.pt") }
            == "\(f)/expand_many.pt: its tensors need more than 4 times the file's size plus 64 MiB (views repeating their storages)")
        // A zip entry declaring 2 GB: refused by libzip's consistency checks before anything is read.
        #expect(Self.message { try PyTorchFile.readStateDict(path: f + "/huge_entry.pt") }
            == "\(f)/huge_entry.pt: damaged zip archive: its central directory does not match its entries")
        let missing = Self.fixtures + "/none.pt"
        #expect(Self.message { try PyTorchFile.readStateDict(path: missing) } == "\(missing): cannot open: No such file or directory")
        let json = Self.fixtures + "/state_dict.json"
        #expect(Self.message { try PyTorchFile.readStateDict(path: json) } == "\(json): not a zip archive")
    }

    @Test func truncatedCopiesAreRefused() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/state_dict.pt")))
        let dir = try DataFixtures.temporaryDirectory("pt-truncated")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/model.pt"
        var refused = 0
        for length in stride(from: 0, to: bytes.count, by: 97) {
            try DataFixtures.write(Array(bytes.prefix(length)), to: path)
            let text = Self.message { try PyTorchFile.readStateDict(path: path) }
            #expect(text?.hasPrefix(path + ": ") == true && text?.contains("\n") == false, "\(length): \(text ?? "loaded")")
            if text != nil { refused += 1 }
        }
        #expect(refused == (bytes.count + 96) / 97)
    }

    @Test func thePickleMachineKeepsItsLimits() throws {
        let machine = PickleMachine(file: "t.pkl")
        let policy = NumpyBytesPolicy(file: "t.pkl")
        func run(_ bytes: [UInt8]) -> String? { Self.message { try machine.load(bytes, policy: policy) } }
        // 100 nested one-tuples exceed the depth limit of 64.
        let deep: [UInt8] = [0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: 100) + [0x2E]
        #expect(run(deep) == "t.pkl: containers nest deeper than 64 levels")
        // A list appended to itself, and a list changed after it was nested.
        #expect(run([0x80, 2, 0x5D, 0x32, 0x61, 0x2E]) == "t.pkl: malformed pickle at byte 4: a list appended to itself")
        #expect(run([0x80, 2, 0x5D, 0x71, 0, 0x85, 0x68, 0, 0x4B, 1, 0x61, 0x2E])
            == "t.pkl: malformed pickle at byte 10: APPEND to a list already inside another container")
        // Lengths beyond the input, an unknown opcode, no STOP, a refused global by GLOBAL.
        #expect(run([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F]) == "t.pkl: malformed pickle at byte 2: length 2147483647 exceeds the 0 bytes left")
        #expect(run([0x80, 2, 0xFF]) == "t.pkl: malformed pickle at byte 2: unknown opcode 0xff")
        #expect(run([0x80, 2, 0x4E]) == "t.pkl: malformed pickle at byte 3: truncated (no STOP opcode)")
        #expect(run([0x80, 2] + Array("cos\nsystem\n)R.".utf8)) == PickleError.refusedGlobal(file: "t.pkl", global: "os.system", hint: nil).description)
        // An endless loop of DUPs ends at the stack limit, not in exhausted memory.
        let dups = [0x80, 2, 0x4E] + [UInt8](repeating: 0x32, count: 1_100_000) + [0x2E]
        #expect(run(dups) == "t.pkl: pickle stack exceeds 1000000 entries")
    }
}
