import Foundation
import Testing
@testable import MEMOModel

/// The thread count belongs to the computation, not to the OS thread that happens to run it:
/// scopes nest, concurrent computations keep their own count, and work that moves to another OS
/// thread (whose libgomp count someone else set) computes exactly what it computes in place.
/// Also: which CPU path the engine runs, and that `DNNL_MAX_CPU_ISA` really changes it.
struct EngineThreadsTests {
    @Test func scopesSetTheCountAndNest() {
        #expect(EngineThreads.processDefault >= 1)
        if let text = ProcessInfo.processInfo.environment["OMP_NUM_THREADS"],
           let first = text.split(separator: ",").first.flatMap({ Int($0) }), first > 0 {
            #expect(EngineThreads.processDefault == first, "OMP_NUM_THREADS=\(text)")
        }
        #expect(EngineThreads.current == EngineThreads.processDefault)
        EngineThreads.with(3) {
            #expect(EngineThreads.current == 3)
            EngineThreads.with(1) { #expect(EngineThreads.current == 1) }
            #expect(EngineThreads.current == 3)
            var rng = MEMORandom(seed: 1)
            let conv = Conv2D(inChannels: 16, outChannels: 16, stride: 1, rng: &rng)
            let x = Activation(shape: BatchShape(n: 2, c: 16, h: 4, w: 4), layout: .blocked, precision: .float32)
            _ = conv.forward(x)
            #expect(conv.forwardPrimitiveThreads(for: x) == 3, "a primitive records the count of its creation")
            EngineThreads.with(1) {
                _ = conv.forward(x)
                #expect(conv.forwardPrimitiveThreads(for: x) == 3, "and keeps it")
            }
        }
        #expect(EngineThreads.current == EngineThreads.processDefault)
    }

    @Test func concurrentComputationsKeepTheirOwnCount() async {
        let counts = await withTaskGroup(of: [Int].self) { group in
            for threads in [1, 2, 3, 4] {
                group.addTask {
                    await EngineThreads.with(threads) {
                        var seen: [Int] = []
                        for _ in 0..<20 {
                            await Task.yield()
                            seen.append(EngineThreads.current)
                        }
                        return seen
                    }
                }
            }
            var all: [[Int]] = []
            for await seen in group { all.append(seen) }
            return all
        }
        #expect(Set(counts.map { Set($0) }) == [[1], [2], [3], [4]])
    }

    /// Work moved to another OS thread, one whose libgomp count was left at 1 by earlier work (as
    /// Swift Testing's pool threads are, or an async caller's after a suspension), computes
    /// bitwise what it computes in place at 2 threads: a whole training step done there, and the
    /// second step of a network whose primitives were created on this thread, its backward run
    /// there. Before counts were applied per call, the first ran with 1 thread (primitives take
    /// the creating thread's count), so a resumed run could differ from an uninterrupted one.
    @Test func workThatChangesOSThreadComputesTheSame() throws {
        func firstStepAndForward() -> MEMONetwork {
            let net = ThreadCountTests.network()
            ThreadCountTests.forward(net)
            _ = ThreadCountTests.backward(net)
            ThreadCountTests.forward(net)
            return net
        }
        let stepInPlace = ThreadCountTests.step(forwardThreads: 2, backwardThreads: 2)
        let secondInPlace = EngineThreads.with(2) { ThreadCountTests.backward(firstStepAndForward()) }
        let net = EngineThreads.with(2) { firstStepAndForward() }
        final class Box: @unchecked Sendable { var step, second: ThreadCountTests.Step? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            EngineThreads.apply(1)  // what an earlier user of this thread left behind
            box.step = ThreadCountTests.step(forwardThreads: 2, backwardThreads: 2)
            EngineThreads.apply(1)
            box.second = EngineThreads.with(2) { ThreadCountTests.backward(net) }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        for (what, there, inPlace) in [("a step", box.step, stepInPlace), ("a second backward", box.second, secondInPlace)] {
            let there = try #require(there)
            let sameLogits = there.logits.map(\.bitPattern) == inPlace.logits.map(\.bitPattern)
            #expect(sameLogits, "\(what) on another OS thread: logits differ")
            let differing = inPlace.gradients.keys.filter { inPlace.gradients[$0]!.map(\.bitPattern) != there.gradients[$0]?.map(\.bitPattern) }
            #expect(differing.isEmpty, "\(what) on another OS thread: gradients differ: \(differing.sorted().prefix(5))")
            let sameRunning = there.running == inPlace.running
            #expect(sameRunning, "\(what) on another OS thread: running statistics differ")
        }
    }

    /// The activation layout follows the kernels oneDNN picks: `nChw16c` with AVX-512, `nChw8c`
    /// below it; `DNNL_MAX_CPU_ISA=AVX2` on an AVX-512 machine gives AVX2 kernels on `nChw8c`.
    @Test func theEnginePathMatchesItsISA() {
        let isa = engineISA
        #expect(channelBlock == (isa.hasPrefix("avx512") ? 16 : 8), "\(isa) with nChw\(channelBlock)c")
        var rng = MEMORandom(seed: 1)
        let conv = Conv2D(inChannels: 16, outChannels: 16, stride: 1, rng: &rng)
        let kernel = conv.implementations(for: Activation(shape: BatchShape(n: 2, c: 16, h: 8, w: 8), layout: .blocked, precision: .float32))
        #expect(kernel.hasPrefix("jit:"), "convolution kernel \(kernel) on \(isa): not a JIT kernel")
        if let cap = ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"]?.lowercased(), cap == "avx2" {
            #expect(isa == "avx2" && channelBlock == 8 && kernel.contains("avx2"),
                    "DNNL_MAX_CPU_ISA=AVX2 runs \(kernel) on \(isa) with nChw\(channelBlock)c")
        }
        print("engine: \(engineDescription); convolution kernel \(kernel)")
    }
}
