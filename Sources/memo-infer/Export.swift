import ArgumentParser
import Foundation
import MEMOCommandLine
import MEMOModel

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a stage checkpoint as a PyTorch state_dict (safetensors).",
        discussion: """
        The tensors carry the reference's AdaptiveNet.state_dict() keys (TaskAgnosticExtractor.*, \
        AdaptiveExtractors.<k>.*, fc, aux_fc; each BatchNorm's num_batches_tracked written as 0, \
        memo-swift does not count batches), so the reference's network or scripts/memo_torch.py \
        load them with load_state_dict(strict=True). The metadata holds what rebuilding needs, as \
        JSON texts (convnet_type, task_sizes, class_order, class_names, normalisation, train_base, \
        train_adaptive, dataset, source_checkpoint, format, format_version); the exemplar memory and \
        the NME class means are extra tensors under memo_swift., outside the AdaptiveNet keys.

        Example:
          memo-infer export --checkpoint run/stage-04.h5 -o stage-04.safetensors
        """)

    @Option(help: "Stage checkpoint (stage-XX.h5).") var checkpoint: String
    @Option(name: .shortAndLong, help: "The safetensors file to write.") var output: String

    func run() throws {
        try checkOutputPath(output, flag: "-o")
        let c = try noted(Checkpoint.read(checkpoint))
        let stateDict = try CheckpointExport.stateDict(c, sourceFile: checkpoint)
        try SafeTensors.write(stateDict, to: output)
        let network = stateDict.tensors.keys.filter { !$0.hasPrefix(CheckpointExport.extraPrefix) }.count
        printError("wrote \(output): \(network) AdaptiveNet tensors (\(c.backbone.rawValue), task sizes \(c.taskSizes)), "
            + "\(c.memory.count) exemplars and \(c.classMeans.count) class means under \(CheckpointExport.extraPrefix)")
    }
}
