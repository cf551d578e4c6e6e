import Foundation

/// Fills `out` with the normalised network input of `indices` of `set`: `indices.count` x 3 x S
/// x S float32 (NCHW), S = `set.inputSide` (32 for the in-memory datasets, 224 for an
/// ImageNet-style folder), resizing `out` as needed (its capacity is reused between calls).
///
/// Per image of an in-memory set, in torchvision's order:
/// 1. Images smaller than S x S (Fashion-MNIST's 28x28) are centred and zero-padded to S x S
///    (2 pixels each side for 28): padded pixels are 0 in [0, 1] units, before normalisation.
/// 2. With an augmentation: a random S x S crop of the image zero-padded by 4 (offsets uniform
///    in 0...8 per axis), then a horizontal flip with probability 0.5; `.cifar` then multiplies
///    by a brightness factor uniform in [1 - 63/255, 1 + 63/255], truncating and clamping to
///    8 bits as Pillow's `ImageEnhance.Brightness` does.
/// 3. `ToTensor` and `Normalize`: `(v / 255 - mean[c]) / std[c]` in float32, as torch computes it.
/// 4. A one-channel image is repeated into the 3 input channels.
///
/// Random draws per image, from `rng`: row offset, column offset, flip, then (`.cifar`) the
/// brightness factor. Without augmentation `rng` is not used.
///
/// Per image of a file set (`set.files`): the file decoded (through the set's cache), then
/// `.imagenet`'s `RandomResizedCrop` + flip (draws: the box's, `ImageNetTransforms.randomBox`,
/// then the flip) or, without augmentation, `Resize` + `CenterCrop`; then step 3. Files are
/// decoded and transformed on up to `EngineThreads.current` threads; the draws are made in
/// batch order first, so the batch does not depend on the thread count.
/// - Parameters:
///   - set: raw HWC images with 1 or 3 channels, at most S x S, or a file set.
///   - indices: positions in `set`, in batch order.
///   - mean: per input channel (3 values, or 1 used for all).
///   - std: per input channel (3 values, or 1 used for all).
///   - augmentation: `nil` or `.none` for the test pipeline; `.imagenet` only for a file set.
public func makeBatch(from set: ImageSet, indices: [Int], mean: [Float], std: [Float], augmentation: Augmentation?,
                      rng: inout MEMORandom, into out: inout [Float]) {
    let side = set.inputSide, plane = side * side, channels = NetworkInput.channels
    let valuesPerImage = channels * plane
    precondition(set.channels == 1 || set.channels == 3, "images with \(set.channels) channels")
    precondition(set.height <= side && set.width <= side, "images of \(set.height)x\(set.width) exceed \(side)x\(side)")
    precondition((mean.count == 1 || mean.count == channels) && mean.count == std.count, "mean/std per channel")
    let augmentation = augmentation ?? .none
    precondition(set.files == nil ? augmentation != .imagenet : (augmentation == .imagenet || augmentation == .none),
                 "the ImageNet augmentation is for file sets, which take no other")
    let count = indices.count * valuesPerImage
    if out.count > count {
        out.removeLast(out.count - count)
    } else if out.count < count {
        out += repeatElement(0, count: count - out.count)
    }

    // lut[c * 256 + v]: the normalised value of byte v in channel c (torch: x.div(255), sub_, div_).
    let lut = UnsafeMutablePointer<Float>.allocate(capacity: channels * 256)
    defer { lut.deallocate() }
    for c in 0..<channels {
        let m = mean[mean.count == 1 ? 0 : c], s = std[std.count == 1 ? 0 : c]
        for v in 0..<256 { lut[c * 256 + v] = (Float(v) / 255 - m) / s }
    }
    // brightness[v]: byte v after the image's brightness jitter.
    let brightness = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256)
    defer { brightness.deallocate() }
    if let files = set.files {
        out.withUnsafeMutableBufferPointer { out in
            makeFileBatch(files, indices: indices, lut: lut, augmentation: augmentation, rng: &rng, into: out)
        }
        return
    }
    let h = set.height, w = set.width, srcChannels = set.channels
    let top = (side - h) / 2, left = (side - w) / 2
    let padding = 4

    set.pixels.withUnsafeBufferPointer { pixels in
        out.withUnsafeMutableBufferPointer { out in
            for (n, index) in indices.enumerated() {
                precondition(index >= 0 && index < set.count, "image \(index) of \(set.count)")
                // Source row of output row y is y + dy; source column of output column x is
                // (flip ? 31 - x : x) + dx. Outside the image the pixel is 0 (padding).
                var dy = -top, dx = -left, flip = false, jitter = false
                if augmentation.crops {
                    dy += rng.below(2 * padding + 1) - padding
                    dx += rng.below(2 * padding + 1) - padding
                    flip = rng.uniform() < 0.5
                }
                if augmentation.jittersBrightness {
                    let b = Augmentation.brightness
                    fillBrightnessTable(brightness, factor: (1 - b) + 2 * b * rng.uniform())
                    jitter = true
                }
                let src = pixels.baseAddress! + index * set.imageByteCount
                for c in 0..<channels {
                    let table = lut + c * 256
                    let zero = table[0]
                    let sc = srcChannels == 1 ? 0 : c
                    let dst = out.baseAddress! + n * valuesPerImage + c * plane
                    for y in 0..<side {
                        let row = dst + y * side
                        let sy = y + dy
                        guard sy >= 0 && sy < h else {
                            for x in 0..<side { row[x] = zero }
                            continue
                        }
                        let srcRow = src + sy * w * srcChannels + sc
                        for x in 0..<side {
                            let sx = (flip ? side - 1 - x : x) + dx
                            if sx < 0 || sx >= w {
                                row[x] = zero
                            } else {
                                let v = srcRow[sx * srcChannels]
                                row[x] = table[Int(jitter ? brightness[Int(v)] : v)]
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The file-set part of `makeBatch`: decode, draw, transform, normalise through `lut`
/// (`lut[c * 256 + v]`).
private func makeFileBatch(_ files: ImageFiles, indices: [Int], lut: UnsafeMutablePointer<Float>, augmentation: Augmentation,
                           rng: inout MEMORandom, into out: UnsafeMutableBufferPointer<Float>) {
    let transforms = files.transforms, side = transforms.cropSize, plane = side * side
    let n = indices.count
    for index in indices { precondition(index >= 0 && index < files.paths.count, "image \(index) of \(files.paths.count)") }
    var images = [RGBImage?](repeating: nil, count: n)
    images.withUnsafeMutableBufferPointer { images in
        parallelFor(n) { k in images[k] = files.decoded(indices[k]) }
    }
    var boxes = [ImageNetTransforms.Box?](repeating: nil, count: n)
    var flips = [Bool](repeating: false, count: n)
    if augmentation == .imagenet {
        for k in 0..<n {
            guard let image = images[k] else { continue }
            boxes[k] = transforms.randomBox(width: image.width, height: image.height, rng: &rng)
            flips[k] = rng.uniform() < 0.5
        }
    }
    parallelFor(n) { k in
        let dst = out.baseAddress! + k * 3 * plane
        guard let image = images[k] else {
            for c in 0..<3 { (dst + c * plane).update(repeating: lut[c * 256], count: plane) }
            return
        }
        let view = boxes[k].map { transforms.trainView(image, box: $0, flip: flips[k]) } ?? transforms.testView(image)
        view.pixels.withUnsafeBufferPointer { px in
            for c in 0..<3 {
                let table = lut + c * 256, plane_ = dst + c * plane
                for p in 0..<plane { plane_[p] = table[Int(px[p * 3 + c])] }
            }
        }
    }
}

/// Runs `body(0..<n)` on up to `EngineThreads.current` threads, each a contiguous chunk.
private func parallelFor(_ n: Int, _ body: (Int) -> Void) {
    let workers = min(max(EngineThreads.current, 1), n)
    guard workers > 1 else {
        for k in 0..<n { body(k) }
        return
    }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for k in (w * n / workers)..<((w + 1) * n / workers) { body(k) }
        }
    }
}

/// `table[v]` = Pillow's `Image.blend(black, image, factor)` of byte v: computed in double and
/// truncated for factor <= 1; via float, clamped to 255 and truncated above 1.
private func fillBrightnessTable(_ table: UnsafeMutableBufferPointer<UInt8>, factor: Double) {
    for v in 0..<256 {
        let x = Double(v) * factor
        if factor <= 1 {
            table[v] = UInt8(x)
        } else {
            let t = Float(x)
            table[v] = t >= 255 ? 255 : UInt8(t)
        }
    }
}
