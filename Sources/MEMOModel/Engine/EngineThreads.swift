import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The number of threads oneDNN's OpenMP pool uses for a computation.
///
/// libgomp keeps the thread count per OS thread (`omp_set_num_threads` changes the calling
/// thread's count only), while Swift code runs on whatever thread a pool hands it (Swift
/// Testing's parallel suites, an async caller after a suspension). A process-wide "set the thread
/// count" would therefore reach some engine calls and not others, and a primitive created under
/// one count could be executed under another. So the count belongs to the computation:
/// `EngineThreads.with(n) { ... }` makes it `n` for all engine work inside `body` (a task-local
/// value, so concurrent computations keep their own), and outside any such scope it is
/// `processDefault`.
///
/// Every `Primitive` records the count in force when it is created and always executes with it:
/// oneDNN partitions work and sizes scratch space for the creation-time count and supports no
/// other. `sgemm` runs with the count in force at the call. Results are reproducible for a given
/// count; another count sums in another order (float32 rounding differs, see ThreadCountTests).
public enum EngineThreads {
    @TaskLocal static var scoped: Int?

    /// The count where no scope sets one: what libgomp itself starts with (the first value of
    /// `OMP_NUM_THREADS`, else the cores the process may use). Read from libgomp once, on a
    /// thread of its own, so no thread's own setting leaks into it; 1 when libgomp is not loaded.
    public static let processDefault: Int = {
        guard let get = libgomp.getMaxThreads else { return 1 }
        final class Box: @unchecked Sendable { var value: Int32 = 1 }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { box.value = get(); done.signal() }
        thread.start()
        done.wait()
        return max(Int(box.value), 1)
    }()

    /// The count engine work started now uses.
    public static var current: Int { scoped ?? processDefault }

    /// Runs `body` with `count` oneDNN threads for every primitive created and every GEMM run
    /// inside it, whichever OS threads it runs on. Primitives created earlier keep their own count.
    public static func with<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        precondition(count > 0, "EngineThreads.with needs a positive count, got \(count)")
        return try $scoped.withValue(count, operation: body)
    }

    /// `with` for async work: the count follows `body` across suspensions and OS threads.
    public static func with<R>(_ count: Int, _ body: () async throws -> R) async rethrows -> R {
        precondition(count > 0, "EngineThreads.with needs a positive count, got \(count)")
        return try await $scoped.withValue(count, operation: body)
    }

    /// Sets libgomp's count for the calling OS thread, right before a oneDNN call that reads it
    /// (primitive creation, execution, sgemm).
    static func apply(_ count: Int) {
        libgomp.setNumThreads?(Int32(count))
    }

    /// libgomp's entry points, looked up at run time: libgomp is loaded by libdnnl, and linking it
    /// directly would need a development symlink Debian keeps in GCC's private folder.
    private enum libgomp {
        // RTLD_DEFAULT is ((void *) 0) on glibc: search every loaded object.
        static let setNumThreads: (@convention(c) (Int32) -> Void)? =
            dlsym(nil, "omp_set_num_threads").map { unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self) }
        static let getMaxThreads: (@convention(c) () -> Int32)? =
            dlsym(nil, "omp_get_max_threads").map { unsafeBitCast($0, to: (@convention(c) () -> Int32).self) }
    }
}
