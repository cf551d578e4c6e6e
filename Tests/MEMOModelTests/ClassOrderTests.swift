import Foundation
import Testing
@testable import MEMOModel

/// Class orders (PyCIL's numpy permutation, computed exactly) and the stage split.
@Suite struct ClassOrderTests {
    /// docs/memo.md's CIFAR-100 order (PyCIL, seed 1993).
    static let cifar100Order = [
        68, 56, 78, 8, 23, 84, 90, 65, 74, 76, 40, 89, 3, 92, 55, 9, 26, 80, 43, 38, 58, 70, 77, 1, 85,
        19, 17, 50, 28, 53, 13, 81, 45, 82, 6, 59, 83, 16, 15, 44, 91, 41, 72, 60, 79, 52, 20, 10, 31, 54,
        37, 95, 14, 71, 96, 98, 97, 2, 64, 66, 42, 22, 35, 86, 24, 34, 87, 21, 99, 0, 88, 27, 18, 94, 11,
        12, 47, 25, 30, 46, 62, 69, 36, 61, 7, 63, 75, 5, 32, 4, 51, 48, 73, 93, 39, 67, 29, 49, 57, 33,
    ]

    @Test func pycilOrdersMatchTheReference() {
        #expect(ClassOrder.pycil(classCount: 100) == Self.cifar100Order)
        #expect(ClassOrder.pycil(classCount: 10) == [4, 2, 7, 6, 0, 3, 5, 8, 9, 1])
    }

    /// Values printed by numpy 2.4.6:
    /// `python3 -c 'import numpy as np; np.random.seed(1993); print(np.random.permutation(37).tolist())'`
    /// (and `np.random.seed(0); np.random.permutation(12)` for the other seed).
    @Test func pycilOrdersMatchNumpyForOtherSizes() {
        #expect(ClassOrder.pycil(classCount: 7) == [0, 2, 3, 4, 5, 6, 1])
        #expect(ClassOrder.pycil(classCount: 37) == [24, 1, 8, 28, 2, 13, 22, 10, 6, 17, 23, 12, 35, 20, 15, 14, 21, 25,
                                                    32, 27, 11, 5, 0, 30, 18, 4, 19, 26, 16, 9, 34, 7, 31, 3, 29, 36, 33])
        let numpy200 = [
            168, 136, 51, 9, 183, 101, 171, 99, 42, 159, 191, 70, 16, 188, 27, 10, 175, 26, 68, 187, 98, 6, 85, 35, 112,
            43, 100, 0, 103, 181, 88, 59, 4, 2, 116, 174, 94, 80, 106, 1, 147, 17, 141, 131, 72, 23, 173, 54, 197, 118,
            87, 32, 79, 104, 91, 19, 135, 107, 178, 36, 11, 199, 142, 8, 122, 3, 28, 57, 153, 172, 190, 56, 49, 44, 97,
            62, 151, 169, 194, 55, 192, 12, 189, 78, 66, 180, 15, 137, 109, 134, 92, 119, 126, 52, 170, 40, 148, 65, 144,
            64, 138, 45, 77, 89, 154, 90, 71, 193, 74, 30, 113, 143, 96, 84, 67, 50, 186, 156, 69, 21, 18, 111, 108, 58,
            125, 157, 150, 110, 182, 129, 166, 83, 81, 60, 13, 165, 14, 176, 63, 117, 5, 22, 145, 121, 38, 41, 82, 127,
            114, 20, 31, 53, 37, 163, 196, 130, 152, 162, 86, 76, 24, 34, 184, 149, 33, 128, 198, 155, 146, 167, 139,
            120, 140, 102, 47, 25, 158, 123, 46, 164, 61, 7, 115, 75, 133, 160, 105, 132, 179, 124, 48, 73, 93, 39, 95,
            195, 29, 177, 185, 161,
        ]
        #expect(ClassOrder.pycil(classCount: 200) == numpy200)
        #expect(ClassOrder.pycil(classCount: 1) == [0])
        #expect(ClassOrder.pycil(classCount: 0) == [])
        #expect(ClassOrder.pycil(classCount: 12, seed: 0) == [6, 11, 4, 10, 2, 8, 1, 7, 9, 3, 0, 5])
    }

    @Test func mt19937MatchesTheReferenceOutput() {
        // MT19937 init_genrand(5489): the 1st and 10000th outputs given in the C++ standard.
        var g = NumpyLegacyRandom(seed: 5489)
        #expect(g.nextUInt32() == 3_499_211_612)
        for _ in 0..<9_998 { _ = g.nextUInt32() }
        #expect(g.nextUInt32() == 4_123_659_995)
    }

    @Test func ordersLoadFromFiles() throws {
        let dir = try DataFixtures.temporaryDirectory("order")
        defer { DataFixtures.cleanUp(dir) }
        let file = dir + "/order.txt"
        try DataFixtures.write(Array("# my order\n[4, 2, 7, 6, 0,\n 3 5 8 9 1]  # printed by python\n".utf8), to: file)
        #expect(try ClassOrder.load(file: file, classCount: 10) == [4, 2, 7, 6, 0, 3, 5, 8, 9, 1])
        #expect(ClassOrder.identity(4) == [0, 1, 2, 3])
        let cases: [(String, String)] = [
            ("0 1 2", "3 entries, the dataset has 4 classes"),
            ("0 1 2 2", "class 2 appears twice"),
            ("0 1 2 4", "class 4 is outside 0..<4"),
            ("0 1 two 3", "'two' is not an integer"),
        ]
        for (text, problem) in cases {
            try DataFixtures.write(Array(text.utf8), to: file)
            #expect(throws: DatasetError.invalidClassOrder(path: file, problem: problem)) {
                try ClassOrder.load(file: file, classCount: 4)
            }
        }
        #expect(throws: DatasetError.missingFile(path: dir + "/none.txt", hint: nil)) {
            try ClassOrder.load(file: dir + "/none.txt", classCount: 4)
        }
    }

    @Test func splitsFollowPyCIL() throws {
        func sizes(_ classes: Int, _ initial: Int, _ increment: Int) throws -> [Int] {
            try ClassIncrementalSplit(order: Array(0..<classes), initial: initial, increment: increment).taskSizes
        }
        #expect(try sizes(100, 10, 10) == [Int](repeating: 10, count: 10))
        #expect(try sizes(100, 50, 10) == [50, 10, 10, 10, 10, 10])
        #expect(try sizes(100, 50, 5) == [50] + [Int](repeating: 5, count: 10))
        #expect(try sizes(10, 2, 3) == [2, 3, 3, 2])
        #expect(try sizes(10, 10, 5) == [10])
        #expect(try sizes(7, 3, 3) == [3, 3, 1])
        #expect(try sizes(10, 9, 5) == [9, 1])

        let split = try ClassIncrementalSplit(order: ClassOrder.pycil(classCount: 10), initial: 4, increment: 3)
        #expect(split.taskSizes == [4, 3, 3] && split.taskCount == 3 && split.classCount == 10)
        #expect(split.classRange(task: 0) == 0..<4 && split.classRange(task: 1) == 4..<7 && split.classRange(task: 2) == 7..<10)
        // Order 4 2 7 6 0 3 5 8 9 1: original class 4 is label 0, class 1 is label 9.
        #expect(split.newLabel(original: 4) == 0 && split.newLabel(original: 1) == 9 && split.newLabel(original: 0) == 4)
        #expect((0..<10).allSatisfy { split.originalClass(label: split.newLabel(original: $0)) == $0 })
        #expect(split.task(ofLabel: 3) == 0 && split.task(ofLabel: 4) == 1 && split.task(ofLabel: 9) == 2)
    }

    @Test func invalidSplitsAreErrors() {
        #expect(throws: SplitError.initialNotPositive(0)) { try ClassIncrementalSplit(order: [0, 1], initial: 0, increment: 1) }
        #expect(throws: SplitError.incrementNotPositive(-1)) { try ClassIncrementalSplit(order: [0, 1], initial: 1, increment: -1) }
        #expect(throws: SplitError.initialExceedsClasses(initial: 3, classCount: 2)) {
            try ClassIncrementalSplit(order: [0, 1], initial: 3, increment: 1)
        }
        #expect(throws: SplitError.self) { try ClassIncrementalSplit(order: [0, 0], initial: 1, increment: 1) }
        #expect(SplitError.initialExceedsClasses(initial: 3, classCount: 2).description
            == "initial classes 3 exceed the dataset's 2 classes")
    }
}
