import Foundation

/// A stage checkpoint as a PyTorch state_dict (`memo-infer export`): the reference
/// `AdaptiveNet.state_dict()` with its exact keys (AdaptiveNetKeys), what rebuilding the learner
/// needs as metadata, and the exemplar memory and NME class means as extra tensors under
/// `memo_swift.`, outside the AdaptiveNet keys (load with `strict=True` after dropping them).
///
/// Metadata values are JSON texts (`json.loads` each): `format` ("memo-swift-adaptivenet"),
/// `format_version` (1), `convnet_type`, `task_sizes`, `class_order`, `class_names`,
/// `normalization_mean`, `normalization_std`, `train_base`, `train_adaptive`, `dataset` (the kind:
/// "fashion-mnist", "cifar100", ...), `dataset_name`, `image_shape` ([H, W, C] of the stored
/// images), `stage`, `source_checkpoint` (file name), `config` (the run configuration as
/// stored), `evaluation` (the stage's stored evaluation), `num_batches_tracked` (what those
/// tensors hold, see below).
///
/// memo-swift does not count BatchNorm batches, so every `num_batches_tracked` is written as 0
/// (PyTorch reads the count only with `momentum=None`, which MEMO does not use).
public enum CheckpointExport {
    public static let formatName = "memo-swift-adaptivenet"
    public static let formatVersion = 1
    /// Prefix of the extra tensors (exemplars, class means), outside the AdaptiveNet keys.
    public static let extraPrefix = "memo_swift."
    public static let batchesTrackedNote = "memo-swift does not count BatchNorm batches; written as 0 (PyTorch uses the count only with momentum=None)"

    /// The AdaptiveNet state_dict of a checkpoint's network: every tensor under its reference
    /// key (float32) and each BatchNorm's `num_batches_tracked` (int64 scalar 0).
    public static func adaptiveNetStateDict(_ c: Checkpoint) throws -> [String: StateDictTensor] {
        try adaptiveNetStateDict(backbone: c.backbone, taskSizes: c.taskSizes, tensors: c.tensors)
    }

    /// The AdaptiveNet state_dict of the network of `backbone` and `taskSizes` whose tensors,
    /// by memo-swift name, are `tensors` (each must be there with its shape).
    public static func adaptiveNetStateDict(backbone: Backbone, taskSizes: [Int], tensors: [String: Tensor]) throws
        -> [String: StateDictTensor] {
        var out: [String: StateDictTensor] = [:]
        for e in try AdaptiveNetKeys.expectedEntries(backbone: backbone, taskSizes: taskSizes) {
            guard let name = e.memoSwiftName else {
                out[e.key] = StateDictTensor(int64Scalar: 0)
                continue
            }
            guard let t = tensors[name], t.shape == e.shape else {
                throw CheckpointError.inconsistent(path: "checkpoint", reason: "tensor \(name) missing or of wrong shape")
            }
            out[e.key] = StateDictTensor(float32: t.data, shape: e.shape)
        }
        return out
    }

    /// The whole export: AdaptiveNet tensors, extras and metadata. `sourceFile` names the
    /// checkpoint in the metadata (its file name only).
    public static func stateDict(_ c: Checkpoint, sourceFile: String) throws -> StateDict {
        var tensors = try adaptiveNetStateDict(c)
        let entries = c.memory.entries
        tensors[extraPrefix + "exemplar_images"] = StateDictTensor(dtype: .uint8, shape: [entries.count] + c.imageShape, bytes: c.exemplarImages)
        tensors[extraPrefix + "exemplar_labels"] = int64Tensor(entries.map { Int64($0.label) })
        tensors[extraPrefix + "exemplar_indices"] = int64Tensor(entries.map { Int64($0.index) })
        let width = c.backbone.featureWidth * c.taskSizes.count
        tensors[extraPrefix + "class_means"] = StateDictTensor(float32: c.classMeans.flatMap { $0 }, shape: [c.classMeans.count, width])

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
        let metadata: [String: String] = [
            "format": try json(formatName),
            "format_version": try json(formatVersion),
            "convnet_type": try json(c.backbone.rawValue),
            "task_sizes": try json(c.taskSizes),
            "class_order": try json(c.classOrder),
            "class_names": try json(c.classNames),
            "normalization_mean": try json(c.normalizationMean),
            "normalization_std": try json(c.normalizationStd),
            "train_base": try json(c.config.trainBase),
            "train_adaptive": try json(c.config.trainAdaptive),
            "dataset": try json(c.config.dataset.rawValue),
            "dataset_name": try json(c.datasetName),
            "image_shape": try json(c.imageShape),
            "stage": try json(c.stage),
            "source_checkpoint": try json((sourceFile as NSString).lastPathComponent),
            "config": try json(c.config),
            "evaluation": try json(c.evaluation),
            "num_batches_tracked": try json(batchesTrackedNote),
        ]
        return StateDict(tensors: tensors, metadata: metadata)
    }

    static func int64Tensor(_ values: [Int64]) -> StateDictTensor {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        return StateDictTensor(dtype: .int64, shape: [values.count], bytes: bytes)
    }
}
