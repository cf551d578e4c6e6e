import CMPI
import Foundation

/// The processes of one `mpirun` job (MPI_COMM_WORLD), for data-parallel training.
///
/// A process started without a launcher, or by `mpirun -np 1`, never initialises MPI: it trains
/// exactly as a build without MPI would. Under a launcher with two or more processes, `world`
/// initialises MPI once (MPI_THREAD_FUNNELED: only the thread that initialised it calls MPI;
/// oneDNN's OpenMP threads never do). Every call uses MPI's default error handler, so a failed
/// call or a peer that dies ends the whole job (`mpirun` then kills the other ranks) instead of
/// leaving ranks waiting in a collective.
public final class Communicator {
    public let rank: Int
    public let size: Int
    private var finalized = false

    /// Floats per MPI_Allreduce call: large buckets, a few calls per step, each under MPI's
    /// `int` count limit.
    public static let bucketFloats = 1 << 22

    /// The job's processes when launched by mpirun (or another MPI launcher) with 2 or more of
    /// them; nil otherwise. The first access initialises MPI.
    public static let world: Communicator? = {
        guard let n = launchedSize(), n > 1 else { return nil }
        return Communicator()
    }()

    /// The process count a launcher announced in the environment (Open MPI, MPICH's Hydra,
    /// PMIx launchers), nil when the process was not started by one.
    public static func launchedSize(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"] {
            if let v = env[key], let n = Int(v) { return n }
        }
        return nil
    }

    private init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, memo_mpi_thread_funneled(), &provided)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(memo_mpi_comm_world(), &r)
        MPI_Comm_size(memo_mpi_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
    }

    /// Element-wise sum over all ranks, in place, in buckets of `bucketFloats`.
    public func allreduceSum(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { buf in
            var start = 0
            while start < buf.count {
                let n = min(Communicator.bucketFloats, buf.count - start)
                MPI_Allreduce(memo_mpi_in_place(), buf.baseAddress! + start, Int32(n), memo_mpi_float(), memo_mpi_sum(),
                              memo_mpi_comm_world())
                start += n
            }
        }
    }

    /// Element-wise sum over all ranks of a few counters.
    public func allreduceSum(_ values: inout [Double]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { buf in
            _ = MPI_Allreduce(memo_mpi_in_place(), buf.baseAddress!, n, memo_mpi_double(), memo_mpi_sum(), memo_mpi_comm_world())
        }
    }

    /// Rank 0's values on every rank, in buckets of `bucketFloats`.
    public func broadcast(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { buf in
            var start = 0
            while start < buf.count {
                let n = min(Communicator.bucketFloats, buf.count - start)
                MPI_Bcast(buf.baseAddress! + start, Int32(n), memo_mpi_float(), 0, memo_mpi_comm_world())
                start += n
            }
        }
    }

    /// Rank 0's bytes on every rank (a string's UTF-8, for example).
    public func broadcast(_ bytes: inout [UInt8]) {
        var count = Double(bytes.count)
        withUnsafeMutablePointer(to: &count) { _ = MPI_Bcast($0, 1, memo_mpi_double(), 0, memo_mpi_comm_world()) }
        if rank != 0 { bytes = [UInt8](repeating: 0, count: Int(count)) }
        guard !bytes.isEmpty else { return }
        let n = Int32(bytes.count)
        bytes.withUnsafeMutableBufferPointer { _ = MPI_Bcast($0.baseAddress!, n, memo_mpi_byte(), 0, memo_mpi_comm_world()) }
    }

    /// Waits for every rank.
    public func barrier() { MPI_Barrier(memo_mpi_comm_world()) }

    /// Ends MPI on the success path (every rank must call it before exiting).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Ends every rank of the job with `code` (for an error on one rank).
    public func abort(code: Int32) -> Never {
        MPI_Abort(memo_mpi_comm_world(), code)
        exit(code)
    }
}
