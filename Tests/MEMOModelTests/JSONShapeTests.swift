import Foundation
import Testing
@testable import MEMOModel

/// The JSON of every memo-infer report on one run: snake_case keys only, the keys of each report
/// pinned (present even when undefined: `null`), numbers with at most 6 decimals, undefined
/// old-class accuracy at stage 0 as `null`.
struct JSONShapeTests {
    /// Every key path ("a.b[].c") of a JSON value.
    static func keyPaths(_ value: Any, prefix: String = "") -> Set<String> {
        switch value {
        case let d as [String: Any]:
            return d.reduce(into: Set<String>()) { out, kv in
                let path = prefix.isEmpty ? kv.key : prefix + "." + kv.key
                out.insert(path)
                out.formUnion(keyPaths(kv.value, prefix: path))
            }
        case let a as [Any]: return a.reduce(into: Set<String>()) { $0.formUnion(keyPaths($1, prefix: prefix + "[]")) }
        default: return []
        }
    }

    static func check(_ json: String, _ what: String) throws -> [String: Any] {
        try #require(try checkAny(json, what) as? [String: Any], "\(what): not an object")
    }

    static func checkAny(_ json: String, _ what: String) throws -> Any {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        for path in keyPaths(object) {
            let key = String(path.split(separator: ".").last!).replacingOccurrences(of: "[]", with: "")
            #expect(key.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(what): key \(path) is not snake_case")
        }
        let long = json.split(whereSeparator: { !"0123456789.-e".contains($0) }).filter { $0.contains(".") && ($0.split(separator: ".").last?.count ?? 0) > 6 }
        #expect(long.isEmpty, "\(what): numbers with more than 6 decimals: \(long.prefix(3))")
        return object
    }

    @Test func everyReportFollowsTheConventions() throws {
        let run = try CheckpointSurgery.untrainedRun.get()
        let checkpoints = try RunFolder.checkpoints(in: run)
        let forgetting = try Self.check(try ForgettingReport(checkpoints: checkpoints, head: .cnn, path: run).render(.json), "forgetting")
        #expect(Set(forgetting.keys) == ["head", "columns", "task_classes", "values", "top1_curve", "average_incremental_accuracy",
                                         "last_accuracy", "forgetting", "final_forgetting", "pycil_forgetting", "pycil_groups",
                                         "pycil_grouped_values", "backward_transfer"])
        let memory = try #require(try Self.checkAny(try MemoryTable(checkpoints: checkpoints).render(.json), "memory") as? [[String: Any]])
        #expect(memory.count == 2 && memory.allSatisfy { Set($0.keys) == Set(memory[0].keys) } && memory[0]["aux_fc"] != nil)
        let auc = try Self.check(try AUCReport(runs: [(run, checkpoints)]).render(.json), "auc")
        #expect(Set(auc.keys) == ["head", "runs", "auc_a", "auc_l"])
        let evaluate = try Self.check(try EvaluateReport.run(checkpoint: checkpoints[0], path: run + "/stage-00.h5",
                                                             dataset: TinyRun.dataset()).render(.json), "evaluate")
        #expect(Set(evaluate.keys) == ["checkpoint", "stage", "backbone", "dataset", "task_sizes", "test_images", "evaluation",
                                       "stored_evaluation", "matches_stored", "cnn_predictions_differing", "nme_predictions_differing"])
        let cnn = try #require((evaluate["evaluation"] as? [String: Any])?["cnn"] as? [String: Any])
        #expect(Set(cnn.keys) == ["top1", "top5", "per_task", "group_keys", "group_accuracies", "old", "new"])
        #expect(cnn["old"] is NSNull, "old-class accuracy at stage 0 is undefined")
        let later = try Self.check(try EvaluateReport.run(checkpoint: checkpoints[1], path: run + "/stage-01.h5",
                                                          dataset: TinyRun.dataset()).render(.json), "evaluate stage 1")
        #expect(((later["evaluation"] as? [String: Any])?["cnn"] as? [String: Any])?["old"] is Double)
    }
}
