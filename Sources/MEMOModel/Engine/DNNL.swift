import CDNNL
import Foundation

/// A thin, typed layer over oneDNN's C API (Debian libdnnl 2.6): one CPU engine and stream for
/// the process, primitives that free themselves, and memory descriptors for the two activation
/// layouts the engine uses: plain `nchw` for the network input and oneDNN's blocked `nChw16c`/`nChw8c`
/// (channel blocks of 16 or 8, see `channelBlock`) for every activation after the first convolution, kept from layer to
/// layer so no reorders happen between layers.
///
/// oneDNN runs its own OpenMP thread pool, as many threads as `EngineThreads` says; nothing else
/// in the engine starts threads beside it. All calls are synchronous (the stream is waited on).
@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
    if status != dnnl_success {
        let text = String(cString: dnnl_status2str(status))
        preconditionFailure("oneDNN: \(what()) failed: \(text)")
    }
}

/// The process-wide oneDNN CPU engine and stream. Executions are serialised by `lock`: the
/// stream and OpenMP's pool are shared, and callers on several threads (parallel test suites,
/// an embedding application) must not drive them at once.
final class DNNLContext: @unchecked Sendable {
    static let shared = DNNLContext()
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    let lock = NSLock()
    /// The scratchpad every primitive runs with (oneDNN's "user" scratchpad mode), grown to the
    /// largest a primitive asked for. One buffer serves all: executions are serialised by `lock`.
    /// (oneDNN's own "library" mode keeps a thread-local buffer sized when a primitive is
    /// created, which breaks when it is created on one thread and run on another.)
    private var scratchpad: UnsafeMutableRawPointer?
    private var scratchpadBytes = 0

    /// A scratchpad of at least `bytes`; call with `lock` held.
    func scratchpad(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > scratchpadBytes {
            scratchpad?.deallocate()
            scratchpad = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            scratchpadBytes = bytes
        }
        return scratchpad!
    }

    private init() {
        var e: dnnl_engine_t?
        dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create")
        engine = e!
        var s: dnnl_stream_t?
        dnnlCheck(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        stream = s!
    }
}

/// Channel block of the engine's activation layout: 16 (`nChw16c`) where oneDNN runs AVX-512
/// kernels, 8 (`nChw8c`) on AVX2-only CPUs. Using the block its JIT kernels expect keeps oneDNN
/// off its slow reference implementations.
let channelBlock: Int = {
    let isa = dnnl_get_effective_cpu_isa().rawValue
    let avx512 = dnnl_cpu_isa_avx512_core.rawValue
    return isa & avx512 == avx512 ? 16 : 8
}()

/// The blocked activation format tag for `channelBlock`.
var blockedTag: dnnl_format_tag_t { channelBlock == 16 ? dnnl_nChw16c : dnnl_nChw8c }

/// The instruction set oneDNN's kernels use here (its effective ISA: the CPU's, capped by
/// `DNNL_MAX_CPU_ISA`), by oneDNN's name for it.
public var engineISA: String {
    let names: [(dnnl_cpu_isa_t, String)] = [
        (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
        (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
        (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
        (dnnl_cpu_isa_sse41, "sse41"),
    ]
    let isa = dnnl_get_effective_cpu_isa()
    return names.first { $0.0 == isa }?.1 ?? "isa 0x" + String(isa.rawValue, radix: 16)
}

/// The CPU's model name from /proc/cpuinfo ("unknown CPU" where there is none).
public var cpuModelName: String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
          let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
}

/// The CPU path in one line, for logs, the benchmark and test runs: oneDNN's version, its ISA,
/// the activation layout, the CPU, and the thread count in force.
public var engineDescription: String {
    let v = dnnl_version().pointee
    return "oneDNN \(v.major).\(v.minor).\(v.patch), \(engineISA) kernels on nChw\(channelBlock)c activations, "
        + "\(cpuModelName), \(EngineThreads.current) thread(s)"
}

/// A memory descriptor built from dims and a format tag.
func memoryDesc(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map { Int64($0) }
    dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type, tag), "memory_desc_init \(dims)")
    return md
}

func memoryDescSize(_ md: dnnl_memory_desc_t) -> Int {
    var m = md
    return dnnl_memory_desc_get_size(&m)
}

func memoryDescEqual(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var x = a, y = b
    return dnnl_memory_desc_equal(&x, &y) != 0
}

/// A primitive descriptor and its primitive, destroyed together. Created, and always executed,
/// with the `EngineThreads.current` count of its creation.
/// Work a primitive does on its result before writing it: `sum` adds what the destination held
/// (dst = op(...) + dst), `relu` clamps at zero; applied in order.
enum PostOp: Hashable { case sum, relu }

final class Primitive {
    let pd: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    /// oneDNN threads this primitive was created for and runs with.
    let threads: Int
    /// The scratchpad it needs at execution (0 bytes for most).
    private let scratchpadMD: dnnl_memory_desc_t
    private let scratchpadBytes: Int

    /// Creates from an op descriptor (conv, batch norm, ...). `hint` is the forward primitive
    /// descriptor for backward primitives.
    init<Desc>(_ desc: inout Desc, hint: Primitive? = nil, postOps: [PostOp] = [], what: String) {
        threads = EngineThreads.current
        EngineThreads.apply(threads)
        let attr = Primitive.attributes()
        if !postOps.isEmpty {
            var ops: dnnl_post_ops_t?
            dnnlCheck(dnnl_post_ops_create(&ops), "post_ops_create")
            for op in postOps {
                switch op {
                case .sum: dnnlCheck(dnnl_post_ops_append_sum(ops, 1), "post_ops_append_sum")
                case .relu: dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "post_ops_append_eltwise")
                }
            }
            dnnlCheck(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops")
            dnnl_post_ops_destroy(ops)
        }
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        let status = withUnsafePointer(to: &desc) {
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer($0), attr, DNNLContext.shared.engine, hint?.pd)
        }
        dnnlCheck(status, "primitive_desc_create(\(what))")
        self.pd = pd!
        var p: dnnl_primitive_t?
        dnnlCheck(dnnl_primitive_create(&p, self.pd), "primitive_create(\(what))")
        self.primitive = p!
        scratchpadMD = dnnl_primitive_desc_query_md(self.pd, dnnl_query_scratchpad_md, 0)!.pointee
        scratchpadBytes = memoryDescSize(scratchpadMD)
    }

    /// Attributes every primitive is created with: the scratchpad passed at execution.
    private static func attributes() -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        dnnlCheck(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
        return attr!
    }

    /// A reorder between two memory descriptors.
    init(reorderFrom src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t) {
        threads = EngineThreads.current
        EngineThreads.apply(threads)
        var s = src, d = dst
        let engine = DNNLContext.shared.engine
        let attr = Primitive.attributes()
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, attr), "reorder pd")
        self.pd = pd!
        var p: dnnl_primitive_t?
        dnnlCheck(dnnl_primitive_create(&p, self.pd), "reorder primitive")
        self.primitive = p!
        scratchpadMD = dnnl_primitive_desc_query_md(self.pd, dnnl_query_scratchpad_md, 0)!.pointee
        scratchpadBytes = memoryDescSize(scratchpadMD)
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    func md(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, index)!.pointee
    }

    /// Implementation name chosen by oneDNN (e.g. "jit:avx512_core"), for benchmarks and logs.
    var implementation: String {
        var s: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s)
        return s.map { String(cString: $0) } ?? "?"
    }

    /// Executes with (argument id, memory descriptor, data pointer) triples and waits.
    func execute(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        let ctx = DNNLContext.shared
        var mems: [dnnl_memory_t] = []
        mems.reserveCapacity(args.count)
        var execArgs: [dnnl_exec_arg_t] = []
        execArgs.reserveCapacity(args.count)
        for (arg, md, ptr) in args {
            var m: dnnl_memory_t?
            var desc = md
            dnnlCheck(dnnl_memory_create(&m, &desc, ctx.engine, ptr), "memory_create")
            mems.append(m!)
            execArgs.append(dnnl_exec_arg_t(arg: arg, memory: m!))
        }
        ctx.lock.lock()
        if scratchpadBytes > 0 {
            var m: dnnl_memory_t?
            var desc = scratchpadMD
            dnnlCheck(dnnl_memory_create(&m, &desc, ctx.engine, ctx.scratchpad(bytes: scratchpadBytes)), "memory_create scratchpad")
            mems.append(m!)
            execArgs.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: m!))
        }
        EngineThreads.apply(threads)
        dnnlCheck(dnnl_primitive_execute(primitive, ctx.stream, Int32(execArgs.count), execArgs), "execute")
        dnnlCheck(dnnl_stream_wait(ctx.stream), "stream_wait")
        ctx.lock.unlock()
        for m in mems { dnnl_memory_destroy(m) }
    }
}

/// Row-major single-precision GEMM through oneDNN: C = alpha * op(A) * op(B) + beta * C.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let lock = DNNLContext.shared.lock
    lock.lock()
    defer { lock.unlock() }
    EngineThreads.apply(EngineThreads.current)
    let status = dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                            a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
    dnnlCheck(status, "sgemm \(m)x\(n)x\(k)")
}
