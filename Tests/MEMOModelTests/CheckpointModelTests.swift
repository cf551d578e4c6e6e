import Foundation
import Testing
@testable import MEMOModel

/// Loading a stage's network without drawing an initialisation (`Checkpoint.read`,
/// `makeNetwork()`, and `CheckpointModel.read`, which `memo-infer classify` uses and which reads
/// only what classifying needs): the network is bitwise the one a randomly initialised network
/// gets when every stored tensor is assigned to it, and the reduced read refuses damage to what it
/// reads with `Checkpoint.read`'s messages.
@Suite(.serialized)
struct CheckpointModelTests {
    /// The network as loading built it before draw-free construction: seeded random
    /// initialisation, then every `model/<name>` dataset read straight from the file and assigned.
    static func randomlyInitialisedThenAssigned(_ path: String, backbone: Backbone, taskSizes: [Int]) throws -> MEMONetwork {
        var rng = MEMORandom(seed: 0)
        let net = MEMONetwork(backbone: backbone, rng: &rng)
        for s in taskSizes { net.addStage(newClasses: s, rng: &rng) }
        let f = try HDF5File.open(path)
        defer { f.close() }
        for (name, p) in net.namedParameters() {
            let (values, shape) = try f.readFloats("model/" + name)
            try #require(shape == p.shape, "\(name)")
            p.value = Tensor(shape: shape, data: values)
        }
        return net
    }

    @Test func loadedNetworksAreBitwiseTheRandomlyInitialisedNetworkWithTheStoredTensors() throws {
        for stage in 0...1 {
            let (path, c) = try InferRunTests.checkpoint(stage)
            let oracle = try Self.randomlyInitialisedThenAssigned(path, backbone: c.backbone, taskSizes: c.taskSizes)
            let full = try c.makeNetwork()
            let model = try CheckpointModel.read(path, classMeans: true)
            // The oracle differs from a fresh network in every weight: the digest sees the load.
            var rng = MEMORandom(seed: 0)
            let fresh = MEMONetwork(backbone: c.backbone, rng: &rng)
            for s in c.taskSizes { fresh.addStage(newClasses: s, rng: &rng) }
            #expect(fresh.parameterDigest() != oracle.parameterDigest())
            #expect(full.parameterDigest() == oracle.parameterDigest(), "stage \(stage): Checkpoint.read + makeNetwork")
            #expect(model.network.parameterDigest() == oracle.parameterDigest(), "stage \(stage): CheckpointModel.read")
            #expect(full.namedParameters().map(\.0) == oracle.namedParameters().map(\.0))
            #expect(model.network.taskSizes == c.taskSizes)
            #expect(model.network.generalizedState == c.generalizedState && model.network.specializedStates == c.specializedStates)
            #expect(full.generalizedState == c.generalizedState && full.specializedStates == c.specializedStates)
            // Everything else classifying uses equals what the full read gives.
            #expect(model.classNames == c.classNames && model.classOrder == c.classOrder && model.stage == c.stage)
            #expect(model.imageShape == c.imageShape && model.backbone == c.backbone)
            #expect(model.normalizationMean == c.normalizationMean && model.normalizationStd == c.normalizationStd)
            #expect(model.classMeans == c.classMeans && model.notes.isEmpty)
            #expect(try CheckpointModel.read(path, classMeans: false).classMeans.isEmpty)
        }
    }

    @Test func classifyingFromTheReducedReadGivesTheFullReadsAnswer() throws {
        let (path, c) = try InferRunTests.checkpoint(1)
        let images = (0..<3).map { k in
            RGBImage(width: 32, height: 32, pixels: (0..<(32 * 32 * 3)).map { UInt8(truncatingIfNeeded: $0 * (k + 3) + k * 71) })
        }
        for head in ClassifierHead.allCases {
            let full = try Classifier(checkpoint: c, path: path).predict(images, head: head, top: 4)
            let reduced = try Classifier(model: CheckpointModel.read(path, classMeans: head == .nme), path: path)
                .predict(images, head: head, top: 4)
            #expect(full == reduced, "\(head)")
            #expect(full.count == 3 && full.allSatisfy { $0.count == 4 })
        }
    }

    @Test func theReducedReadRefusesDamageWithTheFullReadsMessages() throws {
        let source = try CheckpointSurgery.untrainedRun.get() + "/stage-01.h5"
        let dir = try DataFixtures.temporaryDirectory("checkpoint-model")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/stage-01.h5"
        func messages() -> (full: String?, reduced: String?) {
            (CheckpointChecksumTests.message { _ = try Checkpoint.read(path) },
             CheckpointChecksumTests.message { _ = try CheckpointModel.read(path, classMeans: true) })
        }
        // A damaged weight row.
        try FileManager.default.copyItem(atPath: source, toPath: path)
        try CheckpointSurgery.flipBits(of: "model/fc.weight", in: path, row: 1, rowLength: 128)
        let flipped = messages()
        #expect(flipped.reduced == "\(path): model/fc.weight: data checksum mismatch (the file is damaged)")
        #expect(flipped.reduced == flipped.full)
        // Damaged class means: refused when read (NME), not read for the CNN head.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: source, toPath: path)
        try CheckpointSurgery.flipBits(of: "class_means", in: path, row: 0, rowLength: 8)
        let means = messages()
        #expect(means.reduced == "\(path): class_means: data checksum mismatch (the file is damaged)")
        #expect(means.reduced == means.full)
        #expect(CheckpointChecksumTests.message { _ = try CheckpointModel.read(path, classMeans: false) } == nil)
        // Edits of what it reads, with the full read's messages.
        let edits: [(String, (inout CheckpointSurgery.Contents) -> Void)] = [
            ("fc.bias missing", { $0.datasets["model/fc.bias"] = nil }),
            ("fc.weight transposed", { c in
                if case let .floats(v, s)? = c.datasets["model/fc.weight"] { c.datasets["model/fc.weight"] = .floats(v, [s[1], s[0]]) } }),
            ("class order not a permutation", { $0.datasets["dataset/class_order"] = .int64s([0, 1, 1, 3], [4]) }),
            ("format_version 4", { $0.attributes["format_version"] = .int(4) }),
            ("format missing", { $0.attributes["format"] = nil }),
            ("stage -1", { $0.attributes["stage"] = .int(-1) }),
            ("model_state of 1 part", { $0.datasets["model_state/trainable"] = .int64s([1], [1]) }),
        ]
        for (what, edit) in edits {
            try CheckpointSurgery.rewrite(source, to: path, edit)
            let m = messages()
            #expect(m.reduced != nil && m.reduced == m.full, "\(what): \(m.reduced ?? "no error") vs \(m.full ?? "no error")")
        }
        // A version-1 file (no data checksums) loads with the full read's note.
        try CheckpointSurgery.rewrite(source, to: path, version1Layout: true) { $0.attributes["format_version"] = .int(1) }
        let old = try CheckpointModel.read(path, classMeans: true)
        #expect(old.notes == (try Checkpoint.read(path)).notes && old.notes.count == 1)
    }

    @Test func generatorsSkipInitialDrawsOnlyInsideTheScope() {
        let (uniform, normal, untouched, below) = MEMORandom.withoutInitialDraws { () -> (Double, Double, [UInt64], [UInt64]) in
            var r = MEMORandom(seed: 7)
            let (u, n) = (r.uniform(), r.normal())
            let state = r.stateWords
            _ = r.below(10)
            return (u, n, state, r.stateWords)
        }
        #expect(uniform == 0 && normal == 0)
        #expect(untouched == MEMORandom(seed: 7).stateWords)  // nothing drawn
        #expect(below != untouched)  // `below` still draws
        var outside = MEMORandom(seed: 7)
        #expect(outside.uniform() > 0 && outside.normal() != 0 && outside.stateWords != untouched)
    }
}
