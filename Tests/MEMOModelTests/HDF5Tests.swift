import CHDF5
import Foundation
import Testing
@testable import MEMOModel

/// Runs `body` with a fresh temporary folder that is removed afterwards.
private func withTemporaryFolder<R>(_ body: (String) throws -> R) throws -> R {
    let folder = FileManager.default.temporaryDirectory
        .appendingPathComponent("memo-hdf5-\(UInt64.random(in: 0 ... .max))").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try body(folder)
}

/// Builds a file with raw libhdf5 calls, for layouts our writer never produces (hostile or foreign
/// files): in the checksummed 1.8+ format, or with `legacy` in libhdf5's default pre-1.8 format.
private func craft(_ path: String, legacy: Bool = false, userBlock: Int = 0, _ body: (hid_t) -> Void) {
    let access = H5Pcreate(swh5_p_file_access())
    if !legacy { H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V110) }
    let creation = H5Pcreate(swh5_p_file_create())
    if userBlock > 0 { H5Pset_userblock(creation, hsize_t(userBlock)) }
    let file = H5Fcreate(path, swh5_acc_trunc(), creation, access)
    precondition(file >= 0, "cannot create \(path)")
    body(file)
    H5Fclose(file)
    H5Pclose(creation)
    H5Pclose(access)
}

private func craftDataset(_ file: hid_t, _ name: String, type: hid_t, dims: [UInt64]?, creation: hid_t = hid_t(H5P_DEFAULT),
                          data: UnsafeRawPointer? = nil) {
    var dims = dims ?? []
    let space = dims.isEmpty ? H5Screate(H5S_NULL) : H5Screate_simple(Int32(dims.count), &dims, nil)
    let dataset = H5Dcreate2(file, name, type, space, hid_t(H5P_DEFAULT), creation, hid_t(H5P_DEFAULT))
    precondition(dataset >= 0, "cannot create \(name)")
    if let data { precondition(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), data) >= 0) }
    H5Dclose(dataset)
    H5Sclose(space)
}

private func fixedStringType(size: Int, pad: H5T_str_t) -> hid_t {
    let type = H5Tcopy(swh5_c_s1())
    H5Tset_size(type, size)
    H5Tset_strpad(type, pad)
    return type
}

/// Runs a program and returns its exit status and standard output.
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private let h5dump: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin")
    .split(separator: ":").map { "\($0)/h5dump" }
    .first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite("HDF5")
struct HDF5Tests {
    @Test("numeric datasets round-trip with their shapes, compressed or not, through close and reopen")
    func numericRoundTrip() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/numbers.h5"
            let weights: [Float] = (0..<24).map { Float($0) * 0.25 - 3 }
            let big: [Float] = (0..<300_000).map { Float($0 % 1000) / 7 }  // 1.2 MB: two chunks of [300, 500]
            let doubles: [Double] = [-1e300, -0.5, 0, .pi, 1e-300]
            let int64s: [Int64] = [.min, -1, 0, 1, .max, 42]
            let bytes: [UInt8] = (0..<12).map { UInt8($0 * 21) }
            let file = try HDF5File.create(path)
            try file.write("w", floats: weights, shape: [2, 3, 4])
            try file.write("big", floats: big, shape: [600, 500], compress: true)
            try file.write("d", doubles: doubles, shape: [5])
            try file.write("i", int64s: int64s, shape: [3, 2])
            try file.write("scalar", int64s: [7], shape: [])
            try file.write("u", uint8s: bytes, shape: [3, 2, 2], compress: true)
            try file.write("empty", floats: [], shape: [0, 3])
            // Readable from the writing handle too.
            #expect(try file.readFloats("w").values == weights)
            file.close()
            file.close()  // idempotent

            let reopened = try HDF5File.open(path)
            #expect(reopened.path == path)
            let w = try reopened.readFloats("w")
            #expect(w.values == weights && w.shape == [2, 3, 4])
            #expect(try reopened.readFloats("big", expectedShape: [600, 500]) == big)
            let d = try reopened.readDoubles("d")
            #expect(d.values == doubles && d.shape == [5])
            let i = try reopened.readInt64s("i")
            #expect(i.values == int64s && i.shape == [3, 2])
            let scalar = try reopened.readInt64s("scalar")
            #expect(scalar.values == [7] && scalar.shape == [])
            let u = try reopened.readUInt8s("u")
            #expect(u.values == bytes && u.shape == [3, 2, 2])
            let empty = try reopened.readFloats("empty")
            #expect(empty.values.isEmpty && empty.shape == [0, 3])
            // float32 widens to float64 and back exactly.
            #expect(try reopened.readDoubles("w").values == weights.map(Double.init))
            #expect(try reopened.shape(of: "big") == [600, 500])
            #expect(try reopened.shape(of: "scalar") == [])
        }
    }

    @Test("compressed data is smaller on disk and chunks stay within 1 MiB")
    func compression() throws {
        #expect(HDF5File.chunkShape([600, 500], elementSize: 4) == [300, 500])
        #expect(HDF5File.chunkShape([600, 500], elementSize: 8) == [150, 500])
        #expect(HDF5File.chunkShape([3, 2], elementSize: 4) == [3, 2])
        #expect(HDF5File.chunkShape([1, 1, 1 << 20], elementSize: 8) == [1, 1, 1 << 17])
        try withTemporaryFolder { folder in
            let zeros = [Float](repeating: 0, count: 1 << 18)
            for compress in [false, true] {
                let path = folder + "/\(compress).h5"
                let file = try HDF5File.create(path)
                try file.write("zeros", floats: zeros, shape: [512, 512], compress: compress)
                file.close()
                let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
                #expect(compress ? size < 100_000 : size > 1 << 20)
                #expect(try HDF5File.open(path).readFloats("zeros").values == zeros)
            }
        }
    }

    @Test("UTF-8 strings round-trip, including empty strings and an empty list")
    func stringRoundTrip() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/strings.h5"
            let names = ["", "airplane", "ünïcödé ✓ 日本", "trailing  ", "a/b.c"]
            let file = try HDF5File.create(path)
            try file.write("meta/classNames", strings: names)
            try file.write("meta/none", strings: [])
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "meta/nul",
                                                  reason: "a string contains a NUL character")) {
                try file.write("meta/nul", strings: ["a\u{0}b"])
            }
            file.close()
            let reopened = try HDF5File.open(path)
            #expect(try reopened.readStrings("meta/classNames") == names)
            #expect(try reopened.readStrings("/meta/none") == [])
            #expect(try reopened.shape(of: "meta/classNames") == [5])
        }
    }

    @Test("int, double and string attributes on the root, a group and a dataset; replacing and missing ones")
    func attributes() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/attributes.h5"
            let config = "{\"memory\": 2000, \"name\": \"mémo\"}"
            let long = String(repeating: "0123456789", count: 10_000)  // 100 kB: beyond compact attribute storage
            let file = try HDF5File.create(path)
            try file.write("model/fc.weight", floats: [1, 2], shape: [2])
            try file.setAttribute("formatVersion", int: 1)
            try file.setAttribute("formatVersion", int: 3)  // replaces
            try file.setAttribute("lr", double: 0.1)
            try file.setAttribute("config", string: config)
            try file.setAttribute("task", int: -4, on: "model")
            try file.setAttribute("scale", double: -2.5e-8, on: "/model/fc.weight")
            try file.setAttribute("note", string: "", on: "model/fc.weight")
            try file.setAttribute("long", string: long)
            #expect(throws: HDF5Error.missing(path: path, name: "nothing")) {
                try file.setAttribute("x", int: 1, on: "nothing")
            }
            file.close()

            let reopened = try HDF5File.open(path)
            #expect(try reopened.attributeInt("formatVersion") == 3)
            #expect(try reopened.attributeDouble("lr", on: "/") == 0.1)
            #expect(try reopened.attributeString("config") == config)
            #expect(try reopened.attributeString("long") == long)
            #expect(try reopened.attributeInt("task", on: "model/") == -4)
            #expect(try reopened.attributeDouble("scale", on: "model/fc.weight") == -2.5e-8)
            #expect(try reopened.attributeString("note", on: "model/fc.weight") == "")
            #expect(reopened.hasAttribute("task", on: "model"))
            #expect(!reopened.hasAttribute("task"))
            #expect(!reopened.hasAttribute("task", on: "nowhere"))

            let missing = HDF5Error.missing(path: path, name: "model@epoch")
            #expect(throws: missing) { try reopened.attributeInt("epoch", on: "model") }
            #expect(missing.description == "\(path): no attribute 'epoch' on 'model'")
            #expect(throws: HDF5Error.wrongType(path: path, name: "/@config", expected: "integer (int8…int64 or uint8…uint32)",
                                                found: "a \(config.utf8.count)-byte fixed-length string")) {
                try reopened.attributeInt("config")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "/@formatVersion", expected: "float32 or float64",
                                                found: "int64")) {
                try reopened.attributeDouble("formatVersion")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "/@lr", expected: "a string", found: "float64")) {
                try reopened.attributeString("lr")
            }
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "/@lr", reason: "the file was opened read-only")) {
                try reopened.setAttribute("lr", double: 1)
            }
        }
    }

    @Test("nested groups are created on write and listed recursively, sorted, with full names")
    func nestedGroupsAndListing() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/nested.h5"
            let file = try HDF5File.create(path)
            try file.write("model/specialized.1.stage.0.bnA.runningMean", floats: [0], shape: [1])
            try file.write("model/generalized.conv.weight", floats: [0, 1, 2, 3], shape: [1, 1, 2, 2])
            try file.write("/model/specialized/0/fc.bias", floats: [5], shape: [1])
            try file.write("exemplars/indices", int64s: [3, 1], shape: [2])
            try file.write("top", doubles: [1], shape: [])
            try file.createGroup("empty/inner")
            try file.createGroup("model")  // existing group: no error
            file.close()

            let reopened = try HDF5File.open(path)
            #expect(try reopened.datasetNames() == [
                "exemplars/indices",
                "model/generalized.conv.weight",
                "model/specialized.1.stage.0.bnA.runningMean",
                "model/specialized/0/fc.bias",
                "top",
            ])
            #expect(try reopened.datasetNames(under: "model/specialized") == ["model/specialized/0/fc.bias"])
            #expect(try reopened.datasetNames(under: "/exemplars/") == ["exemplars/indices"])
            #expect(try reopened.datasetNames(under: "empty") == [])
            #expect(throws: HDF5Error.missing(path: path, name: "nope")) { try reopened.datasetNames(under: "nope") }
            #expect(throws: HDF5Error.wrongType(path: path, name: "top", expected: "a group", found: "a dataset")) {
                try reopened.datasetNames(under: "top")
            }
            #expect(reopened.exists("model"))
            #expect(reopened.exists("/model/specialized/0"))
            #expect(reopened.exists("model/generalized.conv.weight"))
            #expect(reopened.exists("/"))
            #expect(!reopened.exists("model/generalized"))
            #expect(!reopened.exists("top/child"))      // a dataset has no children
            #expect(!reopened.exists("model//x"))       // malformed
            #expect(!reopened.exists("model/../top"))   // malformed
            #expect(try reopened.shape(of: "model/generalized.conv.weight") == [1, 1, 2, 2])
        }
    }

    @Test("a missing dataset throws .missing naming the file and the dataset")
    func missingDataset() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/missing.h5"
            let file = try HDF5File.create(path)
            try file.write("model/a", floats: [1], shape: [1])
            let error = HDF5Error.missing(path: path, name: "model/b")
            #expect(throws: error) { try file.readFloats("model/b") }
            #expect(throws: error) { try file.readStrings("/model/b") }
            #expect(throws: error) { try file.shape(of: "model/b") }
            #expect(throws: HDF5Error.missing(path: path, name: "other/a")) { try file.readInt64s("other/a") }
            #expect(throws: HDF5Error.missing(path: path, name: "model/a/x")) { try file.readFloats("model/a/x") }
            #expect(error.description == "\(path): no dataset or group 'model/b'")
        }
    }

    @Test("reading a dataset as the wrong type throws .wrongType before reading")
    func wrongType() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/types.h5"
            let file = try HDF5File.create(path)
            try file.write("names", strings: ["a", "b"])
            try file.write("labels", int64s: [1, 2], shape: [2])
            try file.write("x", floats: [1], shape: [1])
            try file.write("model/w", floats: [1], shape: [1])
            file.close()
            let reopened = try HDF5File.open(path)
            let stringAsFloats = HDF5Error.wrongType(path: path, name: "names", expected: "float32 or float64",
                                                     found: "a 1-byte fixed-length string")
            #expect(throws: stringAsFloats) { try reopened.readFloats("names") }
            #expect(stringAsFloats.description
                == "\(path): 'names' is a 1-byte fixed-length string, expected float32 or float64")
            #expect(throws: HDF5Error.wrongType(path: path, name: "labels", expected: "float32 or float64", found: "int64")) {
                try reopened.readFloats("labels")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "labels", expected: "uint8", found: "int64")) {
                try reopened.readUInt8s("labels")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "x", expected: "integer (int8…int64 or uint8…uint32)",
                                                found: "float32")) {
                try reopened.readInt64s("x")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "x", expected: "a string", found: "float32")) {
                try reopened.readStrings("x")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "model", expected: "a dataset", found: "a group")) {
                try reopened.readFloats("model")
            }
        }
    }

    @Test("readFloats(expectedShape:) and readFloats(expectedShape:into:) throw .wrongShape with a one-line message")
    func wrongShape() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/shape.h5"
            let file = try HDF5File.create(path)
            try file.write("model/fc.weight", floats: [Float](repeating: 1, count: 640), shape: [10, 64])
            let error = HDF5Error.wrongShape(path: path, name: "model/fc.weight", expected: [10, 128], found: [10, 64])
            #expect(throws: error) { try file.readFloats("model/fc.weight", expectedShape: [10, 128]) }
            #expect(throws: HDF5Error.wrongShape(path: path, name: "model/fc.weight", expected: [640], found: [10, 64])) {
                try file.readFloats("model/fc.weight", expectedShape: [640])
            }
            #expect(error.description == "\(path): dataset 'model/fc.weight' has shape [10, 64], expected [10, 128]")
            #expect(try file.readFloats("model/fc.weight", expectedShape: [10, 64]).count == 640)
            // Into the caller's storage: the values land there; a wrong shape leaves it untouched.
            var storage = [Float](repeating: 7, count: 640)
            #expect(throws: error) { try file.readFloats("model/fc.weight", expectedShape: [10, 128], into: &storage) }
            #expect(storage.allSatisfy { $0 == 7 })
            try file.readFloats("model/fc.weight", expectedShape: [10, 64], into: &storage)
            #expect(storage.allSatisfy { $0 == 1 })
        }
    }

    @Test("a text file, an empty file, a truncated HDF5 file and a missing file throw .cannotOpen naming the path")
    func unreadableFiles() throws {
        try withTemporaryFolder { folder in
            let text = folder + "/notes.txt"
            try "epoch 1 loss 2.3\n".write(toFile: text, atomically: false, encoding: .utf8)
            #expect(throws: HDF5Error.cannotOpen(path: text, reason: "not an HDF5 file (no HDF5 signature found)")) {
                try HDF5File.open(text)
            }
            let empty = folder + "/empty.h5"
            #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
            #expect(throws: HDF5Error.cannotOpen(path: empty, reason: "not an HDF5 file (no HDF5 signature found)")) {
                try HDF5File.open(empty)
            }
            #expect(throws: HDF5Error.cannotOpen(path: folder, reason: "not a regular file")) {
                try HDF5File.open(folder)
            }
            let absent = folder + "/absent.h5"
            #expect(throws: HDF5Error.cannotOpen(path: absent, reason: "No such file or directory")) {
                try HDF5File.open(absent)
            }

            let whole = folder + "/whole.h5"
            let file = try HDF5File.create(whole)
            try file.write("model/w", floats: (0..<4096).map(Float.init), shape: [64, 64])
            file.close()
            let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
            for keep in [bytes.count / 2, bytes.count - 1, 100] {
                let truncated = folder + "/truncated-\(keep).h5"
                try bytes.prefix(keep).write(to: URL(fileURLWithPath: truncated))
                do {
                    let opened = try HDF5File.open(truncated)
                    _ = try opened.readFloats("model/w")
                    Issue.record("a file truncated to \(keep) of \(bytes.count) bytes was read")
                } catch let error as HDF5Error {
                    #expect(error.path == truncated)
                    #expect(error.description.hasPrefix(truncated + ": "))
                    #expect(!error.description.contains("\n"))
                    #expect(error.description.contains("truncated file"))
                }
            }
        }
    }

    @Test("writing errors: read-only handle, duplicate name, values not filling the shape, closed file")
    func writeErrors() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/write.h5"
            let file = try HDF5File.create(path)
            try file.write("a", floats: [1, 2], shape: [2])
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "a", reason: "it already exists")) {
                try file.write("a", floats: [1, 2], shape: [2])
            }
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "b", reason: "3 values do not fill shape [2, 2] (4 elements)")) {
                try file.write("b", floats: [1, 2, 3], shape: [2, 2])
            }
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "a/b", reason: "'a' exists and is not a group")) {
                try file.write("a/b", floats: [1], shape: [1])
            }
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "x//y", reason: "malformed dataset name")) {
                try file.write("x//y", floats: [1], shape: [1])
            }
            #expect(!file.exists("b"))
            file.close()
            #expect(throws: HDF5Error.cannotOpen(path: path, reason: "the file is closed")) { try file.readFloats("a") }
            #expect(!file.exists("a"))

            let reopened = try HDF5File.open(path)
            #expect(throws: HDF5Error.cannotWrite(path: path, name: "c", reason: "the file was opened read-only")) {
                try reopened.write("c", int64s: [1], shape: [1])
            }
        }
    }

    @Test("a file open for reading opens again at the same time: in the library, and raw with the library's access list")
    func concurrentReaders() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/shared.h5"
            let writer = try HDF5File.create(path)
            try writer.write("x", floats: [1, 2], shape: [2])
            writer.close()
            let first = try HDF5File.open(path)
            defer { first.close() }
            let second = try HDF5File.open(path)
            #expect(try second.readFloats("x").0 == [1, 2])
            second.close()
            // A raw open with libhdf5's default access list (file locking on) is refused while the
            // library holds the file: the cause of a test failing only when suites overlapped.
            HDF5Library.enter()
            let refused = H5Fopen(path, swh5_acc_rdonly(), swh5_p_default())
            if refused >= 0 { H5Fclose(refused) }
            #expect(refused < 0 && HDF5Library.takeError().contains("file locking flag values don't match"))
            let access = try HDF5File.fileAccessList(path: path, forWriting: false)
            defer { H5Pclose(access) }
            let raw = H5Fopen(path, swh5_acc_rdonly(), access)
            #expect(raw >= 0, "raw open with the library's access list: \(HDF5Library.takeError())")
            if raw >= 0 { H5Fclose(raw) }
            #expect(try first.readFloats("x").0 == [1, 2])
        }
    }

    @Test("create truncates an existing file")
    func createTruncates() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/again.h5"
            try HDF5File.create(path).write("old", floats: [1], shape: [1])
            let file = try HDF5File.create(path)
            try file.write("new", floats: [2], shape: [1])
            file.close()
            #expect(try HDF5File.open(path).datasetNames() == ["new"])
        }
    }

    @Test("foreign layouts: fixed-length strings, variable-length ones refused, narrow integers, big-endian floats")
    func foreignLayouts() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/foreign.h5"
            craft(path) { file in
                for (name, pad, size, bytes) in [
                    ("nullpad", H5T_STR_NULLPAD, 5, Array("ab\0\0\0hello".utf8)),
                    ("spacepad", H5T_STR_SPACEPAD, 5, Array("ab   hello".utf8)),
                    ("nullterm", H5T_STR_NULLTERM, 6, Array("ab\0\0\0\0hello\0".utf8)),
                ] {
                    let type = fixedStringType(size: size, pad: pad)
                    craftDataset(file, name, type: type, dims: [2], data: bytes)
                    H5Tclose(type)
                }
                // Fixed-length UTF-8 string attribute, as in the native-libs spike.
                let type = fixedStringType(size: 13, pad: H5T_STR_NULLPAD)
                H5Tset_cset(type, H5T_CSET_UTF8)
                let space = H5Screate(H5S_SCALAR)
                let attribute = H5Acreate2(file, "arch", type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                _ = Array("resnet32-memo".utf8).withUnsafeBytes { H5Awrite(attribute, type, $0.baseAddress) }
                H5Aclose(attribute)
                H5Tclose(type)
                // Variable-length UTF-8 string attribute (h5py's default for `str`).
                let vlenType = H5Tcopy(swh5_c_s1())
                H5Tset_size(vlenType, swh5_variable())
                H5Tset_cset(vlenType, H5T_CSET_UTF8)
                let vlen = H5Acreate2(file, "vlen", vlenType, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                var text: UnsafeMutablePointer<CChar>? = strdup("variable ✓")
                H5Awrite(vlen, vlenType, &text)
                free(text)
                H5Aclose(vlen)
                H5Tclose(vlenType)
                // A two-element integer attribute is not a scalar.
                var two: [hsize_t] = [2]
                let pair = H5Screate_simple(1, &two, nil)
                let counts = H5Acreate2(file, "counts", swh5_std_i64le(), pair, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                var values: [Int64] = [1, 2]
                H5Awrite(counts, swh5_native_int64(), &values)
                H5Aclose(counts)
                H5Sclose(pair)
                H5Sclose(space)
                // ASCII variable-length strings.
                let ascii = H5Tcopy(swh5_c_s1())
                H5Tset_size(ascii, swh5_variable())
                let strings: [UnsafeMutablePointer<CChar>?] = ["x", "yz"].map { (text: String) in strdup(text) }
                craftDataset(file, "ascii", type: ascii, dims: [2], data: strings)
                strings.forEach { free($0) }
                H5Tclose(ascii)
                let int16s: [Int16] = [-300, 7]
                craftDataset(file, "int16", type: swh5_std_i16be(), dims: [2], data: nil)
                let dataset = H5Dopen2(file, "int16", hid_t(H5P_DEFAULT))
                _ = int16s.withUnsafeBytes {
                    H5Dwrite(dataset, H5Tget_native_type(swh5_std_i16le(), H5T_DIR_ASCEND), H5S_ALL, H5S_ALL,
                             hid_t(H5P_DEFAULT), $0.baseAddress)
                }
                H5Dclose(dataset)
                var bigEndian: [Double] = [1.5, -2]
                let doubles = H5Dcreate2(file, "f64be", swh5_ieee_f64be(), H5Screate_simple(1, &two, nil),
                                         hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                H5Dwrite(doubles, swh5_native_double(), H5S_ALL, H5S_ALL, hid_t(H5P_DEFAULT), &bigEndian)
                H5Dclose(doubles)
            }
            let file = try HDF5File.open(path)
            #expect(try file.readStrings("nullpad") == ["ab", "hello"])
            #expect(try file.readStrings("spacepad") == ["ab", "hello"])
            #expect(try file.readStrings("nullterm") == ["ab", "hello"])
            #expect(throws: HDF5Error.wrongType(path: path, name: "ascii",
                                                expected: "a fixed-length string (variable-length strings live in HDF5's unchecksummed global heap; "
                                                    + "h5py: store them with dtype h5py.string_dtype(length=N))",
                                                found: "a variable-length string")) {
                try file.readStrings("ascii")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "/@vlen",
                                                expected: "a fixed-length string (variable-length strings live in HDF5's unchecksummed global heap; "
                                                    + "h5py: store them with dtype h5py.string_dtype(length=N))",
                                                found: "a variable-length string")) {
                try file.attributeString("vlen")
            }
            #expect(try file.attributeString("arch") == "resnet32-memo")
            #expect(throws: HDF5Error.wrongShape(path: path, name: "/@counts", expected: [], found: [2])) {
                try file.attributeInt("counts")
            }
            #expect(try file.readInt64s("int16").values == [-300, 7])
            #expect(try file.readFloats("f64be").values == [1.5, -2])
            #expect(throws: HDF5Error.wrongType(path: path, name: "nullpad", expected: "uint8",
                                                found: "a 5-byte fixed-length string")) {
                try file.readUInt8s("nullpad")
            }
        }
    }

    @Test("hostile layouts: huge declared sizes, rank 9, null dataspace, custom types, links, external data, cycles")
    func hostileLayouts() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/hostile.h5"
            craft(path) { file in
                // Declared sizes with no data stored: chunked (never allocated) and contiguous (late allocation).
                let chunked = H5Pcreate(swh5_p_dataset_create())
                var chunk: [hsize_t] = [1024]
                H5Pset_chunk(chunked, 1, &chunk)
                craftDataset(file, "huge", type: swh5_ieee_f32le(), dims: [1 << 40], creation: chunked)
                H5Pset_deflate(chunked, 6)
                craftDataset(file, "hugeCompressed", type: swh5_ieee_f32le(), dims: [1 << 40], creation: chunked)
                H5Pclose(chunked)
                craftDataset(file, "contiguous", type: swh5_ieee_f32le(), dims: [1 << 26])
                craftDataset(file, "stringBomb", type: fixedStringType(size: 1 << 30, pad: H5T_STR_NULLPAD), dims: [4])
                craftDataset(file, "rank9", type: swh5_ieee_f32le(), dims: [UInt64](repeating: 1, count: 9))
                craftDataset(file, "null", type: swh5_ieee_f32le(), dims: nil)
                let oddInteger = H5Tcopy(swh5_std_i32le())
                H5Tset_precision(oddInteger, 12)
                craftDataset(file, "oddInteger", type: oddInteger, dims: [1])
                let oddFloat = H5Tcopy(swh5_ieee_f64le())
                H5Tset_ebias(oddFloat, 1000)
                craftDataset(file, "oddFloat", type: oddFloat, dims: [1])
                var value: Float = 1
                craftDataset(file, "data", type: swh5_ieee_f32le(), dims: [1], data: &value)
                H5Lcreate_soft("/data", file, "alias", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                H5Lcreate_external("/etc/other.h5", "/x", file, "elsewhere", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                // Raw data in an external file (here: the text of /etc/hostname, if read).
                let external = H5Pcreate(swh5_p_dataset_create())
                H5Pset_external(external, "/etc/hostname", 0, 4)
                craftDataset(file, "externalData", type: swh5_std_u8le(), dims: [4], creation: external)
                H5Pclose(external)
                // A hard-link cycle: g/loop is the root group again.
                H5Gclose(H5Gcreate2(file, "g", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)))
                H5Lcreate_hard(file, "/", file, "g/loop", hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
            }
            let file = try HDF5File.open(path)
            #expect(throws: HDF5Error.tooLarge(path: path, name: "huge", elements: 1 << 40)) { try file.readFloats("huge") }
            #expect(throws: HDF5Error.tooLarge(path: path, name: "hugeCompressed", elements: 1 << 40)) {
                try file.readFloats("hugeCompressed")
            }
            #expect(throws: HDF5Error.tooLarge(path: path, name: "contiguous", elements: 1 << 26)) {
                try file.readDoubles("contiguous")
            }
            #expect(throws: HDF5Error.tooLarge(path: path, name: "stringBomb", elements: 4)) {
                try file.readStrings("stringBomb")
            }
            #expect(try file.shape(of: "huge") == [1 << 40])  // the shape alone is harmless
            let rank9 = HDF5Error.corrupt(path: path, name: "rank9", reason: "rank 9 exceeds the supported maximum of 8")
            #expect(throws: rank9) { try file.readFloats("rank9") }
            #expect(throws: rank9) { try file.shape(of: "rank9") }
            #expect(throws: HDF5Error.corrupt(path: path, name: "null", reason: "it has a null dataspace (no data)")) {
                try file.readFloats("null")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "oddInteger", expected: "integer (int8…int64 or uint8…uint32)",
                                                found: "a non-standard 4-byte integer")) {
                try file.readInt64s("oddInteger")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "oddFloat", expected: "float32 or float64",
                                                found: "a non-standard 8-byte float")) {
                try file.readFloats("oddFloat")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "alias", expected: "a hard link", found: "a soft link")) {
                try file.readFloats("alias")
            }
            #expect(throws: HDF5Error.wrongType(path: path, name: "elsewhere", expected: "a hard link",
                                                found: "an external link")) {
                try file.readFloats("elsewhere/x")
            }
            #expect(!file.exists("alias"))
            #expect(throws: HDF5Error.corrupt(path: path, name: "externalData",
                                              reason: "its data lives in external files, which are not supported")) {
                try file.readUInt8s("externalData")
            }
            #expect(try file.readFloats("data").values == [1])
            #expect(try file.readFloats("g/loop/data").values == [1])
            // Listing skips soft/external links and visits the cyclic group once.
            #expect(try file.datasetNames() == [
                "contiguous", "data", "externalData", "huge", "hugeCompressed", "null", "oddFloat", "oddInteger",
                "rank9", "stringBomb",
            ])
        }
    }

    @Test("pre-1.8 format files are refused with the command that rewrites them; a user block before the superblock is fine")
    func legacyFormat() throws {
        try withTemporaryFolder { folder in
            var value: Float = 2.5
            let legacy = folder + "/legacy.h5"
            craft(legacy, legacy: true) { file in
                craftDataset(file, "x", type: swh5_ieee_f32le(), dims: [1], data: &value)
            }
            #expect(throws: HDF5Error.cannotOpen(path: legacy, reason: "superblock version 0 is the pre-1.8 HDF5 format "
                + "without metadata checksums, as h5repack and h5py write by default (h5py: libver=\"latest\" writes the "
                + "checksummed one); rewrite it with: h5repack -L -f FLET \(legacy) \(folder)/repacked-legacy.h5 "
                + "&& mv \(folder)/repacked-legacy.h5 \(legacy)")) {
                try HDF5File.open(legacy)
            }
            #expect(HDF5File.rewriteCommand("run 1/it's.h5")
                == "h5repack -L -f FLET 'run 1/it'\\''s.h5' 'run 1/repacked-it'\\''s.h5' && mv 'run 1/repacked-it'\\''s.h5' 'run 1/it'\\''s.h5'")
            #expect(HDF5File.rewriteCommand("stage-00.h5") == "h5repack -L -f FLET stage-00.h5 repacked-stage-00.h5 "
                + "&& mv repacked-stage-00.h5 stage-00.h5")

            let prefixed = folder + "/userblock.h5"
            craft(prefixed, userBlock: 1024) { file in
                craftDataset(file, "x", type: swh5_ieee_f32le(), dims: [1], data: &value)
            }
            #expect(try HDF5File.open(prefixed).readFloats("x").values == [2.5])

            // Our own files: superblock version 3 (HDF5 1.10 format) right at the start.
            let ours = folder + "/ours.h5"
            try HDF5File.create(ours).write("x", floats: [1], shape: [1])
            let header = try Data(contentsOf: URL(fileURLWithPath: ours)).prefix(9)
            #expect(Array(header) == [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 3])
        }
    }

    @Test("damaged copies of a checkpoint either read or throw a one-line HDF5Error naming the file")
    func damagedCheckpoints() throws {
        try withTemporaryFolder { folder in
            let original = folder + "/checkpoint.h5"
            let file = try HDF5File.create(original)
            try file.setAttribute("formatVersion", int: 1)
            try file.setAttribute("config", string: "{\"memory\": 2000}")
            try file.write("model/conv.weight", floats: (0..<432).map { Float($0) }, shape: [16, 3, 3, 3])
            try file.write("model/fc.weight", floats: (0..<2000).map { Float($0 % 17) }, shape: [10, 200], compress: true)
            for layer in 0..<12 {
                try file.write("model/specialized/layer\(layer).weight", floats: [Float(layer)], shape: [1])
            }
            try file.write("meta/classNames", strings: ["airplane", "car", "bird"])
            try file.write("meta/classOrder", int64s: [2, 0, 1], shape: [3])
            file.close()
            let pristine = try [UInt8](Data(contentsOf: URL(fileURLWithPath: original)))

            let reference = try HDF5File.open(original)
            let pristineValues = try reference.datasetNames().filter { $0.hasPrefix("model/") }
                .map { try reference.readFloats($0).values }
            reference.close()
            var outcomes: [String: Int] = [:]
            for seed in UInt64(0)..<200 {
                var random = MEMORandom(seed: seed)
                var bytes = pristine
                for _ in 0...random.below(3) {  // 1–4 edits, half of them in the first 4 KiB (metadata)
                    let position = random.below(2) == 0 ? random.below(min(4096, bytes.count)) : random.below(bytes.count)
                    bytes[position] = random.below(2) == 0 ? bytes[position] ^ UInt8(1 << random.below(8))
                                                            : UInt8(random.below(256))
                }
                let path = folder + "/damaged-\(seed).h5"
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                do {
                    let damaged = try HDF5File.open(path)
                    var values: [[Float]] = []
                    for name in try damaged.datasetNames() {
                        if name == "meta/classNames" { #expect(try damaged.readStrings(name) == ["airplane", "car", "bird"]) }
                        else if name == "meta/classOrder" { #expect(try damaged.readInt64s(name).values == [2, 0, 1]) }
                        else { values.append(try damaged.readFloats(name).values) }
                    }
                    // Data that reads is the data written: every dataset is checksummed.
                    #expect(values == pristineValues, "seed \(seed) read different numbers")
                    #expect(try damaged.attributeString("config") == "{\"memory\": 2000}")
                    outcomes["read", default: 0] += 1
                } catch let error as HDF5Error {
                    #expect(error.path == path)
                    #expect(error.description.hasPrefix(path + ": ") && !error.description.contains("\n"))
                    outcomes[Mirror(reflecting: error).children.first?.label ?? "?", default: 0] += 1
                }
                try FileManager.default.removeItem(atPath: path)
            }
            // Edits of metadata and of data alike are caught (metadata and data checksums).
            #expect(outcomes.values.reduce(0, +) == 200)
            #expect((outcomes["corrupt"] ?? 0) + (outcomes["cannotOpen"] ?? 0) + (outcomes["checksumMismatch"] ?? 0) > 150)
        }
    }

    /// The filters and layout of dataset `name` in the file at `path`, through raw libhdf5.
    private static func storage(of name: String, in path: String) throws -> (layout: H5D_layout_t, filters: [H5Z_filter_t]) {
        let access = try HDF5File.fileAccessList(path: path, forWriting: false)
        defer { H5Pclose(access) }
        let file = H5Fopen(path, swh5_acc_rdonly(), access)
        defer { H5Fclose(file) }
        let dataset = H5Dopen2(file, name, swh5_p_default())
        defer { H5Dclose(dataset) }
        let creation = H5Dget_create_plist(dataset)
        defer { H5Pclose(creation) }
        let filters = (0..<UInt32(max(0, H5Pget_nfilters(creation)))).map { index in
            var flags: UInt32 = 0, values = 0, config: UInt32 = 0
            return H5Pget_filter2(creation, index, &flags, &values, nil, 0, nil, &config)
        }
        return (H5Pget_layout(creation), filters)
    }

    @Test("every dataset with data carries Fletcher-32, last; scalars are compact, empty ones contiguous; damage names the dataset")
    func dataChecksums() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/checksums.h5"
            let file = try HDF5File.create(path)
            try file.write("floats", floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
            try file.write("packed", floats: (0..<1000).map(Float.init), shape: [1000], compress: true)
            try file.write("doubles", doubles: [0.5], shape: [1])
            try file.write("ints", int64s: [1, -2], shape: [2])
            try file.write("bytes", uint8s: [1, 2, 3], shape: [3], compress: true)
            try file.write("names", strings: ["cat", "dog"])
            try file.write("scalar", floats: [7], shape: [])
            try file.write("empty", floats: [], shape: [0, 3])
            try file.write("noNames", strings: [])
            file.close()
            let fletcher = H5Z_filter_t(H5Z_FILTER_FLETCHER32)
            let shuffle = H5Z_filter_t(H5Z_FILTER_SHUFFLE), deflate = H5Z_filter_t(H5Z_FILTER_DEFLATE)
            for name in ["floats", "doubles", "ints", "names"] {
                let s = try Self.storage(of: name, in: path)
                #expect(s.layout == H5D_CHUNKED && s.filters == [fletcher], "\(name): \(s)")
            }
            #expect(try Self.storage(of: "packed", in: path).filters == [shuffle, deflate, fletcher])
            #expect(try Self.storage(of: "bytes", in: path).filters == [deflate, fletcher])
            #expect(try Self.storage(of: "scalar", in: path).layout == H5D_COMPACT)
            for name in ["empty", "noNames"] {
                let s = try Self.storage(of: name, in: path)
                #expect(s.layout == H5D_CONTIGUOUS && s.filters.isEmpty, "\(name): \(s)")
            }
            let reader = try HDF5File.open(path)
            reader.requiresDataChecksums = true
            #expect(try reader.readFloats("floats").values == [1, 2, 3, 4, 5, 6])
            #expect(try reader.readFloats("scalar").values == [7] && reader.readFloats("empty").values.isEmpty)
            #expect(try reader.readStrings("names") == ["cat", "dog"] && reader.readStrings("noNames").isEmpty)
            #expect(reader.unchecksummedDatasets.isEmpty)
            reader.close()

            // One flipped bit in the stored strings, in the compressed floats: refused, naming the dataset.
            for (name, read) in [("names", { (f: HDF5File) in _ = try f.readStrings("names") }),
                                 ("packed", { (f: HDF5File) in _ = try f.readFloats("packed") })] {
                let damaged = folder + "/damaged-\(name).h5"
                try FileManager.default.copyItem(atPath: path, toPath: damaged)
                let range = try #require(try CheckpointSurgery.storedRanges(of: name, in: damaged).first)
                var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damaged)))
                bytes[range.lowerBound + 1] ^= 0x10
                try Data(bytes).write(to: URL(fileURLWithPath: damaged))
                let f = try HDF5File.open(damaged)
                #expect(throws: HDF5Error.checksumMismatch(path: damaged, name: name)) { try read(f) }
                #expect(HDF5Error.checksumMismatch(path: damaged, name: name).description
                    == "\(damaged): \(name): data checksum mismatch (the file is damaged)")
            }

            // The version-1 layout (no checksum on uncompressed data): recorded, or refused when required.
            let old = folder + "/old.h5"
            let writer = try HDF5File.create(old)
            writer.writesVersion1Layout = true
            try writer.write("floats", floats: [1, 2], shape: [2])
            try writer.write("bytes", uint8s: [1, 2, 3], shape: [3], compress: true)
            writer.close()
            #expect(try Self.storage(of: "floats", in: old) == (H5D_CONTIGUOUS, []))
            let lenient = try HDF5File.open(old)
            #expect(try lenient.readFloats("floats").values == [1, 2] && lenient.readUInt8s("bytes").values == [1, 2, 3])
            #expect(lenient.unchecksummedDatasets == ["floats"])
            let strict = try HDF5File.open(old)
            strict.requiresDataChecksums = true
            #expect(try strict.readUInt8s("bytes").values == [1, 2, 3])
            let refusal = HDF5Error.unchecksummed(path: old, name: "floats")
            #expect(throws: refusal) { try strict.readFloats("floats") }
            #expect(refusal.description == "\(old): dataset 'floats' carries no Fletcher-32 data checksum, which this "
                + "file's format requires (were its filters stripped, as by h5repack -f NONE?); rewrite it with: "
                + HDF5File.rewriteCommand(old))
        }
    }

    @Test("h5dump reads a written file's structure and strings", .enabled(if: h5dump != nil))
    func h5dumpReadsWrittenFile() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/dump.h5"
            let file = try HDF5File.create(path)
            try file.write("model/generalized.conv.weight", floats: [1, 2, 3, 4], shape: [1, 1, 2, 2], compress: true)
            try file.write("meta/classNames", strings: ["cat", "dog"])
            try file.setAttribute("task", int: 3, on: "model")
            file.close()
            let header = try run(h5dump!, ["-H", path])
            #expect(header.status == 0)
            #expect(header.output.contains("DATASET \"generalized.conv.weight\""))
            #expect(header.output.contains("H5T_IEEE_F32LE"))
            #expect(header.output.contains("DATASPACE  SIMPLE { ( 1, 1, 2, 2 ) / ( 1, 1, 2, 2 ) }"))
            #expect(header.output.contains("ATTRIBUTE \"task\""))
            let strings = try run(h5dump!, ["-d", "/meta/classNames", path])
            #expect(strings.status == 0)
            #expect(strings.output.contains("(0): \"cat\", \"dog\""))
            #expect(strings.output.contains("H5T_CSET_UTF8"))
            #expect(strings.output.contains("STRSIZE 3;"))
        }
    }
}

@Suite("AtomicFile")
struct AtomicFileTests {
    private func contents(of folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    @Test("the body writes a hidden .tmp file in the same folder that then replaces the destination")
    func replaces() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/stage-01.h5"
            try "old".write(toFile: path, atomically: false, encoding: .utf8)
            var seen = ""
            try writeAtomically(to: path) { temporary in
                seen = temporary
                let file = try HDF5File.create(temporary)
                try file.write("x", floats: [4], shape: [1])
                file.close()
            }
            let name = (seen as NSString).lastPathComponent
            #expect((seen as NSString).deletingLastPathComponent == folder)
            #expect(name.hasPrefix(".stage-01.h5.") && name.hasSuffix(".tmp"))
            #expect(try contents(of: folder) == ["stage-01.h5"])
            #expect(try HDF5File.open(path).readFloats("x").values == [4])
        }
    }

    @Test("when the body throws, the old file is intact and no temporary file remains")
    func failureKeepsOldFile() throws {
        struct Interrupted: Error, Equatable {}
        try withTemporaryFolder { folder in
            let path = folder + "/stage-01.h5"
            let old = try HDF5File.create(path)
            try old.write("x", floats: [1], shape: [1])
            old.close()
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(throws: Interrupted()) {
                try writeAtomically(to: path) { temporary in
                    let file = try HDF5File.create(temporary)
                    try file.write("x", floats: [2], shape: [1])
                    file.close()
                    throw Interrupted()
                }
            }
            #expect(try contents(of: folder) == ["stage-01.h5"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(try HDF5File.open(path).readFloats("x").values == [1])
        }
    }

    @Test("a body that writes nothing, or a destination that is a folder, fails cleanly")
    func failures() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/nothing.h5"
            #expect(throws: AtomicFileError.self) { try writeAtomically(to: path) { _ in } }
            #expect(try contents(of: folder) == [])
            try FileManager.default.createDirectory(atPath: folder + "/taken", withIntermediateDirectories: false)
            #expect(throws: AtomicFileError.self) {
                try writeAtomically(to: folder + "/taken") { temporary in
                    try "x".write(toFile: temporary, atomically: false, encoding: .utf8)
                }
            }
            #expect(try contents(of: folder) == ["taken"])
            #expect(throws: AtomicFileError(path: folder + "/", reason: "the path does not name a file")) {
                try writeAtomically(to: folder + "/") { _ in }
            }
        }
    }
}
