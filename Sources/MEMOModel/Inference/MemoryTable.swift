import Foundation

// `memo-infer memory`: what a stage's learner holds (`MemoryReport(checkpoint:)`: parameters of
// the generalized blocks, each specialized block, fc and aux_fc, counted from the checkpoint's
// tensors without BN running statistics; exemplars at their stored size). One checkpoint gives
// `MemoryReport.table`; a run folder one row per stage.

/// The memory of one or more stages, rendered.
public struct MemoryTable: Sendable {
    /// One stage's report.
    public struct Row: Sendable {
        public var stage: Int
        public var report: MemoryReport
    }

    public var rows: [Row]

    public init(rows: [Row]) { self.rows = rows }

    /// One row per checkpoint, in the given order.
    public init(checkpoints: [Checkpoint]) {
        rows = checkpoints.map { Row(stage: $0.stage, report: MemoryReport(checkpoint: $0)) }
    }

    /// "129536" for one block, "2 x 129536" for equal blocks, "a + b" otherwise.
    static func blocks(_ counts: [Int]) -> String {
        guard let first = counts.first else { return "0" }
        if counts.count == 1 { return "\(first)" }
        if counts.allSatisfy({ $0 == first }) { return "\(counts.count) x \(first)" }
        return counts.map(String.init).joined(separator: " + ")
    }

    /// Table: a single stage as `MemoryReport.table` (one line per item), several stages one
    /// row each. CSV and JSON: one record per stage with every count and byte total.
    public func render(_ format: ReportFormat) throws -> String {
        switch format {
        case .table:
            if rows.count == 1 {
                return "stage \(rows[0].stage)\n" + rows[0].report.table
            }
            var table = TextTable(header: ["stage", "generalized", "specialized", "fc", "aux_fc", "parameters",
                                           "param bytes", "exemplars", "exemplar bytes", "total MiB", "model (exemplars)"])
            for row in rows {
                let r = row.report
                table.append(["\(row.stage)", "\(r.generalizedParameters)", Self.blocks(r.specializedParameters),
                              "\(r.fcParameters)", "\(r.auxFCParameters)", "\(r.totalParameters)", "\(r.parameterBytes)",
                              "\(r.exemplarCount)", "\(r.exemplarBytes)", String(format: "%.2f", r.totalMiB),
                              String(format: "%.1f", r.modelInExemplars)])
            }
            return table.text + "parameters at 4 bytes (float32); exemplars at \(rows.first?.report.bytesPerExemplar ?? 0) bytes; "
                + "model = backbone bytes / bytes per exemplar (classifiers excluded)\n"
        case .csv:
            var s = csvLine(["stage", "generalized", "specialized_blocks", "specialized_total", "fc", "aux_fc", "parameters",
                             "parameter_bytes", "exemplars", "bytes_per_exemplar", "exemplar_bytes", "total_bytes",
                             "total_mib", "budget_bytes", "model_in_exemplars"])
            for row in rows {
                let r = row.report
                s += csvLine(["\(row.stage)", "\(r.generalizedParameters)", "\(r.specializedParameters.count)",
                              "\(r.specializedParameters.reduce(0, +))", "\(r.fcParameters)", "\(r.auxFCParameters)",
                              "\(r.totalParameters)", "\(r.parameterBytes)", "\(r.exemplarCount)", "\(r.bytesPerExemplar)",
                              "\(r.exemplarBytes)", "\(r.totalBytes)", String(format: "%.4f", r.totalMiB), "\(r.budgetBytes)",
                              String(format: "%.4f", r.modelInExemplars)])
            }
            return s
        case .json:
            struct Output: Encodable {
                var stage: Int
                var generalized: Int
                var specialized: [Int]
                var fc: Int
                var aux_fc: Int
                var parameters: Int
                var parameter_bytes: Int
                var exemplars: Int
                var bytes_per_exemplar: Int
                var exemplar_bytes: Int
                var total_bytes: Int
                var total_mib: Double
                var budget_bytes: Int
                var model_in_exemplars: Double
            }
            return try prettyJSON(rows.map { row in
                let r = row.report
                return Output(stage: row.stage, generalized: r.generalizedParameters, specialized: r.specializedParameters,
                              fc: r.fcParameters, aux_fc: r.auxFCParameters, parameters: r.totalParameters,
                              parameter_bytes: r.parameterBytes, exemplars: r.exemplarCount,
                              bytes_per_exemplar: r.bytesPerExemplar, exemplar_bytes: r.exemplarBytes,
                              total_bytes: r.totalBytes, total_mib: r.totalMiB, budget_bytes: r.budgetBytes,
                              model_in_exemplars: r.modelInExemplars)
            })
        }
    }
}
