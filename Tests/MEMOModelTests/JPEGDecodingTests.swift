import Foundation
import Testing
@testable import MEMOModel

/// JPEG through libjpeg-turbo: a round trip keeps the pixels within JPEG's loss, gray JPEGs come
/// back as RGB, a damaged file is refused naming it, `readImage` tells PNG from JPEG by content,
/// and `memo-infer classify` answers a JPEG as it answers the decoded pixels.
@Suite struct JPEGDecodingTests {
    static func smoothImage(width: Int = 40, height: Int = 30) -> RGBImage {
        var px: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width { px += [UInt8(40 + 4 * x), UInt8(60 + 5 * y), UInt8(200 - 2 * x - y)] }
        }
        return RGBImage(width: width, height: height, pixels: px)
    }

    @Test func roundTripKeepsThePixelsWithinJPEGLoss() throws {
        let image = Self.smoothImage()
        let bytes = try encodeJPEG(image, quality: 95)
        #expect(looksLikeJPEG(bytes))
        let back = try readJPEG(data: bytes, name: "memory.jpg")
        #expect(back.width == 40 && back.height == 30)
        let worst = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 4, "quality 95, 4:4:4 on a smooth gradient: max |difference| \(worst)")
        #expect(worst > 0 || back.pixels == image.pixels)
    }

    @Test func grayImagesAndContentDispatch() throws {
        let dir = try DataFixtures.temporaryDirectory("jpeg")
        defer { DataFixtures.cleanUp(dir) }
        let gray = RGBImage(width: 16, height: 16, pixels: (0..<256).flatMap { i in Array(repeating: UInt8(i), count: 3) })
        let bytes = try encodeJPEG(gray, quality: 90)
        // Named .png on purpose: readImage looks at the bytes.
        try DataFixtures.write(bytes, to: dir + "/gray.png")
        let back = try readImage(dir + "/gray.png")
        #expect(back.isGray && back.width == 16)
        // And a PNG still reads as one.
        try writePNG(gray, to: dir + "/real.png")
        #expect(try readImage(dir + "/real.png") == gray)
    }

    @Test func damagedFilesAreRefusedNamingThem() throws {
        let dir = try DataFixtures.temporaryDirectory("jpeg-bad")
        defer { DataFixtures.cleanUp(dir) }
        let bytes = try encodeJPEG(Self.smoothImage())
        try DataFixtures.write(Array(bytes.prefix(bytes.count / 2)), to: dir + "/cut.jpg")
        #expect(throws: JPEGError.self) { try readJPEG(dir + "/cut.jpg") }
        do { _ = try readJPEG(dir + "/cut.jpg") } catch {
            #expect("\(error)".hasPrefix(dir + "/cut.jpg: not a valid JPEG: "), "\(error)")
        }
        try DataFixtures.write([0xFF, 0xD8, 0xFF, 0xE0, 1, 2], to: dir + "/header.jpg")
        #expect(throws: JPEGError.self) { try readImage(dir + "/header.jpg") }
        #expect(throws: JPEGError.cannotRead(path: dir + "/none.jpg", reason: "no such file")) { try readJPEG(dir + "/none.jpg") }
    }

    @Test func classifyTakesJPEG() throws {
        let (path, c) = try InferRunTests.checkpoint(1)
        let classifier = try Classifier(checkpoint: c, path: path)
        let dir = try DataFixtures.temporaryDirectory("jpeg-classify")
        defer { DataFixtures.cleanUp(dir) }
        let image = Self.smoothImage(width: 32, height: 32)
        try DataFixtures.write(try encodeJPEG(image), to: dir + "/a.jpg")
        let decoded = try readJPEG(dir + "/a.jpg")
        let report = ClassifyReport.run(classifier, arguments: [dir], head: .cnn, top: 3)
        #expect(report.failures.isEmpty && report.entries.map(\.file) == [dir + "/a.jpg"])
        #expect(report.entries.first?.predictions == classifier.predict([decoded], head: .cnn, top: 3).first)
    }
}
