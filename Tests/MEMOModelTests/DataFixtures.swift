import Foundation

/// Writers of small files in the real on-disk formats (gzip, PNG, IDX, CIFAR binary) for the data
/// tests, built by hand so that the tests need no tool besides the library under test. Deflate
/// data is written as "stored" (uncompressed) blocks, which every inflater must accept.
enum DataFixtures {
    /// A fresh temporary directory, removed by `cleanUp`.
    static func temporaryDirectory(_ tag: String = "data") throws -> String {
        let path = NSTemporaryDirectory() + "memo-\(tag)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func cleanUp(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    // MARK: Checksums and deflate

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func littleEndian(_ v: UInt32) -> [UInt8] { bigEndian(v).reversed() }

    /// Raw deflate data made of stored blocks.
    static func deflateStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let final: UInt8 = start + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[start..<(start + n)]
            start += n
        } while start < data.count
        return out
    }

    /// A gzip member (RFC 1952) holding `data`.
    static func gzip(_ data: [UInt8]) -> [UInt8] {
        [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF] + deflateStored(data) + littleEndian(crc32(data))
            + littleEndian(UInt32(truncatingIfNeeded: data.count))
    }

    // MARK: PNG

    enum ColorType: UInt8 { case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6 }

    /// Encodes a PNG. `samples[y][x]` holds the pixel's samples (1 for gray and palette, 2 for
    /// gray+alpha, 3 for RGB, 4 for RGBA), each in `0..<(1 << bitDepth)`.
    static func png(width: Int, height: Int, bitDepth: Int, colorType: ColorType, samples: [[[Int]]],
                    palette: [[UInt8]] = [], transparency: [UInt8] = [], interlaced: Bool = false) -> [UInt8] {
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return bigEndian(UInt32(body.count)) + typed + bigEndian(crc32(typed))
        }
        /// One scanline of the pixels at `xs` of row `y`, filter byte 0 first.
        func scanline(_ y: Int, _ xs: [Int]) -> [UInt8] {
            var line: [UInt8] = [0]
            var acc = 0, bits = 0
            for x in xs {
                for s in samples[y][x] {
                    if bitDepth == 16 {
                        line += [UInt8(s >> 8), UInt8(s & 0xFF)]
                    } else {
                        acc = acc << bitDepth | s
                        bits += bitDepth
                        if bits == 8 { line.append(UInt8(acc)); acc = 0; bits = 0 }
                    }
                }
            }
            if bits > 0 { line.append(UInt8(acc << (8 - bits))) }
            return line
        }
        var raw: [UInt8] = []
        if interlaced {
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            for (x0, y0, dx, dy) in passes {
                let xs = Array(stride(from: x0, to: width, by: dx))
                guard !xs.isEmpty else { continue }
                for y in stride(from: y0, to: height, by: dy) { raw += scanline(y, xs) }
            }
        } else {
            for y in 0..<height { raw += scanline(y, Array(0..<width)) }
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height))
            + [UInt8(bitDepth), colorType.rawValue, 0, 0, interlaced ? 1 : 0])
        if !palette.isEmpty { out += chunk("PLTE", palette.flatMap { $0 }) }
        if !transparency.isEmpty { out += chunk("tRNS", transparency) }
        out += chunk("IDAT", [0x78, 0x01] + deflateStored(raw) + bigEndian(adler32(raw)))
        out += chunk("IEND", [])
        return out
    }

    // MARK: Dataset files

    /// An IDX file of unsigned bytes with the given dimensions.
    static func idx(dimensions: [Int], values: [UInt8]) -> [UInt8] {
        [0, 0, 8, UInt8(dimensions.count)] + dimensions.flatMap { bigEndian(UInt32($0)) } + values
    }

    /// Deterministic test pixel value of image `i`, row `y`, column `x`, channel `c`.
    static func pixel(_ i: Int, _ y: Int, _ x: Int, _ c: Int) -> UInt8 {
        UInt8((i * 31 + y * 7 + x * 3 + c * 85) % 256)
    }

    /// CIFAR binary records: `labelBytes` label bytes (the last one `labels[i]`, the others 7),
    /// then the image as CHW planes of `pixel(i, y, x, c)`.
    static func cifarRecords(labels: [Int], labelBytes: Int) -> [UInt8] {
        var out: [UInt8] = []
        for (i, label) in labels.enumerated() {
            out += [UInt8](repeating: 7, count: labelBytes - 1) + [UInt8(label)]
            for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { out.append(pixel(i, y, x, c)) } } }
        }
        return out
    }

    // MARK: Zip

    /// A zip archive of stored (uncompressed) entries, as `torch.save` writes them, without ZIP64
    /// records (libzip reads both).
    static func storedZip(_ entries: [(name: String, data: [UInt8])]) -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        var out: [UInt8] = [], central: [UInt8] = []
        for (name, data) in entries {
            let offset = out.count, crc = littleEndian(crc32(data)), size = littleEndian(UInt32(data.count))
            let fields = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + crc + size + size + le16(name.utf8.count) + le16(0)
            out += [0x50, 0x4B, 0x03, 0x04] + fields + Array(name.utf8) + data
            central += [0x50, 0x4B, 0x01, 0x02] + le16(20) + fields + le16(0) + le16(0) + le16(0) + [0, 0, 0, 0]
                + littleEndian(UInt32(offset)) + Array(name.utf8)
        }
        let start = out.count
        out += central
        out += [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
            + littleEndian(UInt32(central.count)) + littleEndian(UInt32(start)) + le16(0)
        return out
    }
}
