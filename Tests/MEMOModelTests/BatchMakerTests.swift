import Foundation
import Testing
@testable import MEMOModel

/// `makeBatch`: normalisation values equal torchvision's, and the augmentations equal a plain
/// reference implementation of torchvision's pipeline (pad, crop, flip, Pillow brightness).
@Suite struct BatchMakerTests {
    static let cifar100Mean: [Float] = [0.5071, 0.4867, 0.4408]
    static let cifar100Std: [Float] = [0.2675, 0.2565, 0.2761]

    /// Values from torchvision 0.x / torch 2.15 (`ToTensor()`, `Normalize(CIFAR-100 mean, std)`;
    /// for gray `Pad(2)` first and `Normalize((0.2860,), (0.3530,))`), printed with `float.hex()`.
    @Test func normalisationMatchesTorchvisionExactly() {
        var pixels = [UInt8](repeating: 0, count: 32 * 32 * 3)
        func set(_ y: Int, _ x: Int, _ v: [UInt8]) { for c in 0..<3 { pixels[(y * 32 + x) * 3 + c] = v[c] } }
        set(0, 0, [0, 1, 2]); set(0, 1, [128, 200, 255]); set(5, 7, [17, 99, 254])
        let rgb = ImageSet(pixels: pixels + pixels, labels: [3, 4], height: 32, width: 32, channels: 3)
        var rng = MEMORandom(seed: 1)
        var out: [Float] = []
        makeBatch(from: rgb, indices: [1], mean: Self.cifar100Mean, std: Self.cifar100Std, augmentation: nil, rng: &rng, into: &out)
        #expect(out.count == 3 * 32 * 32)
        func at(_ c: Int, _ y: Int, _ x: Int) -> Float { out[c * 1024 + y * 32 + x] }
        #expect([at(0, 0, 0), at(1, 0, 0), at(2, 0, 0)] == [-0x1.e54ca6p+0, -0x1.e1d65cp+0, -0x1.91700ep+0])
        #expect([at(0, 0, 1), at(1, 0, 1), at(2, 0, 1)] == [-0x1.3ac45ep-6, 0x1.29089ap+0, 0x1.033ec4p+1])
        #expect([at(0, 5, 7), at(1, 5, 7), at(2, 5, 7)] == [-0x1.a57fb0p+0, -0x1.89174ep-2, 0x1.016d5ap+1])
        #expect(rng.stateWords == MEMORandom(seed: 1).stateWords)  // no augmentation, no draws

        var gray = [UInt8](repeating: 0, count: 28 * 28)
        gray[0] = 255; gray[27 * 28 + 27] = 100; gray[3 * 28 + 4] = 7
        let fashion = ImageSet(pixels: gray, labels: [0], height: 28, width: 28, channels: 1)
        makeBatch(from: fashion, indices: [0, 0], mean: [0.2860], std: [0.3530], augmentation: Augmentation.none,
                  rng: &rng, into: &out)
        #expect(out.count == 2 * 3 * 32 * 32)
        // Padding (0,0), pixel (0,0) -> (2,2), (27,27) -> (29,29), (3,4) -> (5,6); every channel the same.
        for n in 0..<2 {
            for c in 0..<3 {
                let plane = Array(out[(n * 3 + c) * 1024..<((n * 3 + c) * 1024 + 1024)])
                #expect([plane[0], plane[2 * 32 + 2], plane[29 * 32 + 29], plane[5 * 32 + 6]]
                    == [-0x1.9ed252p-1, 0x1.02e69ep+1, 0x1.33f1f2p-2, -0x1.770188p-1])
                #expect(plane.filter { $0 == -0x1.9ed252p-1 }.count == 1024 - 3)
            }
        }
        let firstImage = Array(out.prefix(3072))
        makeBatch(from: fashion, indices: [0], mean: [0.2860], std: [0.3530], augmentation: nil, rng: &rng, into: &out)
        #expect(out == firstImage)  // the buffer shrinks to one image
    }

    /// torchvision's train pipeline written plainly: centre-pad to 32, pad 4 with zeros, crop at
    /// (top, left), flip, Pillow brightness, ToTensor, Normalize, repeat a gray channel.
    static func reference(_ set: ImageSet, _ i: Int, top: Int, left: Int, flip: Bool, factor: Double?,
                          mean: [Float], std: [Float]) -> [Float] {
        let image = Array(set.image(i))
        let oy = (32 - set.height) / 2 + 4, ox = (32 - set.width) / 2 + 4
        var padded = [[[UInt8]]](repeating: [[UInt8]](repeating: [0, 0, 0], count: 40), count: 40)
        for y in 0..<set.height { for x in 0..<set.width { for c in 0..<3 {
            padded[y + oy][x + ox][c] = image[(y * set.width + x) * set.channels + (set.channels == 1 ? 0 : c)]
        } } }
        var out = [Float](repeating: 0, count: 3 * 1024)
        for c in 0..<3 { for y in 0..<32 { for x in 0..<32 {
            var v = padded[top + y][left + (flip ? 31 - x : x)][c]
            if let f = factor {
                let t = Double(v) * f
                v = f <= 1 ? UInt8(t) : (Float(t) >= 255 ? 255 : UInt8(Float(t)))
            }
            out[c * 1024 + y * 32 + x] = (Float(v) / 255 - mean[c]) / std[c]
        } } }
        return out
    }

    /// Draws the parameters exactly as `makeBatch` documents: row offset, column offset, flip, factor.
    static func draws(_ rng: inout MEMORandom, count: Int, brightness: Bool) -> [(Int, Int, Bool, Double?)] {
        (0..<count).map { _ in
            let top = rng.below(9), left = rng.below(9), flip = rng.uniform() < 0.5
            let b = 63.0 / 255.0
            return (top, left, flip, brightness ? (1 - b) + 2 * b * rng.uniform() : nil)
        }
    }

    @Test(arguments: [Augmentation.gray, .cifar])
    func augmentationEqualsTheReferencePipeline(augmentation: Augmentation) {
        let gray = augmentation == .gray
        let (h, w, c) = gray ? (28, 28, 1) : (32, 32, 3)
        let count = 24
        var pixels = [UInt8](repeating: 0, count: count * h * w * c)
        for i in 0..<pixels.count { pixels[i] = UInt8(1 + (i * 7 + i / 97) % 255) }
        let set = ImageSet(pixels: pixels, labels: [Int](repeating: 0, count: count), height: h, width: w, channels: c)
        let mean: [Float] = gray ? [0.2860, 0.2860, 0.2860] : Self.cifar100Mean
        let std: [Float] = gray ? [0.3530, 0.3530, 0.3530] : Self.cifar100Std
        let indices = (0..<count).reversed().map { $0 }
        var rng = MEMORandom(seed: 42)
        var replay = rng
        var out: [Float] = []
        makeBatch(from: set, indices: indices, mean: mean, std: std, augmentation: augmentation, rng: &rng, into: &out)
        let params = Self.draws(&replay, count: count, brightness: !gray)
        #expect(rng.stateWords == replay.stateWords)
        for (n, i) in indices.enumerated() {
            let (top, left, flip, factor) = params[n]
            let expected = Self.reference(set, i, top: top, left: left, flip: flip, factor: factor, mean: mean, std: std)
            #expect(Array(out[(n * 3072)..<((n + 1) * 3072)]) == expected, "image \(n): crop (\(top), \(left)) flip \(flip)")
        }
        // The draws cover the range: several offsets, both flips, factors on both sides of 1.
        #expect(Set(params.map { $0.0 }).count >= 5 && Set(params.map { $0.2 }).count == 2)
        if !gray {
            #expect(params.contains { $0.3! < 0.9 } && params.contains { $0.3! > 1.1 })
            #expect(params.allSatisfy { $0.3! >= 1 - 63.0 / 255 && $0.3! <= 1 + 63.0 / 255 })
        }
    }

    @Test func brightnessTruncatesAndClampsLikePillow() {
        // A constant 230 image: 230 * f is truncated, and clamps at 255 once f >= 255/230 (1.1087).
        let set = ImageSet(pixels: [UInt8](repeating: 230, count: 3072), labels: [0], height: 32, width: 32, channels: 3)
        var rng = MEMORandom(seed: 7)
        var out: [Float] = []
        var seen = Set<Int>()
        for _ in 0..<64 {
            var replay = rng
            makeBatch(from: set, indices: [0], mean: [0, 0, 0], std: [1, 1, 1], augmentation: .cifar, rng: &rng, into: &out)
            let f = Self.draws(&replay, count: 1, brightness: true)[0].3!
            let centre = Int((out[16 * 32 + 16] * 255).rounded())
            #expect(centre == min(255, Int(230 * f)), "factor \(f)")
            seen.insert(centre)
        }
        #expect(seen.contains(255) && seen.contains { $0 < 230 })
    }
}
