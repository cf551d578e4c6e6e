import Foundation
import Testing
@testable import MEMOModel

/// PNG decoding through libpng's simplified API: every colour type and bit depth gives 8-bit RGB
/// with the colours as stored (gray repeated, palette expanded, alpha dropped, 16-bit reduced).
@Suite struct PNGDecodingTests {
    static let width = 5, height = 4

    /// The reference colours: 8 distinct values per channel so a 3-bit palette index fits.
    static func rgb(_ x: Int, _ y: Int) -> [Int] {
        let k = (x + y * width) % 8
        return [k * 36, 255 - k * 30, (k * 77) % 256]
    }
    static func gray(_ x: Int, _ y: Int) -> Int { (x * 50 + y * 17) % 256 }
    static func alpha(_ x: Int, _ y: Int) -> Int { [0, 255, 128, 1][(x + y) % 4] }

    static func grid(_ f: (Int, Int) -> [Int]) -> [[[Int]]] {
        (0..<height).map { y in (0..<width).map { x in f(x, y) } }
    }

    static var expectedRGB: RGBImage {
        RGBImage(width: width, height: height, pixels: grid(rgb).flatMap { $0.flatMap { $0.map { UInt8($0) } } })
    }
    static var expectedGray: RGBImage {
        RGBImage(width: width, height: height, pixels: grid { x, y in [gray(x, y)] }.flatMap { $0.flatMap { s in
            [UInt8(s[0]), UInt8(s[0]), UInt8(s[0])] } })
    }

    static func decode(_ bytes: [UInt8], _ name: String) throws -> RGBImage {
        try readPNG(data: bytes, name: name)
    }

    @Test(arguments: [false, true])
    func rgbAndRGBAGiveTheStoredColours(interlaced: Bool) throws {
        let rgb = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 8, colorType: .rgb,
                                   samples: Self.grid(Self.rgb), interlaced: interlaced)
        #expect(try Self.decode(rgb, "rgb.png") == Self.expectedRGB)
        let rgba = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 8, colorType: .rgba,
                                    samples: Self.grid { x, y in Self.rgb(x, y) + [Self.alpha(x, y)] },
                                    interlaced: interlaced)
        // Alpha is dropped (PIL's convert("RGB")): a fully transparent pixel keeps its colour.
        #expect(try Self.decode(rgba, "rgba.png") == Self.expectedRGB)
    }

    /// `expected` with the pixels whose alpha is 0 made black (the interlaced 16-bit detour).
    static func blackWhereTransparent(_ expected: RGBImage) -> RGBImage {
        var e = expected
        for y in 0..<height { for x in 0..<width where alpha(x, y) == 0 {
            for c in 0..<3 { e.pixels[(y * width + x) * 3 + c] = 0 }
        } }
        return e
    }

    @Test(arguments: [false, true])
    func sixteenBitRGBAndRGBAReduceToTheHighByte(interlaced: Bool) throws {
        let rgb16 = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 16, colorType: .rgb,
                                     samples: Self.grid { x, y in Self.rgb(x, y).map { $0 * 257 } }, interlaced: interlaced)
        #expect(try Self.decode(rgb16, "rgb16.png") == Self.expectedRGB)
        let rgba16 = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 16, colorType: .rgba,
                                      samples: Self.grid { x, y in Self.rgb(x, y).map { $0 * 257 } + [Self.alpha(x, y) * 257] },
                                      interlaced: interlaced)
        // Interlaced 16-bit with alpha goes around a libpng bug via premultiplied data: fully
        // transparent pixels lose their colour; all others, even at alpha 1/255, keep it.
        #expect(try Self.decode(rgba16, "rgba16.png")
            == (interlaced ? Self.blackWhereTransparent(Self.expectedRGB) : Self.expectedRGB))
    }

    @Test(arguments: [false, true])
    func sixteenBitValuesBetweenLevelsRoundToNearest(interlaced: Bool) throws {
        // v16 / 257 rounded: 0x1280 -> 18 (18.43), 0x12F0 -> 19 (18.86), 0xFFFF -> 255, 0x0080 -> 0.
        let png = DataFixtures.png(width: 4, height: 1, bitDepth: 16, colorType: .gray,
                                   samples: [[[0x1280], [0x12F0], [0xFFFF], [0x0080]]], interlaced: interlaced)
        #expect(try Self.decode(png, "g16.png").pixels == [18, 18, 18, 19, 19, 19, 255, 255, 255, 0, 0, 0])
    }

    @Test(arguments: [false, true])
    func grayAndGrayAlphaAreRepeated(interlaced: Bool) throws {
        let g8 = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 8, colorType: .gray,
                                  samples: Self.grid { x, y in [Self.gray(x, y)] }, interlaced: interlaced)
        #expect(try Self.decode(g8, "gray8.png") == Self.expectedGray)
        let ga8 = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 8, colorType: .grayAlpha,
                                   samples: Self.grid { x, y in [Self.gray(x, y), Self.alpha(x, y)] }, interlaced: interlaced)
        #expect(try Self.decode(ga8, "ga8.png") == Self.expectedGray)
        let g16 = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 16, colorType: .gray,
                                   samples: Self.grid { x, y in [Self.gray(x, y) * 257] }, interlaced: interlaced)
        #expect(try Self.decode(g16, "gray16.png") == Self.expectedGray)
        let ga16 = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 16, colorType: .grayAlpha,
                                    samples: Self.grid { x, y in [Self.gray(x, y) * 257, Self.alpha(x, y) * 257] },
                                    interlaced: interlaced)
        #expect(try Self.decode(ga16, "ga16.png")
            == (interlaced ? Self.blackWhereTransparent(Self.expectedGray) : Self.expectedGray))
    }

    @Test func lowBitDepthGrayIsScaledTo8Bits() throws {
        // 1-bit: 0/255; 2-bit: v * 85; 4-bit: v * 17.
        for (depth, scale) in [(1, 255), (2, 85), (4, 17)] {
            let levels = 1 << depth
            let samples = Self.grid { x, y in [(x + 2 * y) % levels] }
            let png = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: depth, colorType: .gray,
                                       samples: samples, interlaced: depth == 2)
            let expected = samples.flatMap { $0.flatMap { s in [UInt8](repeating: UInt8(s[0] * scale), count: 3) } }
            #expect(try Self.decode(png, "gray\(depth).png").pixels == expected, "bit depth \(depth)")
        }
    }

    @Test(arguments: [(8, false), (4, true), (8, true)])
    func paletteIsExpandedAndTransparencyDropped(bitDepth: Int, interlaced: Bool) throws {
        let palette: [[UInt8]] = (0..<8).map { k in Self.rgb(k, 0).map { UInt8($0) } }
        let png = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: bitDepth, colorType: .palette,
                                   samples: Self.grid { x, y in [(x + y * Self.width) % 8] },
                                   palette: palette, transparency: [0, 255, 128], interlaced: interlaced)
        #expect(try Self.decode(png, "palette.png") == Self.expectedRGB)
    }

    @Test func writeThenReadRoundTrips() throws {
        let dir = try DataFixtures.temporaryDirectory("png")
        defer { DataFixtures.cleanUp(dir) }
        let path = dir + "/out.png"
        try writePNG(Self.expectedRGB, to: path)
        #expect(try readPNG(path) == Self.expectedRGB)
    }

    @Test func brokenFilesAreErrorsNamingTheFile() throws {
        let dir = try DataFixtures.temporaryDirectory("png")
        defer { DataFixtures.cleanUp(dir) }
        let good = DataFixtures.png(width: Self.width, height: Self.height, bitDepth: 8, colorType: .rgb,
                                    samples: Self.grid(Self.rgb))
        // Not a PNG at all.
        let notPNG = dir + "/not-a-png.png"
        try DataFixtures.write(Array("hello".utf8), to: notPNG)
        let e1 = #expect(throws: PNGError.self) { try readPNG(notPNG) }
        #expect(e1?.description.hasPrefix(notPNG + ": not a valid PNG") == true)
        // Truncated inside the image data.
        let truncated = dir + "/truncated.png"
        try DataFixtures.write(Array(good.prefix(good.count - 30)), to: truncated)
        let e2 = #expect(throws: PNGError.self) { try readPNG(truncated) }
        #expect(e2?.description.contains(truncated) == true)
        // A corrupted byte (the IDAT CRC no longer matches).
        var corrupt = good
        corrupt[60] ^= 0xFF
        let e3 = #expect(throws: PNGError.self) { try readPNG(data: corrupt, name: "corrupt.png") }
        #expect(e3?.description.hasPrefix("corrupt.png: ") == true)
        // Missing file.
        let e4 = #expect(throws: PNGError.self) { try readPNG(dir + "/missing.png") }
        #expect(e4 == .cannotRead(path: dir + "/missing.png", reason: "No such file or directory"))
        // Writing into a missing folder.
        #expect(throws: PNGError.self) { try writePNG(Self.expectedRGB, to: dir + "/no/such/dir/x.png") }
    }

    @Test func hugeDeclaredSizeIsRefused() throws {
        // A valid 1x1 image whose header claims 20000 x 20000 pixels.
        var png = DataFixtures.png(width: 1, height: 1, bitDepth: 8, colorType: .gray, samples: [[[0]]])
        let ihdr = Array(png[12..<29])
        var patched = Array(ihdr[0..<4]) + DataFixtures.bigEndian(20000) + DataFixtures.bigEndian(20000) + Array(ihdr[12...])
        png.replaceSubrange(12..<29, with: patched)
        png.replaceSubrange(29..<33, with: DataFixtures.bigEndian(DataFixtures.crc32(patched)))
        patched.removeAll()
        let error = #expect(throws: PNGError.self) { try readPNG(data: png, name: "huge.png") }
        #expect(error == .tooLarge(path: "huge.png", width: 20000, height: 20000))
    }

    /// Expected values from Pillow 11 (`Image.fromarray(a, "RGB").resize((W, H), Image.BILINEAR)`
    /// with `a[y, x, c] = (37x + 91y + 53c + 7xy) % 256`), the resize torchvision applies to PIL images.
    static func resizeInput(width: Int, height: Int) -> RGBImage {
        var p: [UInt8] = []
        for y in 0..<height { for x in 0..<width { for c in 0..<3 { p.append(UInt8((x * 37 + y * 91 + c * 53 + x * y * 7) % 256)) } } }
        return RGBImage(width: width, height: height, pixels: p)
    }

    @Test func resizeMatchesPillowBilinear() {
        let shrink = resizeBilinear(Self.resizeInput(width: 7, height: 5), width: 3, height: 4)
        #expect(shrink.pixels == [56, 109, 149, 120, 147, 174, 158, 143, 113, 147, 154, 137, 125, 110, 122, 114, 129, 136,
                                  110, 117, 133, 142, 154, 139, 145, 128, 135, 140, 152, 122, 136, 129, 133, 168, 139, 110])
        let widthOnly = resizeBilinear(Self.resizeInput(width: 7, height: 5), width: 4, height: 5)
        #expect(widthOnly.pixels == [19, 72, 125, 77, 130, 183, 145, 198, 200, 203, 122, 65, 114, 167, 208, 183, 164, 84,
                                     79, 60, 113, 76, 129, 182, 197, 140, 59, 83, 85, 138, 126, 179, 181, 205, 124, 67,
                                     47, 100, 153, 138, 191, 172, 193, 113, 94, 91, 132, 185, 142, 183, 126, 172, 91, 93,
                                     107, 160, 162, 208, 127, 70])
        let grow = resizeBilinear(Self.resizeInput(width: 5, height: 3), width: 8, height: 7)
        #expect(grow.width == 8 && grow.height == 7)
        let growExpected: [UInt8] = [
            0, 53, 106, 16, 69, 122, 39, 92, 145, 62, 115, 168, 86, 139, 192, 109, 162, 215, 132, 185, 238, 148, 201, 254,
            13, 66, 119, 29, 82, 135, 53, 106, 157, 77, 130, 158, 101, 143, 171, 125, 144, 194, 128, 165, 218, 128, 181, 234,
            52, 105, 158, 70, 123, 176, 96, 149, 192, 121, 174, 126, 147, 154, 107, 172, 88, 132, 116, 105, 158, 70, 123, 176,
            91, 144, 197, 110, 163, 216, 138, 191, 228, 165, 218, 95, 193, 166, 43, 220, 33, 70, 104, 45, 98, 11, 64, 117,
            130, 183, 126, 150, 155, 147, 173, 123, 167, 134, 152, 105, 129, 136, 89, 158, 74, 118, 106, 95, 148, 62, 115, 168,
            169, 222, 56, 191, 148, 77, 208, 56, 106, 102, 87, 115, 65, 107, 135, 97, 115, 166, 107, 144, 197, 113, 166, 219,
            182, 235, 32, 204, 145, 54, 220, 33, 86, 92, 65, 118, 44, 97, 150, 76, 129, 182, 108, 161, 214, 130, 183, 236,
        ]
        #expect(grow.pixels == growExpected)
        let heightOnly = resizeBilinear(Self.resizeInput(width: 7, height: 5), width: 7, height: 9)
        #expect(Array(heightOnly.pixels.prefix(21)) == [0, 53, 106, 37, 90, 143, 74, 127, 180, 111, 164, 217, 148, 201, 254,
                                                        185, 238, 35, 222, 19, 72])
        let typical = resizeBilinear(Self.resizeInput(width: 40, height: 45), width: 32, height: 32)
        let weighted = typical.pixels.enumerated().reduce(0) { ($0 + ($1.offset + 1) * Int($1.element)) % 2_147_483_647 }
        #expect(typical.pixels.reduce(0) { $0 + Int($1) } == 392_279)
        #expect(weighted == 602_972_219)
        #expect(resizeBilinear(Self.expectedRGB, width: Self.width, height: Self.height) == Self.expectedRGB)
    }
}
