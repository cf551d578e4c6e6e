/// The part of a stage checkpoint that classifies images: the grown network with its weights,
/// running statistics and part states, the class names in label order, the stored image format
/// and normalisation, and (when asked for) the NME class means.
///
/// `read` takes only these and the run's configuration from the file: the exemplar memory, the
/// stored evaluation and the training record are not read (of the exemplar images only the shape
/// is looked up), so `memo-infer classify` does no work its answer does not use.
/// What it reads is validated as `Checkpoint.read` validates it, with the same messages: format
/// and version, classes against task sizes, every tensor's shape, and the data checksum of every
/// dataset read (a damaged tensor is refused naming the file and the tensor). Damage to a part it
/// does not read goes unnoticed here; `Checkpoint.read` checks the whole file.
public struct CheckpointModel {
    public var config: MEMOConfig
    public var backbone: Backbone
    public var stage: Int
    public var classNames: [String]
    public var classOrder: [Int]
    public var taskSizes: [Int]
    public var network: MEMONetwork
    /// The stored image format [H, W, C] (the exemplar images' shape without their count).
    public var imageShape: [Int]
    public var normalizationMean: [Float]
    public var normalizationStd: [Float]
    /// One row per class seen; empty when read without them.
    public var classMeans: [[Float]]
    /// As `Checkpoint.notes`: a file without data checksums says so.
    public var notes: [String] = []

    /// The name of model output `label`: `dataset/class_names[class_order[label]]`.
    public func className(label: Int) -> String { classNames[classOrder[label]] }

    /// What classifying needs, taken from a checkpoint already read (its network rebuilt).
    public init(checkpoint c: Checkpoint) throws {
        config = c.config
        backbone = c.backbone
        stage = c.stage
        classNames = c.classNames
        classOrder = c.classOrder
        taskSizes = c.taskSizes
        network = try c.makeNetwork()
        imageShape = c.imageShape
        normalizationMean = c.normalizationMean
        normalizationStd = c.normalizationStd
        classMeans = c.classMeans
        notes = c.notes
    }

    /// Reads the network and what classifying needs from the checkpoint at `path`; the class
    /// means only with `classMeans` (the NME head).
    /// - Throws: `HDF5Error` or `CheckpointError` naming `path`, as `Checkpoint.read`.
    public static func read(_ path: String, classMeans readMeans: Bool) throws -> CheckpointModel {
        let (f, version) = try Checkpoint.openChecked(path)
        defer { f.close() }
        let config = try Checkpoint.readConfig(f, path: path)
        let (backbone, stage, classNames, order, sizes) = try Checkpoint.readClasses(f, path: path)
        let network = try Checkpoint.readNetwork(f, path: path, backbone: backbone, taskSizes: sizes)
        network.precision = Precision.forRebuilt(config.precision)
        let stored = try f.shape(of: "memory/images")
        guard stored.count == 4 else {
            throw CheckpointError.inconsistent(path: path, reason: "memory/images has shape \(stored), expected [count, H, W, C]")
        }
        let classesSeen = sizes.reduce(0, +)
        let means = readMeans
            ? try Checkpoint.readClassMeans(f, classesSeen: classesSeen, width: backbone.featureWidth * sizes.count) : []
        let mean = try f.readFloats("dataset/normalization_mean").values
        let std = try f.readFloats("dataset/normalization_std").values
        var model = CheckpointModel(
            config: config, backbone: backbone, stage: stage, classNames: classNames, classOrder: order, taskSizes: sizes, network: network,
            imageShape: Array(stored.dropFirst()), normalizationMean: mean, normalizationStd: std, classMeans: means)
        if !f.unchecksummedDatasets.isEmpty { model.notes = [Checkpoint.noDataChecksumsNote(path: path, version: version)] }
        return model
    }

    private init(config: MEMOConfig, backbone: Backbone, stage: Int, classNames: [String], classOrder: [Int], taskSizes: [Int],
                 network: MEMONetwork, imageShape: [Int], normalizationMean: [Float], normalizationStd: [Float],
                 classMeans: [[Float]]) {
        self.config = config
        self.backbone = backbone
        self.stage = stage
        self.classNames = classNames
        self.classOrder = classOrder
        self.taskSizes = taskSizes
        self.network = network
        self.imageShape = imageShape
        self.normalizationMean = normalizationMean
        self.normalizationStd = normalizationStd
        self.classMeans = classMeans
    }
}
