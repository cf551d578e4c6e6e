import Foundation

/// Decoded images of a folder dataset kept between batches, bounded in bytes: at most
/// `byteLimit` bytes of RGB pixels (width x height x 3 per image) are held; inserting past it
/// evicts the least recently used images first. An image larger than the whole limit is not
/// kept; a limit of 0 keeps nothing (every batch decodes its files again).
///
/// What it saves is JPEG decoding only: the random crops of training and the test pipeline's
/// resizing are computed from the decoded image at every use. Safe to use from several threads.
public final class DecodedImageCache: @unchecked Sendable {
    /// The default bound: 512 MiB, about 1,200 decoded ImageNet images of 500x375.
    public static let defaultByteLimit = 512 << 20

    public let byteLimit: Int
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    /// Use counter: an entry's `lastUse` orders eviction.
    private var clock: UInt64 = 0
    private var bytes = 0
    private var statistics = (hits: 0, misses: 0)

    private struct Entry {
        var image: RGBImage
        var lastUse: UInt64
    }

    public init(byteLimit: Int = DecodedImageCache.defaultByteLimit) {
        precondition(byteLimit >= 0, "cache limit must not be negative")
        self.byteLimit = byteLimit
    }

    /// Pixel bytes held now (never more than `byteLimit`).
    public var byteCount: Int { lock.withLock { bytes } }
    /// Images held now.
    public var count: Int { lock.withLock { entries.count } }
    /// Lookups that found their image, and those that did not.
    public var hits: Int { lock.withLock { statistics.hits } }
    public var misses: Int { lock.withLock { statistics.misses } }

    /// The image decoded from `key` (a file path), if held; marks it as just used.
    public func image(_ key: String) -> RGBImage? {
        lock.withLock {
            clock += 1
            guard var entry = entries[key] else {
                statistics.misses += 1
                return nil
            }
            statistics.hits += 1
            entry.lastUse = clock
            entries[key] = entry
            return entry.image
        }
    }

    /// Keeps `image` under `key`, evicting the least recently used images as the bound needs.
    public func insert(_ image: RGBImage, for key: String) {
        let size = image.pixels.count
        guard size <= byteLimit else { return }
        lock.withLock {
            clock += 1
            if let old = entries.removeValue(forKey: key) { bytes -= old.image.pixels.count }
            if bytes + size > byteLimit {
                // Evict oldest first: one sort per eviction round, not per image.
                let oldest = entries.sorted { $0.value.lastUse < $1.value.lastUse }
                for (k, e) in oldest where bytes + size > byteLimit {
                    entries.removeValue(forKey: k)
                    bytes -= e.image.pixels.count
                }
            }
            entries[key] = Entry(image: image, lastUse: clock)
            bytes += size
        }
    }
}
