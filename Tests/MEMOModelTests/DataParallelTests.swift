import Foundation
import Testing
@testable import MEMOModel

/// Data-parallel training: the shard arithmetic, and a real `mpirun -np 2` run of memo-train
/// checked against its single-process oracle (`DataParallel.simulated`), which computes the same
/// per-shard gradients one after the other and sums them.
@Suite struct DataParallelTests {
    @Test func shardsSplitTheBatchEvenlyAndCoverItOnce() {
        let two = DataParallel.simulated(ranks: 2)
        #expect(two.shard(0, of: 128) == 0..<64 && two.shard(1, of: 128) == 64..<128)
        #expect(two.shard(0, of: 15) == 0..<8 && two.shard(1, of: 15) == 8..<15)
        #expect(two.shard(0, of: 1) == 0..<1 && two.shard(1, of: 1).isEmpty)
        let three = DataParallel.simulated(ranks: 3)
        #expect((0..<3).map { three.shard($0, of: 5) } == [0..<2, 2..<4, 4..<5])
        for ranks in 1...5 {
            let p = DataParallel.simulated(ranks: ranks)
            for rows in 0...20 {
                let shards = (0..<ranks).map { p.shard($0, of: rows) }
                #expect(shards.flatMap { Array($0) } == Array(0..<rows))
                #expect(shards.map(\.count).max()! - shards.map(\.count).min()! <= 1)
            }
        }
    }

    /// The oracle with one rank is the plain step: same parameters after a stage, bit for bit.
    @Test func oneSimulatedRankIsThePlainStep() throws {
        func digests(_ parallel: DataParallel) throws -> [UInt64] {
            let t = try TinyRun.trainer()
            t.parallel = parallel
            var out: [UInt64] = []
            t.afterStep = { net, _, _, _ in out.append(net.parameterDigest()) }
            try EngineThreads.with(1) { _ = try t.trainNextStage() }
            return out
        }
        let plain = try digests(.single)
        #expect(plain.count == 6)  // 2 epochs of 24 images in batches of 8
        #expect(try digests(.simulated(ranks: 1)) == plain)
    }

    static let mpirun: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let canRun = mpirun != nil && Executables.path("memo-train") != nil

    /// Two ranks of a tiny two-stage Fashion-MNIST run (batches of 15 split 8 + 7, so the shards'
    /// weights differ) against the oracle in this process: the parameters after every step, the
    /// exemplars, the class means and the stored evaluations are bitwise equal, at one oneDNN
    /// thread per rank.
    @Test(.enabled(if: canRun, "mpirun (Debian: openmpi-bin) or the memo-train binary is missing"))
    func twoRanksEqualTheOracleBitForBit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("memo-dp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flags = ["-net", "memo_resnet14_cifar", "--dataset", "fashion-mnist", "--train-per-class", "20", "--test-per-class", "10",
                     "-init", "5", "-incre", "5", "-ms", "40", "--init_epoch", "2", "--epochs", "1", "--batch_size", "15",
                     "--train_base", "--threads", "1", "--eval-every", "0"]

        let process = Process()
        process.executableURL = URL(fileURLWithPath: DataParallelTests.mpirun!)
        process.arguments = ["--oversubscribe", "-np", "2", Executables.path("memo-train")!] + flags + ["--out", dir + "/mpi"]
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["MEMO_STEP_DIGESTS"] = dir + "/steps"
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "mpirun failed:\n\(log)")
        #expect(log.contains("2 MPI ranks"))

        // The oracle: the same request, both shards in this process.
        var config = MEMOConfig()
        config.backbone = .memoResNet14
        config.dataset = .fashionMNIST
        config.trainPerClass = 20
        config.testPerClass = 10
        config.initCls = 5
        config.increment = 5
        config.memorySize = 40
        config.initEpoch = 2
        config.epochs = 1
        config.batchSize = 15
        config.trainBase = true
        config.threads = 1
        config.evalEvery = 0
        let run = try TrainingRun(TrainingRequest(start: .new(folder: dir + "/oracle"), config: config, given: []),
                                  parallel: .simulated(ranks: 2))
        run.log = { _ in }
        var oracleSteps: [String] = []
        run.afterStep = { net, s, e, b in oracleSteps.append("\(s) \(e) \(b) \(String(net.parameterDigest(), radix: 16))") }
        try run.train()

        let rank0 = try String(contentsOfFile: dir + "/steps.rank0", encoding: .utf8).split(separator: "\n").map(String.init)
        let rank1 = try String(contentsOfFile: dir + "/steps.rank1", encoding: .utf8).split(separator: "\n").map(String.init)
        // Stage 0: 100 images, 7 batches x 2 epochs; stage 1: 100 new + 40 exemplars, 10 batches.
        #expect(oracleSteps.count == 24)
        #expect(rank0 == oracleSteps)
        #expect(rank1 == oracleSteps)

        for stage in 0..<2 {
            let a = try Checkpoint.read(dir + "/mpi/" + Checkpoint.fileName(stage: stage))
            let b = try Checkpoint.read(dir + "/oracle/" + Checkpoint.fileName(stage: stage))
            #expect(a.config.ranks == 2 && b.config.ranks == 2)
            #expect(a.tensors == b.tensors)
            #expect(a.memory.entries.map(\.index) == b.memory.entries.map(\.index))
            #expect(a.classMeans == b.classMeans)
            #expect(a.evaluation == b.evaluation)
            #expect(a.cnnTopK == b.cnnTopK && a.nmeTopK == b.nmeTopK)
        }
    }
}
