import Foundation

/// torchvision's ImageNet transforms on PIL images, as the reference's `iImageNet100`
/// (`utils/data.py`) composes them, byte for byte where no random number is involved:
/// - training: `RandomResizedCrop(224)` (scale (0.08, 1), ratio (3/4, 4/3), bilinear), then
///   `RandomHorizontalFlip()`;
/// - test (evaluation, herding, class means): `Resize(256)` (shorter side to 256, bilinear),
///   then `CenterCrop(224)`.
///
/// Resizing is Pillow's bilinear filter (`resizeBilinear`, byte-identical to Pillow's), which is
/// what torchvision applies to PIL images. The random draws come from `MEMORandom`, not torch's
/// generator: the boxes follow torchvision's distribution, not its sequence.
public struct ImageNetTransforms: Sendable, Equatable {
    /// Output side of both pipelines (`RandomResizedCrop(224)`, `CenterCrop(224)`).
    public var cropSize: Int
    /// Shorter side after the test pipeline's `Resize(256)`.
    public var resizeSize: Int
    /// `RandomResizedCrop`'s range of the crop's area as a fraction of the image's.
    public var scale: ClosedRange<Double>
    /// `RandomResizedCrop`'s range of the crop's aspect ratio (width / height).
    public var ratio: ClosedRange<Double>

    /// The reference's: 224, 256, scale (0.08, 1), ratio (3/4, 4/3).
    public static let reference = ImageNetTransforms(cropSize: 224, resizeSize: 256, scale: 0.08...1, ratio: (3.0 / 4)...(4.0 / 3))

    public init(cropSize: Int, resizeSize: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>) {
        precondition(cropSize > 0 && resizeSize >= cropSize, "crop \(cropSize) within resize \(resizeSize)")
        precondition(scale.lowerBound > 0 && scale.upperBound <= 1 && ratio.lowerBound > 0, "scale in (0, 1], ratio positive")
        self.cropSize = cropSize
        self.resizeSize = resizeSize
        self.scale = scale
        self.ratio = ratio
    }

    /// A crop box: rows `top..<top + height`, columns `left..<left + width`.
    public struct Box: Equatable, Sendable {
        public var top: Int, left: Int, height: Int, width: Int
        public init(top: Int, left: Int, height: Int, width: Int) {
            (self.top, self.left, self.height, self.width) = (top, left, height, width)
        }
    }

    /// `RandomResizedCrop.get_params`: up to 10 attempts of an area fraction uniform in `scale`
    /// and an aspect ratio log-uniform in `ratio`, sides `round(sqrt(area * ratio))` and
    /// `round(sqrt(area / ratio))` (half to even, as Python rounds); the first box that fits is
    /// placed uniformly. Otherwise the central crop of the whole image clamped to `ratio`.
    /// Draws from `rng` per attempt: area, ratio; on success: top, left.
    public func randomBox(width: Int, height: Int, rng: inout MEMORandom) -> Box {
        precondition(width > 0 && height > 0, "an image with pixels")
        let area = Double(width * height)
        let logLow = log(ratio.lowerBound), logHigh = log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * rng.uniform())
            let aspect = exp(logLow + (logHigh - logLow) * rng.uniform())
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.below(height - h + 1)
                let left = rng.below(width - w + 1)
                return Box(top: top, left: left, height: h, width: w)
            }
        }
        return fallbackBox(width: width, height: height)
    }

    /// `RandomResizedCrop`'s fallback after 10 failed attempts: the whole image, or its central
    /// part clamped to the ratio range.
    public func fallbackBox(width: Int, height: Int) -> Box {
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return Box(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }

    /// The training view of a decoded image: `box` cut out (PIL `crop`), resized to
    /// `cropSize` x `cropSize` with Pillow's bilinear filter, mirrored if `flip`.
    public func trainView(_ image: RGBImage, box: Box, flip: Bool) -> RGBImage {
        var out = resizeBilinear(crop(image, box), width: cropSize, height: cropSize)
        if flip { out = mirrored(out) }
        return out
    }

    /// The test view: `Resize(resizeSize)` then `CenterCrop(cropSize)`.
    public func testView(_ image: RGBImage) -> RGBImage {
        centerCrop(resizeShorterSide(image, to: resizeSize), size: cropSize)
    }

    /// torchvision's `Resize(size)` with one number: the shorter side becomes `size`, the longer
    /// `int(size * long / short)` (truncated); an image already of that size is unchanged.
    public static func shorterSideSize(width: Int, height: Int, to size: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        let newLong = Int(Double(size * long) / Double(short))
        return width <= height ? (size, newLong) : (newLong, size)
    }

    func resizeShorterSide(_ image: RGBImage, to size: Int) -> RGBImage {
        let (w, h) = Self.shorterSideSize(width: image.width, height: image.height, to: size)
        return resizeBilinear(image, width: w, height: h)
    }

    /// torchvision's `CenterCrop(size)`: offsets `round((side - size) / 2)`, half to even
    /// (341 - 224 = 117 starts at column 58); an image smaller than `size` is first zero-padded
    /// as torchvision pads it (left/top `(size - side) / 2`, the rest right/bottom).
    public func centerCrop(_ image: RGBImage, size: Int) -> RGBImage {
        var image = image
        if image.width < size || image.height < size {
            let padW = max(size - image.width, 0), padH = max(size - image.height, 0)
            image = pad(image, left: padW / 2, top: padH / 2, width: image.width + padW, height: image.height + padH)
        }
        let top = Int((Double(image.height - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(image.width - size) / 2).rounded(.toNearestOrEven))
        return crop(image, Box(top: top, left: left, height: size, width: size))
    }

    /// PIL `crop` of a box inside the image.
    func crop(_ image: RGBImage, _ box: Box) -> RGBImage {
        precondition(box.top >= 0 && box.left >= 0 && box.top + box.height <= image.height && box.left + box.width <= image.width,
                     "box \(box) inside \(image.width)x\(image.height)")
        if box.top == 0 && box.left == 0 && box.width == image.width && box.height == image.height { return image }
        var out = [UInt8](repeating: 0, count: box.width * box.height * 3)
        let rowBytes = box.width * 3
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<box.height {
                    let from = ((box.top + y) * image.width + box.left) * 3
                    (dst.baseAddress! + y * rowBytes).update(from: src.baseAddress! + from, count: rowBytes)
                }
            }
        }
        return RGBImage(width: box.width, height: box.height, pixels: out)
    }

    private func pad(_ image: RGBImage, left: Int, top: Int, width: Int, height: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<image.height {
            for x in 0..<image.width {
                for c in 0..<3 { out[((y + top) * width + x + left) * 3 + c] = image.pixels[(y * image.width + x) * 3 + c] }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    private func mirrored(_ image: RGBImage) -> RGBImage {
        var out = image.pixels
        let w = image.width
        for y in 0..<image.height {
            for x in 0..<w {
                for c in 0..<3 { out[(y * w + x) * 3 + c] = image.pixels[(y * w + w - 1 - x) * 3 + c] }
            }
        }
        return RGBImage(width: w, height: image.height, pixels: out)
    }
}
