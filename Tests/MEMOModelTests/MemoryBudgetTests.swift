import Foundation
import Testing
@testable import MEMOModel

/// Parameter counts, aligned budgets (docs/memo.md's table and the auc protocol's `-ms`), the size
/// parser and AUC.
@Suite struct MemoryBudgetTests {
    /// Parameter tensor shapes of a CIFAR ResNet as in a PyTorch state dict (conv weights, BN
    /// weight and bias), summed independently of the library's formula.
    static func countByShapes(blocksPerStage n: Int) -> (generalized: Int, specialized: Int) {
        var shapes: [[Int]] = [[16, 3, 3, 3], [16], [16]]
        var specialized: [[Int]] = []
        var inputs = 16
        for (stage, width) in [16, 32, 64].enumerated() {
            for _ in 0..<n {
                let block = [[width, inputs, 3, 3], [width], [width], [width, width, 3, 3], [width], [width]]
                if stage == 2 { specialized += block } else { shapes += block }
                inputs = width
            }
        }
        let sum = { (s: [[Int]]) in s.map { $0.reduce(1, *) }.reduce(0, +) }
        return (sum(shapes), sum(specialized))
    }

    @Test func resNetParameterCounts() {
        // Values printed by PyTorch (count_parameters) from the reference's convs/memo_cifar_resnet.py
        // and convs/cifar_resnet.py: (generalized, specialized, plain ResNet).
        let reference: [Int: (Int, Int, Int)] = [
            2: (42_320, 129_536, 171_856), 3: (65_552, 203_520, 269_072),
            4: (88_784, 277_504, 366_288), 5: (112_016, 351_488, 463_504),
        ]
        for (n, expected) in reference {
            let shapes = Self.countByShapes(blocksPerStage: n)
            #expect(ParameterCount.generalized(blocksPerStage: n) == expected.0)
            #expect(ParameterCount.specializedBlock(blocksPerStage: n) == expected.1)
            #expect(ParameterCount.singleBackbone(blocksPerStage: n) == expected.2)
            #expect(shapes.generalized == expected.0 && shapes.specialized == expected.1)
        }
        #expect(BudgetArchitecture.convNet2.generalizedParameters == 1_920)
        #expect(BudgetArchitecture.convNet2.fullParameters == 38_976)
        #expect(ParameterCount.fc(specializedBlocks: 10, classes: 100) == 64_100)
        #expect(ParameterCount.auxFC(newClasses: 10) == 715)
    }

    @Test func fairBudgetTable() throws {
        // docs/memo.md: split, T, MEMO -ms, single-backbone -ms, total MiB.
        let table: [(Int, Int, Int, Int, Int, Double)] = [
            (0, 10, 10, 3312, 7431, 23.54), (0, 5, 20, 4771, 13466, 41.22), (0, 20, 5, 2583, 4414, 14.70),
            (50, 10, 6, 2729, 5017, 16.47), (50, 5, 11, 3458, 8035, 25.31),
        ]
        for (base, increment, stages, memo, single, mib) in table {
            let budget = try MemoryBudget(.fair, architecture: .resNet32, initialClasses: base == 0 ? increment : base,
                                          increment: increment, classCount: 100)
            #expect(budget.stages == stages)
            #expect(budget.memoExemplars == memo)
            #expect(budget.singleBackboneExemplars == single)
            #expect(budget.derExemplars == 2000)
            #expect((budget.totalMiB * 100).rounded() / 100 == mib)
        }
        let b0inc10 = try MemoryBudget(.fair, architecture: .resNet32, initialClasses: 10, increment: 10, classCount: 100)
        #expect(b0inc10.totalBytes == 24_684_160)
    }

    @Test func aucProtocolPoints() throws {
        let points: [(BudgetArchitecture, Int, Double)] = [
            (.convNet2, 2118, 7.63), (.resNet(blocksPerStage: 2), 2495, 12.42),
            (.resNet(blocksPerStage: 3), 2768, 16.12), (.resNet(blocksPerStage: 4), 3040, 19.83),
            (.resNet32, 3312, 23.54),
        ]
        for (architecture, memo, mib) in points {
            let budget = try MemoryBudget(.auc, architecture: architecture, initialClasses: 10, increment: 10, classCount: 100)
            #expect(budget.memoExemplars == memo, "\(architecture)")
            #expect((budget.totalMiB * 100).rounded() / 100 == mib, "\(architecture)")
        }
        // At the ConvNet2 point the budget is ResNet32 + 2000 exemplars: iCaRL keeps 2000,
        // DER with ten ConvNet2 gets floor((463504 - 389760) * 4 / 3072) = 96 extra.
        let conv = try MemoryBudget(.auc, architecture: .convNet2, initialClasses: 10, increment: 10, classCount: 100)
        #expect(conv.singleBackboneExemplars == 2000 && conv.derExemplars == 2096)
    }

    @Test func exemplarsFromABudgetString() throws {
        #expect(try parseByteSize("23.54MiB") == 24_683_479)
        #expect(try parseByteSize("24684160") == 24_684_160)
        #expect(try parseByteSize("23.5MB") == 23_500_000)
        #expect(try parseByteSize(" 1 KiB ") == 1024)
        #expect(try parseByteSize("2gb") == 2_000_000_000)
        for bad in ["", "MiB", "abc", "12XB", "1.2.3MB", "-5MB"] {
            #expect(throws: MemoryBudgetError.unreadableSize(bad)) { try parseByteSize(bad) }
        }
        for text in ["23.54MiB", "24684160"] {
            #expect(try exemplarsForBudget(totalBytes: parseByteSize(text), blocksPerStage: 5, stages: 10) == 3312)
        }
        // memo_resnet14 with 10 stages needs (42320 + 10 * 129536) * 4 = 5,350,720 bytes.
        #expect(throws: MemoryBudgetError.budgetTooSmall(budgetBytes: 5_000_000, modelBytes: 5_350_720)) {
            try exemplarsForBudget(totalBytes: 5_000_000, blocksPerStage: 2, stages: 10)
        }
        #expect(throws: MemoryBudgetError.invalidSplit(initialClasses: 0, increment: 10, classCount: 100)) {
            try MemoryBudget(.fair, architecture: .resNet32, initialClasses: 0, increment: 10, classCount: 100)
        }
        // A remainder stage counts: 10 + 4 x 20 + 10 = 100 classes in 6 stages.
        #expect(try MemoryBudget.stageCount(initialClasses: 10, increment: 20, classCount: 100) == 6)
    }

    @Test func memoryReport() {
        let report = MemoryReport.memo(blocksPerStage: 5, stage: 9, classesSeen: 100, newClasses: 10, exemplarCount: 3312)
        #expect(report.backboneParameters == 112_016 + 10 * 351_488)
        #expect(report.classifierParameters == 64_100 + 715)
        #expect(report.budgetBytes == 3_626_896 * 4 + 3312 * 3072)
        #expect(report.budgetBytes <= 24_684_160)
        #expect(report.totalBytes == (3_626_896 + 64_815) * 4 + 3312 * 3072)
        let first = MemoryReport.memo(blocksPerStage: 5, stage: 0, classesSeen: 10, newClasses: 10, exemplarCount: 0)
        #expect(abs(first.modelInExemplars - 603.5208) < 1e-4)   // the paper's "603 exemplars"
        let table = report.table
        #expect(table.contains("generalized blocks") && table.contains("112016") && table.contains("specialized block 9"))
    }

    @Test func areaUnderCurve() {
        // (20 - 10) * (0.5 + 0.7) / 2 + (30 - 20) * (0.7 + 0.6) / 2 = 6 + 6.5.
        #expect(abs(auc(points: [(30, 0.6), (10, 0.5), (20, 0.7)]) - 12.5) < 1e-12)
        #expect(auc(points: [(10, 0.5)]) == 0)
    }
}
