/// A configuration value outside what a run can use: the flag, the value given and what it may be.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var flag: String
    public var value: String
    public var allowed: String

    public init(flag: String, value: String, allowed: String) {
        self.flag = flag
        self.value = value
        self.allowed = allowed
    }

    public var description: String { "\(flag) \(value): \(allowed)" }

    /// A value as a person typed it: whole numbers without ".0".
    static func text(_ value: CustomStringConvertible) -> String {
        if let d = value as? Double, d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        return value.description
    }
}

/// The rules of a configuration, by the flag that sets each value (memo-train's flags; memo-infer
/// applies the same rule to a flag of the same name). Checked once, before any data is read or
/// any folder is touched; `validate(classCount:)` adds what needs the dataset's class count.
extension MEMOConfig {
    public func validate() throws {
        func require(_ ok: Bool, _ flag: String, _ value: CustomStringConvertible, _ allowed: String) throws {
            if !ok { throw ConfigError(flag: flag, value: ConfigError.text(value), allowed: allowed) }
        }
        func positive(_ v: Double) -> Bool { v.isFinite && v > 0 }
        func nonNegative(_ v: Double) -> Bool { v.isFinite && v >= 0 }
        try require(modelName == "memo", "-model", modelName, "only memo is implemented")
        try require(initCls >= 1, "-init", initCls, "must be 1 or more")
        try require(increment >= 1, "-incre", increment, "must be 1 or more")
        try require(memorySize >= 0, "-ms", memorySize, "must be 0 or more")
        if fixedMemory { try require(memoryPerClass >= 1, "--memory_per_class", memoryPerClass, "must be 1 or more with --fixed_memory") }
        if let b = memoryBudgetBytes { try require(b > 0, "--memory-budget", b, "must be more than 0 bytes") }
        try require(seed >= 0, "--seed", seed, "must be 0 or more")
        try require(initEpoch >= 0, "--init_epoch", initEpoch, "must be 0 or more (0: the stage is grown, aligned and evaluated, not trained)")
        try require(epochs >= 0, "--epochs", epochs, "must be 0 or more (0: the stages are grown, aligned and evaluated, not trained)")
        try require(positive(initLR), "--init_lr", initLR, "must be a positive number")
        try require(positive(lrate), "--lrate", lrate, "must be a positive number")
        try require(positive(initLRDecay), "--init_lr_decay", initLRDecay, "must be a positive number")
        try require(positive(lrateDecay), "--lrate_decay", lrateDecay, "must be a positive number")
        try require(nonNegative(initWeightDecay), "--init_weight_decay", initWeightDecay, "must be 0 or a positive number")
        try require(nonNegative(weightDecay), "--weight_decay", weightDecay, "must be 0 or a positive number")
        try require(nonNegative(alphaAux), "--alpha_aux", alphaAux, "must be 0 or a positive number")
        for (flag, list) in [("--init_milestones", initMilestones), ("--milestones", milestones)] {
            let text = list.map(String.init).joined(separator: ",")
            try require(list.allSatisfy { $0 >= 1 } && zip(list, list.dropFirst()).allSatisfy { $0 < $1 }, flag, text,
                        "must be epochs of 1 or more in increasing order")
        }
        try require(batchSize >= 1, "--batch_size", batchSize, "must be 1 or more")
        if let t = tMax { try require(t >= 1, "--t_max", t, "must be 1 or more") }
        if scheduler == .cosine && tMax == nil && epochs > 0 {
            // The reference asserts t_max is set for later stages with cosine.
            throw ConfigError(flag: "--scheduler", value: "cosine", allowed: "needs --t_max for the later stages (as the reference does)")
        }
        try require(evalEvery >= 0, "--eval-every", evalEvery, "must be 0 (never) or more")
        if let n = trainPerClass { try require(n >= 1, "--train-per-class", n, "must be 1 or more") }
        if let n = testPerClass { try require(n >= 1, "--test-per-class", n, "must be 1 or more") }
        if let n = threads { try require(n >= 1, "--threads", n, "must be 1 or more") }
        if let n = imageCacheBytes { try require(n >= 0, "--image-cache", n, "must be 0 bytes (no cache) or more") }
        if case .file(let path) = classOrder { try require(!path.isEmpty, "--class-order", "''", "must name a file") }
    }

    /// `validate()` plus the rules that need the dataset's class count.
    public func validate(classCount: Int) throws {
        try validate()
        if initCls > classCount {
            throw ConfigError(flag: "-init", value: "\(initCls)", allowed: "must be at most the dataset's \(classCount) classes")
        }
        if exemplarsPerClass(classesSeen: classCount) < 1 {
            throw ConfigError(flag: "-ms", value: "\(memorySize)",
                              allowed: "keeps no exemplar per class once all \(classCount) classes are seen (at least \(classCount))")
        }
    }
}

extension MEMOConfig {
    /// memo-train's flag for each configuration field (by its JSON name), for messages.
    public static let flagNames: [String: String] = [
        "dataset": "--dataset", "data_dir": "--data-dir", "train_per_class": "--train-per-class",
        "test_per_class": "--test-per-class", "image_cache_bytes": "--image-cache", "class_order": "--class-order/--no-shuffle", "prefix": "-p",
        "model_name": "-model", "convnet_type": "-net", "init_cls": "-init", "increment": "-incre",
        "memory_size": "-ms", "memory_per_class": "--memory_per_class", "fixed_memory": "--fixed_memory",
        "memory_budget_bytes": "--memory-budget", "seed": "--seed", "init_epoch": "--init_epoch",
        "init_lr": "--init_lr", "init_milestones": "--init_milestones", "init_lr_decay": "--init_lr_decay",
        "init_weight_decay": "--init_weight_decay", "epochs": "--epochs", "lrate": "--lrate",
        "milestones": "--milestones", "lrate_decay": "--lrate_decay", "weight_decay": "--weight_decay",
        "batch_size": "--batch_size", "scheduler": "--scheduler", "t_max": "--t_max", "alpha_aux": "--alpha_aux",
        "train_base": "--train_base", "train_adaptive": "--train_adaptive", "eval_every": "--eval-every",
        "threads": "--threads", "ranks": "mpirun -np", "precision": "--precision", "run_id": "run id",
    ]

    /// A field's value as a person reads it ("unset" for an absent optional; an absent precision
    /// is its default, fp32, so `--precision fp32` on a run recorded without one changes nothing).
    public func fieldText(_ field: String) -> String {
        if field == "precision" { return (precision ?? .float32).rawValue }
        guard let text = (try? MEMOConfig.flatJSON(self))?[field] else { return "unset" }
        return text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
    }
}
